; Prints 1, 2, 3, … one a millisecond, forever: a program to control.
.code
main:
    li t0, 0
    li t1, 1
.Lnext:
    addi t0, t0, 1
    printi t0
    sleep t1
    jmp .Lnext
