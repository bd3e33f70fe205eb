; Writes every page of a 64 MiB heap, prints 1, then writes them all again
; and again with a new value each pass: a machine whose pages change while
; a saved state of it is on its way.
.code
main:
    li t0, 67108864
    grow s0, t0
    li t5, 0                ; the pass
    li t3, 1
.Lpass:
    li t1, 0
.Lwrite:
    add t2, s0, t1
    st64 t5, [t2]
    addi t1, t1, 4096
    blt t1, t0, .Lwrite
    beqz t3, .Lnext
    printi t3
    li t3, 0
    li t4, 1
    sleep t4                ; the output goes out before a sleep
.Lnext:
    addi t5, t5, 1
    jmp .Lpass
