; run: --max-memory 3M {file}
; A 1 MiB heap fits in 3 MiB beside the 1 MiB stack; a second one does not.
.code
main:
    li t0, 1048576
    grow t1, t0
    grow t1, t0
    halt
