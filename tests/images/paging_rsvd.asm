; Paging test kernel with a reserved bit set in a 4 MiB PDE (paging_body.inc, RSVD): the #PF has
; RSVD=1 and the fault explainer names the bit; compared with QEMU by tests/emu/test_page_walk.py.
%define RSVD
%include "paging_body.inc"
