; `ret` with no call to return from.
.code
main:
    ret
