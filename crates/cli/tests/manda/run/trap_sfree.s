; `sfree` past the top of the stack.
.code
main:
    salloc 8
    sfree 16
    halt
