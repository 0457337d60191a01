"""Running many images: in this process, in local worker processes, or on a Dask cluster.

Each image is one task, `runner.grade_blob(spec_blob, image_bytes, name)`: the spec and the
image travel as bytes, so a worker needs only BareFlow installed (no shared file system).  The
results come back as plain dicts and are put in the order the images were given; since a run
is a pure function of (spec, image), where it ran changes nothing in the report but the wall
time.  The distribution itself is Dask's (or concurrent.futures'): nothing here schedules.
"""
from __future__ import annotations

import multiprocessing
import os
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable

from ..errors import BareflowError
from .runner import grade_blob
from .spec import SpecBlob

Progress = Callable[[int, int, dict[str, Any]], None]


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def read_images(paths: list[str]) -> list[tuple[str, bytes | None, str | None]]:
    """(name, bytes or None, why not) for each image path, as given on the command line."""
    out = []
    for p in paths:
        try:
            out.append((p, Path(p).read_bytes(), None))
        except FileNotFoundError:
            out.append((p, None, f"{p}: no such file"))
        except IsADirectoryError:
            out.append((p, None, f"{p}: is a directory, not a disk image"))
        except OSError as exc:
            out.append((p, None, f"{p}: cannot be read ({exc.strerror or exc})"))
    return out


def unreadable(spec: Any, name: str, why: str) -> dict[str, Any]:
    """The result for an image that could not even be read (same shape as the runner's)."""
    checks = [{"index": s.index, "name": s.name, "kind": s.kind, "status": "not-run", "points": 0.0,
               "max_points": s.points, "cycle": None, "message": f"not run: {why}"} for s in spec.checks]
    return {"image": name, "sha256": None, "status": "error", "error": why, "checks": checks, "points": 0.0,
            "max_points": spec.total_points, "passed": 0, "total": len(checks), "cycles": 0, "instructions": 0,
            "stop": None, "stop_message": "", "exit_status": None, "fault": None, "exceptions": 0,
            "serial_tail": [], "serial_bytes": 0, "serial_sha256": None,
            "first_failure": {"check": spec.checks[0].name, "index": spec.checks[0].index, "cycle": None,
                              "message": why}, "recording": None, "wall_seconds": 0.0}


def _crashed(spec: Any, name: str, data: bytes, exc: BaseException) -> dict[str, Any]:
    """A task that raised: the image gets an error row, the other images keep their grades."""
    import hashlib
    why = str(exc) if isinstance(exc, BareflowError) else \
        f"internal error while grading: {type(exc).__name__}: {exc}"
    r = unreadable(spec, name, why)
    r["sha256"] = hashlib.sha256(data).hexdigest()
    return r


def grade_all(spec: Any, blob: SpecBlob, paths: list[str], *, jobs: int = 1, cluster: str | None = None,
              progress: Progress | None = None, connect_timeout: float = 30.0) -> list[dict[str, Any]]:
    """Grade every image; results in `paths` order."""
    images = read_images(paths)
    results: list[dict[str, Any] | None] = [None] * len(images)
    todo: list[tuple[int, str, bytes]] = []
    done = 0
    for i, (name, data, why) in enumerate(images):
        if data is None:
            results[i] = unreadable(spec, name, why or "unreadable")
            done += 1
            if progress:
                progress(done, len(images), results[i])
        else:
            todo.append((i, name, data))

    def finished(i: int, r: dict[str, Any]) -> None:
        nonlocal done
        results[i] = r
        done += 1
        if progress:
            progress(done, len(images), r)

    if cluster:
        _on_dask(spec, blob, todo, cluster, jobs, finished, connect_timeout)
    elif jobs <= 1 or len(todo) <= 1:
        for i, name, data in todo:
            try:
                r = grade_blob(blob, data, name)
            except Exception as exc:   # a bug of ours must not lose the other images' grades
                r = _crashed(spec, name, data, exc)
            finished(i, r)
    else:
        _on_processes(spec, blob, todo, jobs, finished)
    return [r for r in results if r is not None]


def _on_processes(spec: Any, blob: SpecBlob, todo: list[tuple[int, str, bytes]], jobs: int,
                  finished: Callable[[int, dict[str, Any]], None]) -> None:
    # forkserver: workers are forked from a clean server process that has BareFlow imported
    # already (spawn re-imports it in each worker; a plain fork would copy the caller's threads'
    # locks, e.g. in a test process or a notebook)
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["bareflow.emu.grade.runner"])
    else:
        ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx) as pool:
        futures = {pool.submit(grade_blob, blob, data, name): (i, name, data) for i, name, data in todo}
        for fut in as_completed(futures):
            i, name, data = futures[fut]
            try:
                r = fut.result()
            except Exception as exc:
                r = _crashed(spec, name, data, exc)
            finished(i, r)


def _on_dask(spec: Any, blob: SpecBlob, todo: list[tuple[int, str, bytes]], cluster: str, jobs: int,
             finished: Callable[[int, dict[str, Any]], None], connect_timeout: float) -> None:
    """`--cluster tcp://host:8786` connects to a running scheduler; `--cluster local` starts a
    Dask LocalCluster of `jobs` single-threaded worker processes for this run."""
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise BareflowError("--cluster needs Dask: pip install 'bareflow[cluster]' "
                            "(dask[distributed])") from None
    local = None
    try:
        if cluster == "local":
            local = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                                 dashboard_address=None)
            client = Client(local)
        else:
            try:
                client = Client(cluster, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise BareflowError(f"--cluster {cluster}: cannot reach the Dask scheduler ({exc})") from None
        with client:
            run_id = uuid.uuid4().hex[:12]      # fresh keys: a scheduler may serve several runs
            futures = {}
            spec_on_cluster = client.scatter(blob, broadcast=False)   # sent once, not with every task
            for i, name, data in todo:
                fut = client.submit(grade_blob, spec_on_cluster, data, name, pure=False,
                                    key=f"bareflow-grade-{run_id}-{i}")
                futures[fut.key] = (fut, i, name, data)
            for fut in dask_completed([f for f, *_ in futures.values()]):
                _, i, name, data = futures[fut.key]
                try:
                    r = fut.result()
                except Exception as exc:
                    r = _crashed(spec, name, data, exc)
                finished(i, r)
    finally:
        if local is not None:
            local.close()
