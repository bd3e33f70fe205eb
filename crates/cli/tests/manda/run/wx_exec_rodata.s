; W^X: rodata is not executable: a call through a register traps.
.rodata
consts: .i64 1
.code
main:
    la t0, consts
    callr t0
    halt
