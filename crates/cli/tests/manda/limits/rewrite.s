; Writes every page of a 64 MiB heap, prints 1, then writes them all again
; and again with a new value each pass: a machine whose pages change while
; a saved state of it is on its way. Before it writes a page, it checks
; that the page holds the previous pass's value: a state saved with pages
; from later passes (written while it was sent) exits 7 when restored.
.code
main:
    li t0, 67108864
    grow s0, t0
    li t5, 1                ; the pass; a page holds t5 - 1 until this pass writes it
    li t3, 1
.Lpass:
    li t1, 0
    addi t6, t5, -1
.Lwrite:
    add t2, s0, t1
    ld64 t7, [t2]
    bne t7, t6, .Ltorn
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
.Ltorn:
    li t0, 7
    exit t0
