; Paging test kernel, identity-mapped (paging_body.inc); compared byte for byte with QEMU by
; tests/emu/test_paging_faults.py.
%include "paging_body.inc"
