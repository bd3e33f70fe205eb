; Four contexts for the hypervisor to stop and continue: a counter that
; prints 0, 1, 2, … with a 5 ms sleep between, a busy spinner, and two
; (the first context among them) waiting on a port nobody sends to.
.code
main:
    pnew a1
    fork t0, counter
    fork t0, spinner
    fork t0, waiter
waiter:
    li t1, 0
    precv t0, a1, t1, t1
    halt

counter:
    li s0, 0
    li s1, 5
.Lcount:
    printi s0
    addi s0, s0, 1
    sleep s1
    jmp .Lcount

spinner:
    addi t0, t0, 1
    jmp spinner
