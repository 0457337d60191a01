"""capstone, loaded the first time it is used.

Why: `import capstone` loads its shared library and the Python modules of all its twenty-odd
architectures (15-25 ms, a tenth of a short run's start-up), and importing `capstone.x86_const`
alone runs that package import too.  A run whose blocks are all in the price cache
(emu/pricecache.py) never decodes an instruction, so the modules that decode (emu/costs.py,
emu/cost_tables.py, emu/special.py, emu/fault_context.py) import these stand-ins instead: each
behaves as the module it names from its first attribute access on.  Only attribute access is
forwarded (`capstone.Cs(...)`, `CX.X86_OP_REG`), which is all those modules use.
"""
from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module `name`, imported at the first attribute read."""

    __slots__ = ("_name", "_module")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:   # only called for names the stand-in lacks
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r} ({state})>"


def loaded() -> bool:
    """Whether capstone has been imported in this process (tests check start-up stays lean)."""
    return "capstone" in sys.modules


capstone = LazyModule("capstone")
CX = LazyModule("capstone.x86_const")
