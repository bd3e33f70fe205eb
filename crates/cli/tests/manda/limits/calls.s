; Calls itself until a limit stops it.
.code
main:
    call main
