"""The grader's reports: a table for people, JUnit XML for CI systems, JSON for scripts.

All three are built from the same list of per-image results (emu/grade/runner.py), in the
order the images were given, whatever order the workers finished in.  Formats: docs/grading.md.
"""
from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

FORMAT = "bareflow-grade"
VERSION = 1
#: how many COM1 lines the table shows under a failure
TABLE_TAIL = 3


def bareflow_version() -> str:
    try:
        from importlib.metadata import version
        return version("bareflow")
    except Exception:
        return "unknown"


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "images": len(results),
        "passed": sum(r["status"] == "pass" for r in results),
        "failed": sum(r["status"] == "fail" for r in results),
        "errors": sum(r["status"] == "error" for r in results),
        "points": sum(r["points"] for r in results),
        "max_points": sum(r["max_points"] for r in results),
    }


def document(spec: Any, spec_path: str, results: list[dict[str, Any]], *, jobs: int | None,
             cluster: str | None) -> dict[str, Any]:
    images = []
    for r in results:
        r = dict(r)
        r.pop("recording", None)
        images.append(r)
    return {
        "format": FORMAT, "version": VERSION, "bareflow_version": bareflow_version(),
        "spec": {"path": spec_path, "name": spec.name, "sha256": spec.sha256, "points": spec.total_points,
                 "files": {key: hashlib.sha256(data).hexdigest() for key, data in sorted(spec.files.items())},
                 "checks": [{"index": s.index, "name": s.name, "kind": s.kind, "points": s.points}
                            for s in spec.checks]},
        "runner": {"jobs": jobs, "cluster": cluster},
        "summary": summary(results),
        "images": images,
    }


def write_json(path: str | Path, doc: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------ recordings
def recording_name(image: str) -> str:
    """A file name for an image's recording: the path as given, flattened ('a/b.img' -> 'a__b.img')."""
    flat = re.sub(r"[^A-Za-z0-9._-]+", "_", image.replace("/", "__").replace("\\", "__")).strip("._") or "image"
    return f"{flat}.replay.json"


def save_recordings(results: list[dict[str, Any]], image_paths: list[str], directory: Path) -> None:
    """Write each failed image's recording (if any) as `<image>.replay.json` in `directory`;
    the recording names the image's absolute path on this machine, for `bareflow-emu replay`."""
    for r, path in zip(results, image_paths):
        doc = r.get("recording")
        if not doc:
            continue
        doc = dict(doc)
        doc["image"] = str(Path(path).resolve())
        directory.mkdir(parents=True, exist_ok=True)
        out = directory / recording_name(r["image"])
        out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        r["recording_file"] = str(out)


# ------------------------------------------------------------------------------ table
def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _clip_left(text: str, width: int) -> str:
    """Paths lose their start, not their file name."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1:]


def table(spec: Any, results: list[dict[str, Any]], *, width: int | None = None) -> str:
    """One row per image; under a failed one: why, the fault explainer's cause, the last COM1
    lines and the command that reopens the failure."""
    if width is None:
        import shutil
        width = max(80, shutil.get_terminal_size((120, 24)).columns)
    lines = [f"spec {spec.name} (sha256 {spec.sha256[:16]}…), BareFlow {bareflow_version()}, "
             f"{len(spec.checks)} checks, {spec.total_points:g} points"]
    name_w = min(40, max([5] + [len(r["image"]) for r in results]))
    head = f"{'IMAGE':<{name_w}}  {'STATUS':<6}  {'CHECKS':>6}  {'POINTS':>9}  FIRST FAILED CHECK"
    lines += [head, "-" * min(width, max(len(head), 60))]
    rest = max(20, width - len(head) + len("FIRST FAILED CHECK"))
    pad = "    "
    for r in results:
        ff = r.get("first_failure")
        first = f"#{ff['index']} {ff['check']}" if ff else ""
        lines.append(f"{_clip_left(r['image'], name_w):<{name_w}}  {r['status']:<6}  {r['passed']:>2}/{r['total']:<3}  "
                     f"{r['points']:>4g}/{r['max_points']:<4g}  {_clip(first, rest)}".rstrip())
        if r["status"] == "pass":
            continue
        if ff:
            at = f" [cycle {ff['cycle']:,}]" if ff.get("cycle") is not None else ""
            lines.append(f"{pad}why: {_clip(ff['message'] + at, width - 9)}")
        if r.get("fault"):
            lines.append(f"{pad}cause: {_clip(r['fault'], width - 11)}")
        for ln in r.get("serial_tail", [])[-TABLE_TAIL:]:
            lines.append(f"{pad}| {_clip(ln, width - 6)}")
        if r.get("recording_file"):
            lines.append(f"{pad}replay: bareflow-emu replay {r['recording_file']}")
    s = summary(results)
    lines.append(f"{s['passed']} of {s['images']} images passed every check"
                 + (f", {s['failed']} failed" if s["failed"] else "")
                 + (f", {s['errors']} could not run" if s["errors"] else "")
                 + f"; {s['points']:g}/{s['max_points']:g} points")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ JUnit XML
def junit_xml(spec: Any, results: list[dict[str, Any]]) -> bytes:
    """One <testsuite> per image, one <testcase> per check: the layout Jenkins, GitLab and
    GitHub's JUnit readers understand.  A failed check is <failure>; a check the run never
    reached is <failure type="not-run">; an image that could not boot is <error> on each."""
    s = summary(results)
    root = ET.Element("testsuites", name=spec.name, tests=str(s["images"] * len(spec.checks)),
                      failures=str(sum(c["status"] != "pass" for r in results if r["status"] != "error"
                                       for c in r["checks"])),
                      errors=str(sum(len(r["checks"]) for r in results if r["status"] == "error")),
                      time=f"{sum(r.get('wall_seconds', 0.0) for r in results):.3f}")
    version = bareflow_version()
    for r in results:
        failures = sum(c["status"] != "pass" for c in r["checks"]) if r["status"] != "error" else 0
        errors = len(r["checks"]) if r["status"] == "error" else 0
        suite = ET.SubElement(root, "testsuite", name=r["image"], tests=str(len(r["checks"])),
                              failures=str(failures), errors=str(errors), skipped="0",
                              time=f"{r.get('wall_seconds', 0.0):.3f}")
        props = ET.SubElement(suite, "properties")
        for key, value in (("bareflow_version", version), ("spec_sha256", spec.sha256),
                           ("image_sha256", r.get("sha256") or ""), ("cycles", str(r.get("cycles", 0))),
                           ("stop", str(r.get("stop") or "")), ("points", f"{r['points']:g}"),
                           ("max_points", f"{r['max_points']:g}"),
                           ("recording", r.get("recording_file") or "")):
            ET.SubElement(props, "property", name=key, value=value)
        for c in r["checks"]:
            case = ET.SubElement(suite, "testcase", classname=r["image"], name=c["name"], time="0")
            if c["status"] == "pass":
                continue
            tag = "error" if r["status"] == "error" else "failure"
            detail = c["message"]
            if r.get("fault"):
                detail += f"\ncause: {r['fault']}"
            if c.get("cycle") is not None:
                detail += f"\ncycle: {c['cycle']}"
            el = ET.SubElement(case, tag, message=_xml_safe(c["message"]),
                               type="bad-image" if tag == "error" else c["status"])
            el.text = _xml_safe(detail)
        out = ET.SubElement(suite, "system-out")
        out.text = _xml_safe("\n".join(r.get("serial_tail", [])))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    """Guests print control characters XML 1.0 cannot hold: show them as \\xNN."""
    return _BAD_XML.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)
