; A jump must land on an instruction or label: one byte into `li` traps.
.code
main:
    la t0, target
    addi t0, t0, 1
    jr t0
target:
    li t1, 1
    halt
