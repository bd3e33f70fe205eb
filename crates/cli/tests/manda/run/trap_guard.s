; A load just past the top of the stack falls in the guard gap.
.code
main:
    getsp t0
    ld64 t1, [t0]
    halt
