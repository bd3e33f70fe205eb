; run: {file} only
; `arg` past the last argument.
.data
b: .zero 8
.code
main:
    li t0, 1
    la t1, b
    li t2, 8
    arg t3, t0, t1, t2
    halt
