"""One boot-journey milestone and how it prints.

Split out of emu/journey.py so that the recognisers (emu/journey_realmode.py,
emu/journey_protected.py, emu/journey_kernel.py, emu/privilege.py) and the `Journey` that mixes
them together can all build `Milestone`s without importing each other.  Also holds the small
formatting helpers they share.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CPU_HZ_DEFAULT = 100_000_000


@dataclass
class Milestone:
    """One step of the journey."""

    kind: str
    cycle: int
    icount: int
    title: str
    text: str
    details: list[str] = field(default_factory=list)
    #: --pause-at-milestones stops here (repeats such as the 2nd..nth disk read do not)
    pause: bool = True
    count: int = 1
    #: disk reads: for the summary of a run of reads
    lba: int | None = None
    sectors: int | None = None
    #: symbol milestones: "entry", "kernel" (kmain) or "main" (the program's main)
    role: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "cycle": self.cycle, "icount": self.icount, "title": self.title,
                "text": self.text, "details": list(self.details), "pause": self.pause, "count": self.count,
                "role": self.role}

    def stamp(self, cpu_hz: int = CPU_HZ_DEFAULT) -> str:
        ms = self.cycle * 1000.0 / cpu_hz
        return f"cycle {self.cycle:>12,}  {ms:10.3f} ms"

    def format(self, cpu_hz: int = CPU_HZ_DEFAULT, *, details: bool = True, width: int = 100) -> str:
        lines = [f"[{self.stamp(cpu_hz)}] {self.title}"]
        lines += _wrap(self.text, width, "    ")
        if details:
            lines += [f"      {d}" for d in self.details]
        return "\n".join(lines)


def _wrap(text: str, width: int, indent: str) -> list[str]:
    import textwrap
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent) or [indent]


def _hex(v: int | None) -> str:
    return "?" if v is None else f"{v:#x}"


def _first(fields: dict[str, Any], *names: str) -> Any:
    for n in names:
        if n in fields and fields[n] is not None:
            return fields[n]
    return None


def _disk_run_summary(run: list[Milestone], cpu_hz: int) -> str:
    first, last = run[0], run[-1]
    ms0, ms1 = first.cycle * 1000.0 / cpu_hz, last.cycle * 1000.0 / cpu_hz
    sectors = sum(m.sectors for m in run if m.sectors)
    lbas = [m.lba for m in run if m.lba is not None]
    span = f", LBA {min(lbas)}-{max(lbas)}" if lbas else ""
    return (f"[cycle {first.cycle:>12,} - {last.cycle:,} ({ms0:.3f}-{ms1:.3f} ms)] ... and {len(run)} more disk "
            f"reads ({first.title.split(': ')[0]} to {last.title.split(': ')[0]}){span}, {sectors} sectors "
            f"({sectors * 512 / 1024:.0f} KiB)")
