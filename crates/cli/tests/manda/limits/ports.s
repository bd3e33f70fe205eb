; Makes ports until a limit stops it.
.code
main:
    pnew t0
    jmp main
