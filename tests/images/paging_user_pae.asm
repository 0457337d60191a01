; User-mode paging test kernel with PAE tables (paging_user_body.inc); compared with QEMU by
; tests/emu/test_page_walk.py.
%define IMG_SECTORS 16
%define PAE
%include "paging_user_body.inc"
