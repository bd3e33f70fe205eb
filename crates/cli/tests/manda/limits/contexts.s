; Forks contexts that sleep, until the memory limit stops it.
.code
main:
    fork t0, child
    jmp main
child:
    li t1, 100000
    sleep t1
    jmp child
