; An address past the end of memory, and one whose access would wrap around.
.code
main:
    li t0, -4
    ld64 t1, [t0]
    halt
