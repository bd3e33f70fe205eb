; stdin: data
; `read` fills memory like a store: into code it is a memory fault.
.code
main:
    la t0, main
    li t1, 4
    read t2, t0, t1
    halt
