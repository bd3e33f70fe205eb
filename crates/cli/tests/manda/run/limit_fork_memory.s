; run: --max-memory 2M --max-contexts 100000 {file}
; threads: 1 2 4
; Forks are cheap until written: each child writes one page of its copy of
; the heap (and waits), and those pages count against --max-memory, with
; the contexts themselves, until one more traps.
.code
main:
    li t0, 65536
    grow a1, t0
    pnew a2                 ; acknowledgements
    pnew a3                 ; never written: the children wait here
    li s0, 0
.Lfork:
    fork t0, child
    li t1, 0
    precv t0, a2, t1, t1    ; the child has written its page
    addi s0, s0, 1
    jmp .Lfork

child:
    li t0, 1
    st8 t0, [a1]
    li t1, 0
    psend a2, t1, t1
    precv t0, a3, t1, t1
    halt
