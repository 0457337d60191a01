"""Which Unicorn library this process runs: PyPI's stock 2.1.4, or the build with BareFlow's
store-path patch that tools/setup.sh makes (tools/unicorn/README.md).

Both give the same cycles, instructions, output and trace (the patch only decides which guest
stores take Unicorn's slow path); the patched one runs store-heavy guests 1.5-3x faster.  The
test is on the library actually loaded (an exported marker function), not on pip's metadata,
so `LIBUNICORN_PATH` or a hand-copied library is reported as what it is.
"""
from __future__ import annotations

import ctypes

#: what tools/unicorn/store-path.patch's `uc_bareflow_store_patch()` returns
PATCH_MARKER = "bareflow-store-path-1"
#: what tools/unicorn/exit-check.patch's `uc_bareflow_exit_check()` returns
EXIT_CHECK_MARKER = "bareflow-exit-check-1"


def _marker(symbol: str) -> str | None:
    from unicorn.unicorn_py3 import unicorn as _ucpy
    fn = getattr(_ucpy.uclib, symbol, None)
    if fn is None:
        return None
    fn.restype = ctypes.c_char_p
    fn.argtypes = []
    return fn().decode()


def store_patch() -> str | None:
    """The loaded library's patch marker (e.g. "bareflow-store-path-1"), None for a stock one."""
    return _marker("uc_bareflow_store_patch")


def exit_check() -> str | None:
    """The exit-check patch's marker ("bareflow-exit-check-1"), None without it."""
    return _marker("uc_bareflow_exit_check")


def describe() -> str:
    """One line: the Unicorn version and whether its store path is patched."""
    import unicorn
    marker = store_patch()
    kind = f"store-path patch ({marker})" if marker else "stock (every guest store on the slow path)"
    if marker and exit_check():
        kind += f" + exit-check patch ({exit_check()})"
    return f"unicorn {unicorn.__version__}, {kind}"


def version_line(prog: str = "bareflow-emu") -> str:
    """`bareflow-emu --version`: this package's version and the engine's."""
    try:
        from importlib.metadata import version
        ours = version("bareflow")
    except Exception:   # not installed as a distribution (a bare checkout on sys.path)
        ours = "(checkout)"
    return f"{prog} {ours}; {describe()}"
