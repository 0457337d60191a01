"""Boot-journey recognisers for the real-mode part of a boot.

The BIOS hand-over at 0x7C00, INT 13h disk reads, the E820 memory map, the A20 gate (port 0x92,
the 8042, INT 15h AX=240xh) and the 8259A PIC being reprogrammed: everything the boot code does
before it loads a GDT.  A mixin of `Journey` (emu/journey.py), kept apart so that each boot
phase reads on its own; it relies on the state `Journey._reset_state` sets up and on
`Journey.add`.
"""
from __future__ import annotations

from typing import Any

from .milestone import Milestone, _first


class RealModeMilestones:
    """Journey milestones of the real-mode boot (a mixin of emu/journey.Journey)."""

    def _on_boot(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        if self.milestones:
            self._reset_state()
        if "a20" not in f and self.machine is not None:
            f = dict(f, a20=self.machine.a20)
        cs, eip, dl = f.get("cs", 0), f.get("eip", 0x7C00), f.get("dl", 0x80)
        details = [f"CS:IP = {cs:04x}:{eip:04x} (linear {((cs << 4) + eip):#x}), DL = {dl:#04x} "
                   f"({'hard disk' if dl >= 0x80 else 'floppy'} {dl & 0x7F})"]
        a20 = f.get("a20")
        if a20 is not None:
            self._a20 = bool(a20)
            details.append(f"A20 line at hand-over: {'enabled' if a20 else 'disabled'}"
                           + (" (SeaBIOS and BareFlow's BIOS leave it on)" if a20 else ""))
        self.add(Milestone(
            "handover", cycle, icount, f"BIOS hands over to the boot sector at {cs:04x}:{eip:04x}",
            "The BIOS copied the disk's first 512-byte sector to 0x7C00, checked that it ends with the "
            "signature 0x55AA, and jumped to it in 16-bit real mode with the boot drive number in DL. "
            "From here on every instruction is the image's own code; the BIOS only answers when it is "
            "called through a software interrupt.", details))
        if a20:
            self.add(Milestone(
                "a20", cycle, icount, "A20 already enabled at hand-over (by the BIOS)",
                "Address line 20 is already on: SeaBIOS, and BareFlow's BIOS like it, enable it during POST, so "
                "memory above 1 MiB does not wrap around to 0. A careful boot loader still checks (a wrap-around "
                "test) and knows how to switch it on: port 0x92, the 8042 output port or INT 15h AX=2401h.",
                pause=False))

    def _on_bios(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        """A BIOS service returned (fields: vector, ah, al, bx, cx, dx on entry, ret_ax, cf)."""
        vector = f.get("vector")
        ah = f.get("ah")
        al = f.get("al")
        if vector == 0x13 and ah in (0x02, 0x42):
            self._disk_read(cycle, icount, ah, f if self.machine is not None else dict(f, **self._disk_request(ah, f)))
        elif vector == 0x15 and ah == 0xE8 and al == 0x20:
            self._e820_call(cycle, icount, f)
        elif vector == 0x15 and ah == 0x24 and al in (0, 1) and not f.get("cf"):
            method = "BIOS INT 15h AX=240%dh" % al
            m = self._a20_milestone
            if m is not None and m.cycle == cycle and "unknown method" in m.title:
                m.title = m.title.replace("unknown method", method)
                self._mutations += 1
                m.text = m.text.replace("unknown method", method)
            elif al == 1 and self._a20 is True and (m is None or m.cycle != cycle):
                self.add(Milestone("a20", cycle, icount, f"A20 kept on through {method} (it was already enabled)",
                                   _A20_TEXT.format(method=method)))

    def _disk_request(self, ah: int, f: dict[str, Any]) -> dict[str, Any]:
        """LBA, count and buffer of an INT 13h read: CHS from the registers, or the packet at DS:SI."""
        out: dict[str, Any] = {}
        m = self.machine
        if ah == 0x02:
            cx, dx = f.get("cx", 0), f.get("dx", 0)
            cyl = (cx >> 8) | ((cx & 0xC0) << 2)
            sec = cx & 0x3F
            head = dx >> 8
            out.update(count=f.get("al"), chs=f"{cyl}/{head}/{sec}")
            if m is not None:
                try:
                    _nc, nh, ns = m.disk.lchs
                    out["lba"] = (cyl * nh + head) * ns + sec - 1
                    out["buffer"] = (m.cpu.get("es") << 4) + f.get("bx", 0)
                except Exception:
                    pass
        elif m is not None:
            try:
                dap = (m.cpu.get("ds") << 4) + m.cpu.get("si")
                raw = m.read_mem(dap, 16)
                out["count"] = int.from_bytes(raw[2:4], "little")
                out["buffer"] = (int.from_bytes(raw[6:8], "little") << 4) + int.from_bytes(raw[4:6], "little")
                out["lba"] = int.from_bytes(raw[8:16], "little")
            except Exception:
                pass
        if f.get("cf"):
            out["status"] = (f.get("ret_ax", 0) >> 8) & 0xFF
        return out

    def _e820_entry(self, f: dict[str, Any]) -> dict[str, Any]:
        """The range the BIOS just wrote at ES:DI (live only; the event carries only the index)."""
        m = self.machine
        if m is None or f.get("cf"):
            return {}
        try:
            raw = m.read_mem((m.cpu.get("es") << 4) + m.cpu.get("di"), 20)
        except Exception:
            return {}
        return {"base": int.from_bytes(raw[0:8], "little"), "length": int.from_bytes(raw[8:16], "little"),
                "type": int.from_bytes(raw[16:20], "little")}

    def _disk_read(self, cycle: int, icount: int, ah: int, f: dict[str, Any]) -> None:
        self._disk_reads += 1
        lba = _first(f, "lba")
        count = _first(f, "count", "sectors", "done")
        buf = _first(f, "buffer", "buf", "dest", "addr", "address")
        status = _first(f, "status", "error")
        how = "AH=02h (cylinder/head/sector)" if ah == 0x02 else "AH=42h (extended read by LBA)"
        what = []
        if count is not None:
            what.append(f"{count} sector{'s' if count != 1 else ''}")
        if lba is not None:
            what.append(f"from LBA {lba}")
        if buf is not None:
            what.append(f"to {buf:#x}")
        desc = " ".join(what) if what else "sectors"
        fail = f" - failed (status {status:#x})" if isinstance(status, int) and status else ""
        title = f"Disk read #{self._disk_reads}: INT 13h {how}: {desc}{fail}"
        repeat = self._disk is not None and self.milestones and self.milestones[-1].kind == "disk_read"
        if self._disk is None:
            text = ("The boot code asked the BIOS to copy sectors of the disk into memory: INT 13h AH=02h "
                    "addresses them by cylinder, head and sector, AH=42h by logical block number through a "
                    "disk address packet. Until the OS has a disk driver of its own, the BIOS is the only "
                    "way to load more than the 512-byte boot sector.")
        else:
            text = "Another INT 13h read: the loader brings in the next part of the image."
        details = []
        if f.get("chs"):
            details.append(f"cylinder/head/sector {f['chs']}")
        if f.get("dx") is not None:
            details.append(f"drive {f['dx'] & 0xFF:#04x}")
        m = Milestone("disk_read", cycle, icount, title, text, details, pause=not repeat,
                      lba=lba if isinstance(lba, int) else None, sectors=count if isinstance(count, int) else None)
        self._disk = m
        self.add(m)

    def _e820_call(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        base = _first(f, "base")
        length = _first(f, "length", "size")
        typ = _first(f, "type")
        names = {1: "usable RAM", 2: "reserved", 3: "ACPI reclaimable", 4: "ACPI NVS", 5: "bad memory"}
        entry = None
        if base is not None and length is not None:
            entry = (f"{base:#012x} - {base + length - 1:#012x}  {length / 1024:10.0f} KiB  "
                     f"{names.get(typ, f'type {typ}')}")
        elif f.get("cf"):
            entry = f"a call with EBX = {f.get('bx', 0)} was refused (CF set: bad signature or no such entry)"
        elif f.get("bx") is not None and self.machine is None:
            entry = f"entry {f['bx']} (a trace file does not carry the range)"
        if self._e820 is None or not self.milestones or self.milestones[-1] is not self._e820:
            m = Milestone("e820", cycle, icount, "E820: the BIOS describes the memory map",
                          "INT 15h with EAX=E820h returns one range of the physical address space per call: "
                          "base, length and type (usable RAM, reserved for the BIOS or ACPI). The kernel needs "
                          "this map to know which memory it may use; there is a hole below 1 MiB (video "
                          "memory, ROMs) and reserved ranges near the top of RAM.", [])
            if entry:
                m.details.append(entry)
            self._e820 = m
            self.add(m)
            return
        m = self._e820
        m.count += 1
        self._mutations += 1
        if entry:
            m.details.append(entry)
        m.title = f"E820: the BIOS describes the memory map ({m.count} calls)"

    def _on_io(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        if f.get("dir") != "out":
            return
        port, value = f.get("port"), f.get("value", 0) & 0xFF
        if port in (0x20, 0xA0):
            chip = 0 if port == 0x20 else 1
            if value & 0x10:                      # ICW1: the chip starts its initialisation
                self._icw_expect[chip] = 2
        elif port in (0x21, 0xA1):
            chip = 0 if port == 0x21 else 1
            # a live journey does not watch 0x20/0xA0 (emu/journey.py LIVE_PORTS): the chip
            # said whether this is an ICW2 ("icw2"); a trace's events carry the ICW1 itself
            if f.get("icw2", self._icw_expect[chip] == 2):
                self._icw_expect[chip] = 0
                self._pic_remapped(cycle, icount, chip, value & 0xF8)
        elif port == 0x92:
            if value & 2:
                self._a20_write("port 0x92 (\"fast A20\")", cycle, icount)
        elif port == 0x64:
            self._kbc_cmd = value
            if value == 0xDF:
                self._a20_write("8042 command DFh", cycle, icount)
        elif port == 0x60:
            if self._kbc_cmd == 0xD1 and value & 2:
                self._a20_write("the 8042 keyboard controller's output port (command D1h)", cycle, icount)
            self._kbc_cmd = None

    def _pic_remapped(self, cycle: int, icount: int, chip: int, base: int) -> None:
        old = self._pic_base[chip]
        self._pic_base[chip] = base
        line0 = 0 if chip == 0 else 8
        detail = f"{'master' if chip == 0 else 'slave'} 8259A: IRQ{line0}-{line0 + 7} -> vectors " \
                 f"{base:#04x}-{base + 7:#04x} (was {old:#04x}-{old + 7:#04x})"
        m = self._remap
        if m is not None and self.milestones and self.milestones[-1] is m and len(m.details) < 2:
            m.details.append(detail)
            self._mutations += 1
        else:
            m = Milestone("pic_remap", cycle, icount, "", (
                "The boot code re-initialised the 8259A interrupt controllers (ICW1 to 0x20/0xA0, then "
                "ICW2, the vector base, to 0x21/0xA1). The BIOS maps IRQ0-7 to vectors 8-15, which in "
                "protected mode are CPU exceptions (8 is #DF, 13 is #GP): a timer tick would look like a "
                "double fault. Moving the IRQs past the 32 vectors Intel reserves keeps the two apart."),
                [detail])
            self._remap = m
            self.add(m)
        m.title = "PIC remapped: " + ", ".join(
            f"IRQ{0 if c == 0 else 8}-{7 if c == 0 else 15} -> {self._pic_base[c]:#04x}"
            for c in (0, 1) if any(("master" if c == 0 else "slave") in d for d in m.details))

    def _a20_write(self, method: str, cycle: int, icount: int) -> None:
        if self._a20 is True:
            if not any(m.kind == "a20" and method in m.title for m in self.milestones[-3:]):
                self.add(Milestone("a20", cycle, icount, f"A20 kept on through {method} (it was already enabled)",
                                   _A20_TEXT.format(method=method), pause=True))
            return
        self._a20_pending = (method, cycle)

    def _on_a20(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        enabled = bool(f.get("enabled"))
        self._a20 = enabled
        method = self._a20_pending[0] if self._a20_pending else "unknown method"
        self._a20_pending = None
        if enabled:
            m = Milestone("a20", cycle, icount, f"A20 enabled via {method}", _A20_TEXT.format(method=method))
        else:
            m = Milestone("a20", cycle, icount, f"A20 disabled via {method}",
                          "The A20 gate is closed again: addresses wrap at 1 MiB as on an 8086.")
        self._a20_milestone = m
        self.add(m)


_A20_TEXT = ("On an original PC/AT address line 20 is gated off so that addresses wrap at 1 MiB as on the 8086; "
             "with it off, every odd megabyte aliases the even one below it. The boot code must turn it on before "
             "it loads or runs anything at or above 1 MiB; here it used {method}.")
