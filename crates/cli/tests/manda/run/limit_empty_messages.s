; run: --max-memory 64M {file}
; steps: skipped (millions of sends, one at a time, are too slow for a test)
; Empty messages are not free: each counts its bookkeeping against --max-memory,
; so a loop of them traps instead of eating the host's memory.
.code
main:
    pnew s0
    li s1, 0
    li s2, 0
.Lsend:
    psend s0, s1, s2
    jmp .Lsend
