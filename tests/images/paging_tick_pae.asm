; paging_tick_body.inc with PAE page tables (a 2 MiB page among 4 KiB ones).
%define PAE
%include "paging_tick_body.inc"
