; Hello, world: write a string from read-only data to standard output.
.rodata
msg:    .ascii "Hello, world!\n"
msg_end:
.equ MSG_LEN, msg_end - msg

.code
main:
    li a0, 1                ; fd 1: standard output
    la a1, msg
    li a2, MSG_LEN
    write a0, a1, a2
    halt
