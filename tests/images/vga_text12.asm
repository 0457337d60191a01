; VGA test image: BIOS text output in mode 12h (see vga_gfxtext.inc); the screen must match
; QEMU's screendump (tests/test_vga_graphics.py).
%define IMG_SECTORS 16
%define BODY_SECTORS 4
%define MODE 0x0012
%define ROWS 30
%define COLS 80
%include "bios_lib.inc"
%include "vga_gfxtext.inc"
%include "bios_end.inc"
