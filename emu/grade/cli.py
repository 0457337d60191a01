"""`bareflow-emu test SPEC IMAGE... [-j N] [--junit FILE] [--json FILE] [--cluster ADDRESS]`.

Exit status: 0 when every check of every image passed, 1 when a check failed or an image could
not run, 2 for a bad spec or command line (one line on stderr naming the field).  docs/grading.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from ..errors import BadArgument

EXIT_ALL_PASSED = 0
EXIT_SOME_FAILED = 1


def test_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bareflow-emu test",
        description="Grade disk images against a boot-test spec (TOML, docs/grading.md): every image runs "
                    "the spec's steps with cycle budgets, so a result never depends on the host's speed.")
    p.add_argument("spec", help="the boot-test spec (.toml)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="disk images to grade")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: one per core; with --cluster local, Dask workers)")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testsuite per image)")
    p.add_argument("--json", metavar="FILE", help="write the full report as JSON")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run on a Dask cluster: tcp://scheduler:8786, or 'local' for a Dask LocalCluster")
    p.add_argument("--connect-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long to try to reach the --cluster scheduler (default 30)")
    p.add_argument("--recordings", metavar="DIR",
                   help="where to save a recording of each failed image (default: beside --json, "
                        "else beside --junit, else the current directory)")
    p.add_argument("--no-progress", action="store_true", help="no progress output on stderr")
    p.add_argument("--quiet", action="store_true", help="no table on stdout (the exit status still tells)")
    return p


class ProgressBar:
    """A bar redrawn in place on a terminal; plain lines when stderr is a file or a pipe."""

    def __init__(self, stream: Any = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()

    def __call__(self, done: int, total: int, result: dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = f"{result['image']}: {result['status']} ({result['passed']}/{result['total']} checks)"
        if self.tty:
            width = 30
            filled = width * done // max(1, total)
            rate = done / max(1e-9, time.perf_counter() - self.t0) * 60
            text = f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} images, {rate:.0f}/min  {line}"
            self.stream.write(text[:160].ljust(100))
            if done == total:
                self.stream.write("\n")
        else:
            self.stream.write(f"bareflow-emu test: {done}/{total} {line}\n")
        self.stream.flush()


def main_test(args: Sequence[str]) -> int:
    ns = test_parser().parse_args(list(args))
    from .parallel import default_jobs, grade_all
    from .report import document, junit_xml, save_recordings, table, write_json
    from .spec import load_spec

    if ns.jobs is not None and ns.jobs < 1:
        raise BadArgument(f"-j {ns.jobs}: must be 1 or more")
    spec, blob = load_spec(ns.spec)
    jobs = ns.jobs or default_jobs()
    for out in (ns.junit, ns.json):
        if out and Path(out).is_dir():
            raise BadArgument(f"{out}: is a directory (give a file name)")
    bar = ProgressBar(enabled=not ns.no_progress)
    results = grade_all(spec, blob, ns.images, jobs=jobs, cluster=ns.cluster, progress=bar,
                         connect_timeout=ns.connect_timeout)
    rec_dir = Path(ns.recordings) if ns.recordings else \
        Path(ns.json).parent if ns.json else Path(ns.junit).parent if ns.junit else Path(".")
    try:
        save_recordings(results, ns.images, rec_dir)
        if ns.json:
            write_json(ns.json, document(spec, ns.spec, results, jobs=None if ns.cluster else jobs,
                                         cluster=ns.cluster))
        if ns.junit:
            Path(ns.junit).write_bytes(junit_xml(spec, results))
    except OSError as exc:
        raise BadArgument(f"cannot write {exc.filename}: {exc.strerror or exc}") from None
    if not ns.quiet:
        sys.stdout.write(table(spec, results))
        sys.stdout.flush()
    return EXIT_ALL_PASSED if all(r["status"] == "pass" for r in results) else EXIT_SOME_FAILED
