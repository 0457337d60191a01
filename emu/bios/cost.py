"""The BIOS services' cycle cost model (documented in docs/bios.md).

A Python service runs in zero guest time, but a real BIOS spends cycles doing the same work,
and a deterministic clock needs a number.  The figures are a model, not a measurement of
SeaBIOS: a fixed entry/exit cost (SeaBIOS's entry stub saves every register, switches stacks
and dispatches: a few hundred instructions) plus a per-unit cost for the part that scales
(a PIO sector transfer is `rep insw` of 256 words at the Pentium's IN cost; a text cell is
one word store; a scrolled cell a load plus a store).  Same call, same registers -> same cost.
"""

#: Entry, register save/restore and dispatch of any service (also hardware IRQ handlers).
SERVICE = 200
#: INT 13h: command setup and status polling per request...
DISK_REQUEST = 2_000
#: ...plus one 512-byte PIO transfer (256 x `insw`, 14 cycles each) per sector moved.
DISK_SECTOR = 256 * 14
#: INT 10h: writing one text cell (char and/or attribute).
VIDEO_CELL = 4
#: INT 10h: moving one text cell while scrolling (load + store).
VIDEO_MOVE = 6
#: INT 10h: one CRTC register update (index write + data write).
CRTC_WRITE = 2 * 16
#: INT 15h AH=87h: per 16-bit word copied.
BLOCK_MOVE_WORD = 4
