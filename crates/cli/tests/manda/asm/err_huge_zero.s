; A fill count past the limit is an error, not an allocation of that size.
.data
    .zero 0xffffffffffff
.code
    halt
