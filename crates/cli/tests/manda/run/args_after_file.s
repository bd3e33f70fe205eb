; run: {file} --trace --max-steps 1 --help -- x
; Everything after FILE is the program's, options included: it prints each argument.
.data
buf: .zero 64
.code
main:
    argc s0
    li s1, 0
.Lloop:
    bge s1, s0, .Ldone
    la a2, buf
    li a3, 64
    arg t0, s1, a2, a3
    li a0, 1
    la a1, buf
    write a0, a1, t0
    li t1, 10
    putc t1
    addi s1, s1, 1
    jmp .Lloop
.Ldone:
    halt
