; run: --max-memory 64M --max-port-bytes 1M {file}
; A message larger than --max-port-bytes traps before any of it is copied:
; a send never makes the host hold more than the limits allow.
.code
main:
    li t0, 33554432
    grow s1, t0
    pnew s0
    psend s0, s1, t0
    halt
