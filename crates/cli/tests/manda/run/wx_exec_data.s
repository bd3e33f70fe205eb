; W^X: jumping into a data section traps (static targets in data are
; rejected by the loader; this one goes through a register).
.data
table: .i64 0x0a0a0a0a
.code
main:
    la t0, table
    jr t0
