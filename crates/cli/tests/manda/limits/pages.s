; Grows the heap a page at a time and writes each page, until the limit stops it.
.code
main:
    li t1, 4096
.Lgrow:
    grow t2, t1
    st64 t1, [t2]
    jmp .Lgrow
