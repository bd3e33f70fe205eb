; `fork` is the next step of the machine: for now it traps, saying so.
.code
main:
    fork t0, child
    halt
child:
    halt
