"""The boot-test spec: a TOML file, checked against the schema in docs/grading.md.

A spec is what a teacher writes once for a whole class: machine options (as on the `run`
command line) and steps run in order against every student image.  Everything is checked when
the spec is loaded, before any image runs, and a bad spec is one line naming the field
(`SpecError`, exit 2): a typo must not cost a hundred runs.

A spec travels to worker processes and Dask workers as bytes (`SpecBlob`: the TOML text plus
the files its options name), and is parsed again there, so a worker needs nothing but BareFlow.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BadArgument

#: `within` when a wait or an exit step gives none: 1 s of emulated time at 100 MHz.
DEFAULT_WITHIN = 100_000_000
#: how often a wait on the screen looks at it (cycles): 1 ms emulated; fixed, so deterministic.
SCREEN_POLL = 100_000


class SpecError(BadArgument):
    """A spec that does not follow the schema; the message names the file and the field."""


#: [options] keys -> MachineConfig field.  `run` flags map 1:1 (`--max-cycles` is max_cycles).
#: The drive and direct-kernel options are accepted by the schema and forwarded only when this
#: build's MachineConfig has the field; otherwise the spec is refused with a clear line.
OPTION_FIELDS: dict[str, str] = {
    "memory": "memory_mb", "symbols": "symbols", "boot_drive": "boot_drive",
    "hda": "hda", "hdb": "hdb", "fda": "fda", "boot": "boot", "drive": "drive",
    "kernel": "kernel", "append": "append", "initrd": "initrd", "no_reboot": "no_reboot",
}
#: options whose value is a file: read when the spec is loaded, sent with it to the workers
FILE_OPTIONS = {"symbols", "hda", "hdb", "fda", "kernel", "initrd"}
#: options of the grader itself (not MachineConfig fields)
GRADER_OPTIONS = {"max_cycles", "within"}

CHECK_KINDS = ("wait", "wait_regex", "expect", "expect_regex", "forbid", "forbid_regex", "exit",
               "no_fault", "screen")
ACTION_KINDS = ("send", "type", "scancodes", "run")
STEP_KINDS = CHECK_KINDS + ACTION_KINDS
EXIT_KINDS = ("power-off", "debug-exit", "halt", "idle", "reset", "triple-fault", "any")
#: which keys each kind of step may carry besides its own and `name`
STEP_KEYS: dict[str, set[str]] = {
    "wait": {"on", "within", "points"}, "wait_regex": {"on", "within", "points"},
    "expect": {"on", "points"}, "expect_regex": {"on", "points"},
    "forbid": {"on", "points"}, "forbid_regex": {"on", "points"},
    "exit": {"status", "within", "points"}, "no_fault": {"allow", "points"},
    "screen": {"row", "col", "points"},
    "send": set(), "type": set(), "scancodes": set(), "run": set(),
}


@dataclass(frozen=True)
class Step:
    """One step.  `kind` is the action key; `arg` its value (text, regex source, cycles ...)."""

    index: int                 # 1-based, as in error messages and reports
    kind: str
    arg: Any
    name: str
    points: float = 0.0
    on: str = "serial"         # "serial" (COM1) or "screen" (the VGA text screen)
    within: int | None = None
    status: int | None = None
    row: int | None = None
    col: int | None = None
    allow: tuple[int, ...] = ()

    @property
    def is_check(self) -> bool:
        return self.kind in CHECK_KINDS

    @property
    def regex(self) -> re.Pattern[str] | None:
        return re.compile(self.arg, re.MULTILINE) if self.kind.endswith("_regex") else None


@dataclass
class Spec:
    name: str
    description: str
    options: dict[str, Any]          # [options] as written (paths resolved into `files`)
    steps: list[Step]
    sha256: str                      # of the TOML bytes: the report names it
    max_cycles: int | None = None
    within: int = DEFAULT_WITHIN
    files: dict[str, bytes] = field(default_factory=dict)   # option name -> file content

    @property
    def checks(self) -> list[Step]:
        return [s for s in self.steps if s.is_check]

    @property
    def total_points(self) -> float:
        return sum(s.points for s in self.checks)


@dataclass(frozen=True)
class SpecBlob:
    """What travels to a worker: the spec's bytes and the bytes of every file it names."""

    text: bytes
    origin: str
    files: tuple[tuple[str, bytes], ...] = ()

    def parse(self) -> Spec:
        return parse_spec(self.text, self.origin, files=dict(self.files))


def load_spec(path: str | Path) -> tuple[Spec, SpecBlob]:
    """Read and validate a spec file; read the files its options name (relative to the spec)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    spec = parse_spec(data, str(path), base_dir=p.parent)
    blob = SpecBlob(data, str(path), tuple(sorted(spec.files.items())))
    return spec, blob


def parse_spec(data: bytes, origin: str = "<spec>", *, base_dir: Path | None = None,
               files: dict[str, bytes] | None = None) -> Spec:
    """Parse and validate.  With `base_dir`, file options are read from disk; with `files`,
    they come from the blob (on a worker)."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SpecError(f"{origin}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{origin}: not valid TOML ({exc})") from None
    err = _Err(origin)
    _only(err, doc, {"name", "description", "options", "step"}, "top level")
    name = _str(err, doc.get("name", Path(origin).stem), "name")
    desc = _str(err, doc.get("description", ""), "description")
    opts = doc.get("options", {})
    if not isinstance(opts, dict):
        err("[options] must be a table")
    spec_files: dict[str, bytes] = {}
    options: dict[str, Any] = {}
    known = set(OPTION_FIELDS) | GRADER_OPTIONS
    for key, value in opts.items():
        if key not in known:
            err(f"options.{key}: unknown option (known: {', '.join(sorted(known))})")
        options[key] = _option(err, key, value)
        if key in FILE_OPTIONS:
            spec_files[key] = _file(err, key, value, base_dir, files)
    _check_supported(err, options)
    raw_steps = doc.get("step", [])
    if not isinstance(raw_steps, list) or not raw_steps:
        err("no [[step]] tables: a spec needs at least one step")
    steps = [_step(err, i, s) for i, s in enumerate(raw_steps, 1)]
    if not any(s.is_check for s in steps):
        err("no check among the steps (only actions): nothing would be graded")
    return Spec(name=name, description=desc, options=options, steps=steps,
                sha256=hashlib.sha256(data).hexdigest(), max_cycles=options.get("max_cycles"),
                within=options.get("within", DEFAULT_WITHIN), files=spec_files)


def machine_kwargs(spec: Spec, file_paths: dict[str, Path]) -> dict[str, Any]:
    """MachineConfig keyword arguments for the spec's [options] (file options -> local paths)."""
    kw: dict[str, Any] = {}
    for key, value in spec.options.items():
        if key in GRADER_OPTIONS:
            continue
        kw[OPTION_FIELDS[key]] = str(file_paths[key]) if key in FILE_OPTIONS else value
    return kw


# ---------------------------------------------------------------------------- validation
class _Err:
    def __init__(self, origin: str) -> None:
        self.origin = origin

    def __call__(self, message: str) -> None:
        raise SpecError(f"{self.origin}: {message}")


def _only(err: _Err, table: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            err(f"{where}: unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")


def _str(err: _Err, value: Any, where: str) -> str:
    if not isinstance(value, str):
        err(f"{where} must be a string, not {type(value).__name__}")
    return value


def _cycles(err: _Err, value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        err(f"{where} must be a positive whole number of cycles (e.g. 50_000_000), not {value!r}")
    return value


def _option(err: _Err, key: str, value: Any) -> Any:
    where = f"options.{key}"
    if key == "memory":
        if isinstance(value, str):
            from ..cli import parse_memory
            try:
                value = parse_memory(value)
            except Exception:
                err(f"{where}: '{value}' is not a size in MiB (e.g. 64 or \"64M\" or \"1G\")")
        if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 3072:
            err(f"{where} must be a number of MiB between 2 and 3072, not {value!r}")
        return value
    if key in ("max_cycles", "within"):
        return _cycles(err, value, where)
    if key == "boot_drive":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
            err(f"{where} must be a BIOS drive number 0..0xFF, not {value!r}")
        return value
    if key == "no_reboot":
        if not isinstance(value, bool):
            err(f"{where} must be true or false")
        return value
    if key == "drive":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            err(f"{where} must be a string or a list of strings (as --drive)")
        return value
    return _str(err, value, where)


def _file(err: _Err, key: str, value: str, base_dir: Path | None, files: dict[str, bytes] | None) -> bytes:
    if files is not None:
        if key not in files:
            err(f"options.{key}: the file {value!r} was not sent with the spec")
        return files[key]
    path = Path(value)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        return path.read_bytes()
    except OSError as exc:
        err(f"options.{key}: cannot read {path} ({exc.strerror or exc})")
    raise AssertionError


def _check_supported(err: _Err, options: dict[str, Any]) -> None:
    from ..machine import MachineConfig
    have = {f.name for f in dataclasses.fields(MachineConfig)}
    for key in options:
        if key in OPTION_FIELDS and OPTION_FIELDS[key] not in have:
            err(f"options.{key}: not supported by this build of BareFlow (its run command has no --{key.replace('_', '-')})")


def _step(err: _Err, i: int, s: Any) -> Step:
    where = f"step {i}"
    if not isinstance(s, dict):
        err(f"{where}: must be a table ([[step]])")
    kinds = [k for k in s if k in STEP_KINDS]
    if len(kinds) != 1:
        err(f"{where}: needs exactly one of {', '.join(STEP_KINDS)} (found {', '.join(kinds) or 'none'})")
    kind = kinds[0]
    where = f"step {i} ({kind})"
    _only(err, s, {kind, "name"} | STEP_KEYS[kind], where)
    arg = s[kind]
    kw: dict[str, Any] = {}
    if kind in ("wait", "expect", "forbid", "send", "type", "screen"):
        arg = _str(err, arg, f"{where}: '{kind}'")
        if not arg:
            err(f"{where}: '{kind}' is empty")
    elif kind.endswith("_regex"):
        arg = _str(err, arg, f"{where}: '{kind}'")
        try:
            re.compile(arg, re.MULTILINE)
        except re.error as exc:
            err(f"{where}: '{kind}' is not a valid regular expression ({exc})")
    elif kind == "scancodes":
        if not isinstance(arg, list) or not arg or not all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 0xFF for c in arg):
            err(f"{where}: 'scancodes' must be a non-empty list of bytes (set-1 make and break codes)")
    elif kind == "run":
        arg = _cycles(err, arg, f"{where}: 'run'")
    elif kind == "exit":
        if arg not in EXIT_KINDS:
            err(f"{where}: 'exit' must be one of {', '.join(EXIT_KINDS)}, not {arg!r}")
    elif kind == "no_fault":
        if arg is not True:
            err(f"{where}: 'no_fault' must be true")
    if kind == "type":
        from ...devices.scancodes import char_to_set1
        for ch in arg:
            try:
                char_to_set1(ch)
            except ValueError:
                err(f"{where}: no key on a US keyboard types {ch!r} (use ASCII; \\n is Enter)")
    if kind == "send":
        try:
            arg.encode("latin-1")
        except UnicodeEncodeError:
            err(f"{where}: 'send' holds a character above U+00FF (it is sent as bytes, one per character)")
    if "on" in s:
        if s["on"] not in ("serial", "screen"):
            err(f"{where}: 'on' must be \"serial\" or \"screen\", not {s['on']!r}")
        kw["on"] = s["on"]
    if "within" in s:
        kw["within"] = _cycles(err, s["within"], f"{where}: 'within'")
    if "status" in s:
        if isinstance(s["status"], bool) or not isinstance(s["status"], int) or not 0 <= s["status"] <= 255:
            err(f"{where}: 'status' must be an exit status 0..255")
        if arg not in ("debug-exit", "power-off", "any"):
            err(f"{where}: 'status' only goes with exit = \"debug-exit\", \"power-off\" or \"any\"")
        kw["status"] = s["status"]
    if kind == "screen":
        for key, top in (("row", 24), ("col", 79)):
            v = s.get(key)
            if v is None:
                err(f"{where}: '{key}' is required (0..{top})")
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top:
                err(f"{where}: '{key}' must be 0..{top}, not {v!r}")
            kw[key] = v
        if kw["col"] + len(arg) > 80:
            err(f"{where}: the text runs past column 79")
    if "allow" in s:
        a = s["allow"]
        if not isinstance(a, list) or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 32
                                              for v in a):
            err(f"{where}: 'allow' must be a list of exception vectors 0..31 (e.g. [14] for #PF)")
        kw["allow"] = tuple(a)
    points = 0.0
    if kind in CHECK_KINDS:
        p = s.get("points", 1)
        if isinstance(p, bool) or not isinstance(p, (int, float)) or p < 0:
            err(f"{where}: 'points' must be a number >= 0, not {p!r}")
        points = float(p)
    name = _str(err, s.get("name", _default_name(kind, arg, kw)), f"{where}: 'name'")
    return Step(index=i, kind=kind, arg=arg, name=name, points=points, **kw)


def _default_name(kind: str, arg: Any, kw: dict[str, Any]) -> str:
    on = "the screen" if kw.get("on") == "screen" else "COM1"
    return {
        "wait": f"wait for {arg!r} on {on}", "wait_regex": f"wait for /{arg}/ on {on}",
        "expect": f"{arg!r} on {on}", "expect_regex": f"/{arg}/ on {on}",
        "forbid": f"no {arg!r} on {on}", "forbid_regex": f"no /{arg}/ on {on}",
        "exit": f"ends with {arg}" + (f" status {kw['status']}" if "status" in kw else ""),
        "no_fault": "no exception", "screen": f"screen {arg!r} at row {kw.get('row')} col {kw.get('col')}",
        "send": f"send {arg!r}", "type": f"type {arg!r}", "scancodes": "press keys", "run": f"run {arg} cycles",
    }[kind]
