"""Drives as QEMU's command line gives them: the positional image, --hda..--hdd, --fda/--fdb,
--drive file=...,if=ide|floppy[,index=N][,snapshot=on|off], and the boot order.

Opening is lazy (emu/storage.py): nothing is read but the sectors the guest asks for.  Every
problem is one line (BadArgument exit 2 for a malformed option, BadImage exit 64 for a file).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..devices.base.errors import BadArgument, BadImage
from .storage import SECTOR, BackingStore


@dataclass
class DriveSpec:
    """One drive: `interface` "ide" (index 0..3: primary master/slave, secondary master/slave)
    or "floppy" (index 0..1); `snapshot` None follows the machine's default."""
    file: str
    interface: str = "ide"
    index: int | None = None
    snapshot: bool | None = None
    option: str = "--drive"


def parse_drive(text: str) -> DriveSpec:
    """QEMU's -drive syntax (the keys BareFlow understands: file, if, index, snapshot, format=raw,
    media=disk); anything else is an error naming the key."""
    spec = DriveSpec(file="")
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq:
            if not spec.file and part:
                spec.file = part
                continue
            raise BadArgument(f"--drive {text}: '{part}' is not KEY=VALUE")
        if key == "file":
            spec.file = value
        elif key == "if":
            if value not in ("ide", "floppy"):
                raise BadArgument(f"--drive {text}: if={value}: only ide and floppy are modelled")
            spec.interface = value
        elif key == "index":
            try:
                spec.index = int(value)
            except ValueError:
                raise BadArgument(f"--drive {text}: index={value} is not a number") from None
        elif key == "snapshot":
            if value not in ("on", "off"):
                raise BadArgument(f"--drive {text}: snapshot={value}: on or off")
            spec.snapshot = value == "on"
        elif key == "format":
            if value != "raw":
                raise BadArgument(f"--drive {text}: format={value}: only raw images are supported")
        elif key == "media":
            if value != "disk":
                raise BadArgument(f"--drive {text}: media={value}: only disk is modelled")
        else:
            raise BadArgument(f"--drive {text}: unknown key '{key}'")
    if not spec.file:
        raise BadArgument(f"--drive {text}: no file=")
    limit = 4 if spec.interface == "ide" else 2
    if spec.index is not None and not 0 <= spec.index < limit:
        raise BadArgument(f"--drive {text}: index={spec.index}: {spec.interface} has indexes 0..{limit - 1}")
    return spec


def parse_boot(text: str) -> str:
    """--boot a|c|d or order=LETTERS (QEMU's -boot); returns the order letters."""
    order = text[6:] if text.startswith("order=") else text
    if not order or any(c not in "acd" for c in order):
        raise BadArgument(f"--boot {text}: use letters a (floppy), c (hard disk), d (CD-ROM), e.g. --boot c "
                          "or --boot order=ac")
    return order


def config_specs(config: Any) -> list[DriveSpec]:
    """MachineConfig's QEMU-style conveniences (hda, hdb, fda, drive: what a grading spec's
    [options] names) as DriveSpecs."""
    specs: list[DriveSpec] = []
    for i, name in enumerate(("hda", "hdb")):
        f = getattr(config, name, None)
        if f:
            if i == 0 and config.image not in (None, ""):
                raise BadArgument("hda and a disk IMAGE name the same drive: give one of them")
            specs.append(DriveSpec(file=str(f), interface="ide", index=i, option=f"--{name}"))
    if getattr(config, "fda", None):
        specs.append(DriveSpec(file=str(config.fda), interface="floppy", index=0, option="--fda"))
    for text in getattr(config, "drive", None) or []:
        specs.append(parse_drive(text))
    return specs


def effective_boot_order(config: Any) -> str:
    """`boot_order` letters, else `boot` (QEMU -boot syntax), else "" (QEMU's default)."""
    order = getattr(config, "boot_order", "") or ""
    boot = getattr(config, "boot", None)
    return order or (parse_boot(boot) if boot else "")


class DriveSet:
    """The opened drives: ide[0..3] and floppy[0..1], each a BackingStore or None."""

    def __init__(self) -> None:
        self.ide: list[BackingStore | None] = [None] * 4
        self.floppy: list[BackingStore | None] = [None] * 2

    def close(self) -> None:
        for st in self.ide + self.floppy:
            if st is not None:
                st.close()


def open_image(path: Path, *, snapshot: bool = True, check_boot: bool = True) -> BackingStore:
    """The positional image: lazily opened, with today's one-line checks (empty, shorter than a
    sector, no boot signature) when it is the disk that boots."""
    store = BackingStore.open(path, snapshot=snapshot)
    try:
        if store.size_bytes == 0:
            raise BadImage(f"{path}: the file is empty")
        if check_boot:
            if store.size_bytes < 512:
                raise BadImage(f"{path}: {store.size_bytes} bytes is shorter than one 512-byte sector")
            first = store.read(0, 1)
            if first[510:512] != b"\x55\xaa":
                raise BadImage(f"{path}: the first sector does not end with the boot signature 0x55AA "
                               f"(found {first[510]:02X}{first[511]:02X}), so a BIOS would not boot it")
    except BaseException:
        store.close()
        raise
    return store


def open_drives(config: Any) -> DriveSet:
    """Open the image and every --drive of a MachineConfig (see its fields)."""
    ds = DriveSet()
    snapshot = getattr(config, "snapshot", True)
    order = effective_boot_order(config)
    kernel = getattr(config, "kernel", None)
    specs: list[DriveSpec] = list(getattr(config, "drives", []) or []) + config_specs(config)
    image = config.image
    try:
        if image not in (None, ""):
            as_floppy = config.boot_drive < 0x80          # the legacy "image is drive A:" form
            boots = kernel is None and (not order or order[0] == ("a" if as_floppy else "c"))
            store = open_image(Path(image), snapshot=snapshot, check_boot=boots)
            if as_floppy:
                ds.floppy[0] = store
            else:
                ds.ide[0] = store
        elif not specs and kernel is None:
            raise BadImage("no image given")
        for spec in specs:
            slots = ds.ide if spec.interface == "ide" else ds.floppy
            idx = spec.index if spec.index is not None else next(
                (i for i, s in enumerate(slots) if s is None), None)
            if idx is None:
                raise BadArgument(f"{spec.option} {spec.file}: no free {spec.interface} slot")
            if spec.interface == "floppy" and idx == 1:
                raise BadArgument(f"{spec.option} {spec.file}: floppy drive B: (index 1) is not modelled")
            if slots[idx] is not None:
                raise BadArgument(f"{spec.option} {spec.file}: {spec.interface} index {idx} is already used")
            st = BackingStore.open(spec.file, snapshot=snapshot if spec.snapshot is None else spec.snapshot,
                                   what=f"{spec.option} ")
            if st.size_bytes == 0:
                st.close()
                raise BadImage(f"{spec.option} {spec.file}: the file is empty")
            slots[idx] = st
    except BaseException:
        ds.close()
        raise
    return ds


def drive_set_for(disk: Any, boot_drive: int) -> DriveSet | None:
    """The legacy one-disk form (bytes, a Disk or a BackingStore; None: no drives, no BIOS) as a
    DriveSet: the disk is IDE 0, or floppy A: when the boot drive is < 80h."""
    if disk is None:
        return None
    from .bios.disk import Disk
    store = disk.store if isinstance(disk, Disk) else disk if isinstance(disk, BackingStore) \
        else BackingStore.from_bytes(disk)
    ds = DriveSet()
    if boot_drive < 0x80:
        ds.floppy[0] = store
    else:
        ds.ide[0] = store
    return ds


def identity_source(config: Any, ds: DriveSet) -> tuple[bytes, int]:
    """(first bytes, size) naming the run's price-cache shard: the boot disk, else the kernel."""
    st = ds.ide[0] or ds.floppy[0] or next((s for s in ds.ide + ds.floppy if s is not None), None)
    if getattr(config, "kernel", None):
        try:
            data = Path(config.kernel).read_bytes()
        except OSError:
            data = b""
        return data[:65536], len(data)
    if st is None:
        return b"", 0
    return st[:65536], st.size_bytes


def primary_path(config: Any) -> Path:
    """The file that names the run (symbols beside it, profile, TUI title): the positional image,
    else the kernel, else the first drive."""
    if config.image not in (None, ""):
        return Path(config.image)
    if getattr(config, "kernel", None):
        return Path(config.kernel)
    specs = list(getattr(config, "drives", None) or []) + config_specs(config)
    return Path(specs[0].file) if specs else Path("no-disk")


def bios_disks(ds: DriveSet) -> tuple[list[Any], Any]:
    """The BIOS's view: hard disks 80h, 81h... in ATA order (SeaBIOS numbers them as it finds
    them: primary master, primary slave, secondary master, secondary slave) and drive A:."""
    from .bios.disk import Disk
    hds = [Disk(st) for st in ds.ide if st is not None]
    fd = Disk(ds.floppy[0]) if ds.floppy[0] is not None else None
    return hds, fd


__all__ = ["DriveSpec", "DriveSet", "parse_drive", "parse_boot", "open_drives", "bios_disks", "SECTOR"]


# ---- command line (emu/cli.py calls these two) ----------------------------------------------

def add_drive_arguments(p: Any) -> None:
    """QEMU's drive, boot and reset options (docs/cli.md lists each with its QEMU twin)."""
    g = p.add_argument_group("drives and boot (as QEMU's command line)")
    for i, name in enumerate(("hda", "hdb", "hdc", "hdd")):
        g.add_argument(f"--{name}", metavar="FILE",
                       help=f"raw image as IDE drive {i} ({'primary' if i < 2 else 'secondary'} "
                            f"{'master' if i % 2 == 0 else 'slave'}; QEMU -{name})")
    g.add_argument("--fda", metavar="FILE", help="raw image in floppy drive A: (QEMU -fda; 1.44 MB etc. by size)")
    g.add_argument("--drive", action="append", default=[], metavar="SPEC",
                   help="file=FILE,if=ide|floppy[,index=N][,snapshot=on|off] (QEMU -drive, raw images only)")
    g.add_argument("--boot", metavar="ORDER", help="boot order: a (floppy), c (hard disk), d (CD-ROM), "
                   "or order=LETTERS (QEMU -boot; default c, then a, then d)")
    g.add_argument("--no-snapshot", action="store_true",
                   help="guest disk writes go to the image files (QEMU's default without -snapshot); "
                        "by default they stay in memory and the files never change (QEMU -snapshot)")
    g.add_argument("--kernel", metavar="FILE", help="boot a multiboot ELF kernel or a Linux bzImage "
                   "directly (QEMU -kernel)")
    g.add_argument("--append", metavar="CMDLINE", default="", help="kernel command line (QEMU -append)")
    g.add_argument("--initrd", metavar="FILE", help="initial ramdisk / multiboot module (QEMU -initrd)")


def machine_kwargs(ns: Any) -> dict[str, Any]:
    """MachineConfig fields from the parsed options; one-line BadArgument on a bad combination."""
    specs: list[DriveSpec] = []
    image = getattr(ns, "image", None)
    for i, name in enumerate(("hda", "hdb", "hdc", "hdd")):
        f = getattr(ns, name, None)
        if f is None:
            continue
        if i == 0 and image:
            raise BadArgument("--hda and a positional IMAGE name the same drive: give one of them")
        specs.append(DriveSpec(file=f, interface="ide", index=i, option=f"--{name}"))
    if getattr(ns, "fda", None):
        specs.append(DriveSpec(file=ns.fda, interface="floppy", index=0, option="--fda"))
    for text in getattr(ns, "drive", []) or []:
        specs.append(parse_drive(text))
    kernel = getattr(ns, "kernel", None)
    if not image and not specs and not kernel:
        raise BadArgument("no disk image: give IMAGE, --hda, --fda, --drive or --kernel")
    if (getattr(ns, "append", "") or getattr(ns, "initrd", None)) and not kernel:
        raise BadArgument("--append and --initrd need --kernel (as QEMU's -append/-initrd)")
    order = parse_boot(ns.boot) if getattr(ns, "boot", None) else ""
    return {"image": image or "", "drives": specs, "boot_order": order,
            "snapshot": not getattr(ns, "no_snapshot", False), "kernel": kernel,
            "append": getattr(ns, "append", "") or "", "initrd": getattr(ns, "initrd", None)}
