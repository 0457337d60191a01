"""Builds the one native piece, the per-block fast path (emu/fastpath.c).

Everything else is declared in pyproject.toml; setuptools needs this file only because
extension modules cannot be declared there yet.
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "bareflow.emu._fastpath",
            sources=["emu/fastpath.c"],
            depends=["emu/fastpath_native.c", "emu/fastpath_ports.c", "emu/fastpath_pmirq.c", "emu/fastpath_paging.c",
                     "emu/fastpath_prices.c", "emu/fastpath_pic.c", "emu/fastpath_table.c",
                     "emu/fastpath_lapic.c", "emu/fastpath_lapictick.c", "emu/fastpath_hpetexp.c"],   # #included by fastpath.c
            extra_compile_args=["-O2", "-std=c11", "-Wall"],
        )
    ]
)
