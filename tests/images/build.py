"""Assemble the nasm test images and run them under qemu-system-i386.

Every test image in this directory is a flat 16-bit nasm source (`*.asm`) that assembles to a
raw bootable disk image (`*.img`).  Tests call `build(name)` to get the image (rebuilt only when
the source or an included file is newer) and `run_qemu(img)` to get the reference transcript:
QEMU + SeaBIOS is the oracle the emulator is compared against, byte for byte.

Command line:  python tests/images/build.py [NAME.asm ...] [-o DIR]   (default: all, build/)
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD_DIR = HERE / "build"

#: QEMU's command line for the differential tests (the issue's reference machine).
QEMU_ARGS = ["-m", "64", "-serial", "stdio", "-display", "none", "-no-reboot",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-monitor", "none"]


class BuildError(Exception):
    """nasm is missing or rejected a source; the message is nasm's own first lines."""


def _inputs(src: Path) -> list[Path]:
    """The source plus every `*.inc` beside it: any of them changing forces a rebuild."""
    return [src, *sorted(HERE.glob("*.inc"))]


def build(name: str | Path, out_dir: Path = BUILD_DIR) -> Path:
    """Assemble `name` (a path, or a file name in this directory) to `out_dir/<stem>.img`."""
    src = Path(name)
    if not src.is_absolute() and not src.exists():
        src = HERE / src
    if src.suffix != ".asm":
        src = src.with_suffix(".asm")
    if not src.is_file():
        raise BuildError(f"no such test image source: {src}")
    nasm = shutil.which("nasm")
    if nasm is None:
        raise BuildError("nasm is not installed (apt-get install nasm)")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / (src.stem + ".img")
    if out.exists() and all(p.stat().st_mtime <= out.stat().st_mtime for p in _inputs(src)):
        return out
    proc = subprocess.run([nasm, "-f", "bin", "-I", f"{src.parent}/", "-o", str(out), str(src)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        out.unlink(missing_ok=True)
        raise BuildError(f"nasm failed on {src.name}: {proc.stderr.strip()[:500]}")
    return out


def run_qemu(img: Path, timeout: float = 20.0, extra: list[str] | None = None,
             floppy: bool = False) -> tuple[bytes, int]:
    """Boot `img` under qemu-system-i386 as the issue's reference machine (as an IDE hard
    disk, or with `floppy=True` as drive A: booted with `-boot a`).

    Returns (COM1 bytes, exit status).  With isa-debug-exit the status is `(value << 1) | 1`.
    """
    qemu = shutil.which("qemu-system-i386")
    if qemu is None:
        raise BuildError("qemu-system-i386 is not installed")
    drive = f"file={img},format=raw,snapshot=on" + (",if=floppy" if floppy else "")
    cmd = [qemu, *QEMU_ARGS, "-drive", drive, *(["-boot", "a"] if floppy else []), *(extra or [])]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return proc.stdout, proc.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="*", help="*.asm files (default: every *.asm here)")
    ap.add_argument("-o", "--out", type=Path, default=BUILD_DIR)
    args = ap.parse_args(argv)
    sources = args.sources or sorted(str(p) for p in HERE.glob("*.asm"))
    try:
        for s in sources:
            print(build(s, args.out))
    except BuildError as err:
        print(f"build.py: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
