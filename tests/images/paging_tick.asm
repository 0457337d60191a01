; paging_tick_body.inc with 32-bit page tables (a 4 MiB PSE page among 4 KiB ones).
%include "paging_tick_body.inc"
