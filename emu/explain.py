"""The fault explainer: why did the CPU raise this exception, and why could it not deliver it?

A learner who sees "triple fault" learns nothing.  The CPU knows exactly why: the selector it
was asked to load lies beyond the GDT limit, the IDT is too short for the vector, the gate is
not present, the stack segment has no room for the interrupt frame.  This module re-reads the
machine state the CPU used (GDTR, IDTR, the descriptors, SS:ESP, the faulting instruction) and
says the cause in words, shows the descriptor bytes involved and the last instructions executed.

It works in two steps so that it can be tested without a running guest:
* `FaultContext` is a frozen picture of the state at the fault (taken by `FaultWatcher`, which
  wraps the machine's interrupt delivery to see the state *before* the CPU pushed anything);
* `explain(ctx)` turns it into an `Explanation` (a one-line summary first, then the chain,
  the descriptors and the instructions), using only the context's memory reader.

The code is in three modules; this one re-exports their names so that
`from bareflow.emu.explain import ...` keeps working:
* emu/fault_context.py: `FaultContext`, `Explanation`, exception names, instruction decoding;
* emu/fault_causes.py: `explain` and the reasoning behind it;
* emu/fault_watch.py: `FaultWatcher`, `context_from_machine`, `recent_instructions`.
"""
from __future__ import annotations

from .fault_causes import (_dedupe, _describe, _gate_problem, _original_cause, _raw,  # noqa: F401
                           _selector_cause, _where, explain)
from .fault_context import (SEGMENT_REGS, SHORT_NAMES, Explanation, FaultContext, _has_xmm,  # noqa: F401
                            _insn_at, _insn_text, _loaded_segment, _md, _MD, exc_name, hx, vec)
from .fault_watch import (FaultWatcher, _exact_block, _priced_blocks, context_from_machine,  # noqa: F401
                          recent_instructions)
