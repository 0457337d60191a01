; Paging test kernel running from 0xC0000000 (paging_body.inc); compared byte for byte with QEMU
; by tests/emu/test_paging_faults.py.
%define HIGHER_HALF
%include "paging_body.inc"
