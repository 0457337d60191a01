; User-mode paging test kernel, 32-bit tables (paging_user_body.inc); compared with QEMU by
; tests/emu/test_page_walk.py.
%define IMG_SECTORS 16
%include "paging_user_body.inc"
