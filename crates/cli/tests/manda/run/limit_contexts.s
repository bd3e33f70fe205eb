; run: --max-contexts 3 {file}
; threads: 1 2 4
; fork past the live-context limit traps. The children wait on a port, so
; all three stay alive.
.code
main:
    pnew a1
    li s0, 0
.Lfork:
    fork t0, child
    addi s0, s0, 1
    printi s0
    jmp .Lfork

child:
    li t1, 0
    precv t0, a1, t1, t1
    halt
