; W^X: code cannot be read either.
.code
main:
    la t0, main
    ld64 t1, [t0 + 2]
    halt
