; threads: 1 2 4
; exit in any context ends the machine with its status: the others stop
; at an instruction boundary (here: main, blocked on a port nobody sends to).
.code
main:
    pnew a1
    fork t0, child
    li t1, 0
    precv t0, a1, t1, t1
    halt

child:
    li t0, 7
    printi t0
    exit t0
