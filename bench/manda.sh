#!/usr/bin/env bash
# Manda against Lua 5.4, LuaJIT -joff, wasm3, wasmi, wasmtime and C -O2 on
# fib, loop, sieve, n-body, crc and spectral, measured in one run
# (benchmarks only, never CI).
#
#   bash bench/manda.sh [--runs N] [--only fib,loop,...] [--no-fusion] [--baseline BIN]
#
# Installs the peers with bench/peers/setup.sh (apt-get, cargo install, pip)
# into ~/.cache/peers the first time, and compiles their programs
# (bench/peers/build.sh) every time.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="$HOME/.cache/peers"
if [ ! -x "$prefix/cargo/bin/wasmi" ] || [ ! -f "$prefix/kernels.wasm" ] || ! command -v luajit >/dev/null; then
    bash bench/peers/setup.sh "$prefix"
else
    bash bench/peers/build.sh "$prefix"
fi
cargo build --release -q -p cli --bin manda
python3 bench/manda.py --prefix "$prefix" "$@"
