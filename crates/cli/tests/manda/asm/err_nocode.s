; A file with data but no code.
.data
x: .i64 1
