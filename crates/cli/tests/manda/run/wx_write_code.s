; W^X: a store into a code section traps.
.code
main:
    la t0, main
    li t1, 0
    st8 t1, [t0]
    halt
