"""The bottom layer: what every other layer may import and which imports nothing of BareFlow.

`clock` (the deterministic cycle clock, CPU_HZ, PIT_HZ), `errors` (the one-line user errors),
`cp437` (the one code page 437 table).  devices/ import from here, never from `bareflow.emu`,
so the packages form layers: base <- devices <- emu (the machine) <- session <- front ends.
"""
