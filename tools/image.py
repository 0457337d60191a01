"""Build and inspect BareFlow disk images (images/fluid_llama.img).

The layout (docs/disk-layout.md): LBA 0 stage 1 (the MBR), LBA 1 a 512-byte header that says
where everything else is, then stage 2, the kernel (the loadable bytes of tinyllama_bare.elf),
the model blob and the tokenizer, each starting on a sector boundary.

Why a tool and not `cat`: the header must point at each part, carry the kernel's load and
entry addresses from the ELF, place the model above the kernel's BSS, and be checksummed so
stage 2 can refuse a damaged image.  `set-cmdline` rewrites only the header, so the command
line of a committed image can change without a compiler.

Usage:
    python -m bareflow.tools.image show IMG
    python -m bareflow.tools.image set-cmdline IMG "prompt=\"Once upon\" steps=40"
    python -m bareflow.tools.image build -o IMG --stage1 S1 --stage2 S2 --kernel ELF
                                        [--model BIN] [--tokenizer BIN] [--cmdline STR]
Also installed as the `bareflow-image` command.  Stdlib only, so the unikernel Makefile can
run this file by path before the project is installed.
"""
from __future__ import annotations

import argparse
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

SECTOR = 512
MAGIC = b"BFLOWHDR"
VERSION = 1
HEADER_LBA = 1
STAGE2_LBA = 2
STAGE2_MAX_SECTORS = 64          # stage 1 loads stage 2 to 0x8000..0xFFFF
CMDLINE_OFFSET = 128
CMDLINE_MAX = 255                # + the NUL terminator = 256 bytes in the header
CHECKSUM_OFFSET = 64
PART_ALIGN = 4096                # model and tokenizer start on a page boundary in memory
LOW_LIMIT = 0x100000             # stage 2 loads parts only at or above 1 MiB

# Header fields after magic (8 bytes): u16 version, u16 header bytes, then u32 fields.
_FIELDS = (
    "stage2_lba", "stage2_sectors",
    "kernel_lba", "kernel_bytes", "kernel_addr", "kernel_entry", "kernel_end",
    "model_lba", "model_bytes", "model_addr",
    "tok_lba", "tok_bytes", "tok_addr",
    "checksum",
)
_HEADER_STRUCT = struct.Struct("<8sHH" + "I" * len(_FIELDS))
assert _HEADER_STRUCT.size == CHECKSUM_OFFSET + 4


class ImageError(Exception):
    """A problem with the user's input: reported as one line, never a traceback."""


@dataclass
class Header:
    """The disk header at LBA 1 (see docs/disk-layout.md)."""

    stage2_lba: int = 0
    stage2_sectors: int = 0
    kernel_lba: int = 0
    kernel_bytes: int = 0
    kernel_addr: int = 0
    kernel_entry: int = 0
    kernel_end: int = 0
    model_lba: int = 0
    model_bytes: int = 0
    model_addr: int = 0
    tok_lba: int = 0
    tok_bytes: int = 0
    tok_addr: int = 0
    cmdline: str = ""

    def pack(self) -> bytes:
        """The 512-byte sector, with the checksum making its 128 dwords sum to 0."""
        values = [getattr(self, f) for f in _FIELDS[:-1]] + [0]
        raw = bytearray(SECTOR)
        _HEADER_STRUCT.pack_into(raw, 0, MAGIC, VERSION, SECTOR, *values)
        raw[CMDLINE_OFFSET:CMDLINE_OFFSET + CMDLINE_MAX + 1] = encode_cmdline(self.cmdline).ljust(
            CMDLINE_MAX + 1, b"\0")
        total = sum(struct.unpack("<128I", raw)) & 0xFFFFFFFF
        struct.pack_into("<I", raw, CHECKSUM_OFFSET, (-total) & 0xFFFFFFFF)
        return bytes(raw)

    @classmethod
    def unpack(cls, raw: bytes) -> "Header":
        """Parse and validate a header sector; ImageError says what is wrong."""
        if len(raw) < SECTOR:
            raise ImageError("image is too short to hold a BareFlow header (LBA 1)")
        raw = raw[:SECTOR]
        magic, version, size, *values = _HEADER_STRUCT.unpack_from(raw, 0)
        if magic != MAGIC:
            raise ImageError(f"bad header magic {magic!r} at LBA 1 (expected {MAGIC!r})")
        if version != VERSION:
            raise ImageError(f"unsupported header version {version} (this tool knows {VERSION})")
        if size != SECTOR:
            raise ImageError(f"bad header size {size}")
        if sum(struct.unpack("<128I", raw)) & 0xFFFFFFFF:
            raise ImageError("header checksum mismatch (damaged image?)")
        fields = dict(zip(_FIELDS, values))
        fields.pop("checksum")
        text = raw[CMDLINE_OFFSET:CMDLINE_OFFSET + CMDLINE_MAX + 1].split(b"\0", 1)[0]
        return cls(cmdline=text.decode("ascii", "replace"), **fields)


def encode_cmdline(text: str) -> bytes:
    """ASCII, printable, at most 255 bytes: what stage 2 copies and the kernel parses."""
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        raise ImageError("command line must be ASCII") from None
    if len(data) > CMDLINE_MAX:
        raise ImageError(f"command line is {len(data)} bytes; the limit is {CMDLINE_MAX}")
    if any(b < 0x20 or b > 0x7E for b in data):
        raise ImageError("command line may hold only printable characters (no newlines/tabs)")
    return data


def align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


def sectors(nbytes: int) -> int:
    return (nbytes + SECTOR - 1) // SECTOR


def load_elf_image(path: Path) -> tuple[bytes, int, int, int]:
    """(bytes, load address, entry, end of memory incl. BSS) from an ELF32 i386 executable.

    The loadable segments are laid out by physical address into one flat byte string, the way
    `objcopy -O binary` would, so stage 2 only has to copy one blob.
    """
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise ImageError(f"{path}: not a little-endian ELF32 file")
    e_type, e_machine, _, e_entry, e_phoff = struct.unpack_from("<HHIII", data, 16)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 42)
    if e_type != 2 or e_machine != 3:
        raise ImageError(f"{path}: not an i386 executable")
    segs = []
    for i in range(e_phnum):
        p_type, p_offset, _vaddr, p_paddr, p_filesz, p_memsz, _fl, _al = struct.unpack_from(
            "<8I", data, e_phoff + i * e_phentsize)
        if p_type == 1 and p_memsz:
            segs.append((p_paddr, p_offset, p_filesz, p_memsz))
    if not segs:
        raise ImageError(f"{path}: no loadable segments")
    base = min(s[0] for s in segs)
    file_end = max(s[0] + s[2] for s in segs)
    mem_end = max(s[0] + s[3] for s in segs)
    if base < LOW_LIMIT:
        raise ImageError(f"{path}: loads at {base:#x}, below 1 MiB")
    blob = bytearray(file_end - base)
    for paddr, off, filesz, _ in segs:
        blob[paddr - base:paddr - base + filesz] = data[off:off + filesz]
    return bytes(blob), base, e_entry, mem_end


def build(stage1: Path, stage2: Path, kernel: Path, model: Path | None,
          tokenizer: Path | None, cmdline: str) -> bytes:
    """Assemble the whole image.  Deterministic: same inputs, same bytes."""
    mbr = stage1.read_bytes()
    if len(mbr) != SECTOR or mbr[510:] != b"\x55\xaa":
        raise ImageError(f"{stage1}: a boot sector must be 512 bytes ending in 55 AA")
    s2 = stage2.read_bytes()
    if not s2 or sectors(len(s2)) > STAGE2_MAX_SECTORS:
        raise ImageError(f"{stage2}: stage 2 must be 1..{STAGE2_MAX_SECTORS * SECTOR} bytes")
    kbytes, kaddr, kentry, kend = load_elf_image(kernel)
    model_bytes = model.read_bytes() if model else b""
    tok_bytes = tokenizer.read_bytes() if tokenizer else b""

    h = Header(cmdline=cmdline)
    encode_cmdline(cmdline)
    h.stage2_lba, h.stage2_sectors = STAGE2_LBA, sectors(len(s2))
    h.kernel_lba = h.stage2_lba + h.stage2_sectors
    h.kernel_bytes, h.kernel_addr, h.kernel_entry, h.kernel_end = len(kbytes), kaddr, kentry, kend
    next_lba = h.kernel_lba + sectors(len(kbytes))
    next_addr = align(kend, PART_ALIGN)
    if model_bytes:
        h.model_lba, h.model_bytes, h.model_addr = next_lba, len(model_bytes), next_addr
        next_lba += sectors(len(model_bytes))
        next_addr = align(next_addr + len(model_bytes), PART_ALIGN)
    if tok_bytes:
        h.tok_lba, h.tok_bytes, h.tok_addr = next_lba, len(tok_bytes), next_addr
        next_lba += sectors(len(tok_bytes))

    out = bytearray(next_lba * SECTOR)
    out[0:SECTOR] = mbr
    out[HEADER_LBA * SECTOR:(HEADER_LBA + 1) * SECTOR] = h.pack()
    for lba, blob in ((h.stage2_lba, s2), (h.kernel_lba, kbytes),
                      (h.model_lba, model_bytes), (h.tok_lba, tok_bytes)):
        if blob:
            out[lba * SECTOR:lba * SECTOR + len(blob)] = blob
    return bytes(out)


def read_header(img: Path) -> Header:
    try:
        with img.open("rb") as f:
            first = f.read(2 * SECTOR)
    except OSError as e:
        raise ImageError(f"cannot read {img}: {e.strerror}") from None
    if len(first) < 2 * SECTOR:
        raise ImageError(f"{img}: too short to be a BareFlow image")
    if first[510:512] != b"\x55\xaa":
        raise ImageError(f"{img}: no boot signature 55 AA at the end of LBA 0")
    return Header.unpack(first[SECTOR:])


def set_cmdline(img: Path, text: str) -> Header:
    """Rewrite the command line (and checksum) in place; nothing else changes."""
    h = read_header(img)
    h.cmdline = text
    raw = h.pack()
    try:
        with img.open("r+b") as f:
            f.seek(HEADER_LBA * SECTOR)
            f.write(raw)
    except OSError as e:
        raise ImageError(f"cannot write {img}: {e.strerror}") from None
    return h


def describe(h: Header, size: int) -> str:
    rows = [
        f"image size     {size} bytes ({sectors(size)} sectors)",
        f"stage2         LBA {h.stage2_lba}, {h.stage2_sectors} sectors, loaded at 0x8000",
        f"kernel         LBA {h.kernel_lba}, {h.kernel_bytes} bytes -> {h.kernel_addr:#010x}, "
        f"entry {h.kernel_entry:#010x}, end (with BSS) {h.kernel_end:#010x}",
    ]
    for name, lba, n, addr in (("model", h.model_lba, h.model_bytes, h.model_addr),
                               ("tokenizer", h.tok_lba, h.tok_bytes, h.tok_addr)):
        rows.append(f"{name:<14} " + (f"LBA {lba}, {n} bytes -> {addr:#010x}" if n else "absent"))
    rows.append(f"cmdline        {h.cmdline!r}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bareflow-image", description="BareFlow disk image tool")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("show", help="print the disk header")
    s.add_argument("image", type=Path)
    c = sub.add_parser("set-cmdline", help="rewrite the kernel command line in place")
    c.add_argument("image", type=Path)
    c.add_argument("cmdline")
    b = sub.add_parser("build", help="assemble an image from its parts")
    b.add_argument("-o", "--output", type=Path, required=True)
    b.add_argument("--stage1", type=Path, required=True)
    b.add_argument("--stage2", type=Path, required=True)
    b.add_argument("--kernel", type=Path, required=True)
    b.add_argument("--model", type=Path)
    b.add_argument("--tokenizer", type=Path)
    b.add_argument("--cmdline", default="")
    args = p.parse_args(argv)
    try:
        if args.cmd == "show":
            h = read_header(args.image)
            print(describe(h, args.image.stat().st_size))
        elif args.cmd == "set-cmdline":
            h = set_cmdline(args.image, args.cmdline)
            print(f"{args.image}: cmdline set to {h.cmdline!r}")
        else:
            for part in (args.stage1, args.stage2, args.kernel, args.model, args.tokenizer):
                if part is not None and not part.is_file():
                    raise ImageError(f"no such file: {part}")
            img = build(args.stage1, args.stage2, args.kernel, args.model, args.tokenizer,
                        args.cmdline)
            args.output.write_bytes(img)
    except ImageError as e:
        print(f"bareflow-image: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"bareflow-image: error: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
