; Writes every page of a 48 MiB heap, prints 1, then sleeps: a machine whose
; state is nearly all memory, to save.
.code
main:
    li t0, 50331648
    grow s0, t0
    li t1, 0
.Lwrite:
    add t2, s0, t1
    st64 t1, [t2]
    addi t1, t1, 4096
    blt t1, t0, .Lwrite
    li t3, 1
    printi t3
.Lsleep:
    li t4, 1000
    sleep t4
    jmp .Lsleep
