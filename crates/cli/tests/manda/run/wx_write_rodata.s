; rodata is read-only: a store traps (a load does not).
.rodata
answer: .i64 42
.code
main:
    la t0, answer
    ld64 t1, [t0]
    printi t1
    st32 t1, [t0 + 4]
    halt
