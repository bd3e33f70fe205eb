; Popping an empty stack.
.code
main:
    push t0
    pop t1
    pop t1
    halt
