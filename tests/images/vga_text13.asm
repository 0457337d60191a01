; VGA test image: BIOS text output in mode 13h (see vga_gfxtext.inc); the screen must match
; QEMU's screendump (tests/test_vga_graphics.py).
%define IMG_SECTORS 16
%define BODY_SECTORS 4
%define MODE 0x0013
%define ROWS 25
%define COLS 40
%include "bios_lib.inc"
%include "vga_gfxtext.inc"
%include "bios_end.inc"
