#!/usr/bin/env bash
# WebAssembly on Manda against wasmi, wasm3 and wasmtime on the same .wasm
# files (the wasm peers and the C peers compiled with clang for wasm32-wasi),
# beside the hand-written Manda programs, and the translator's speed
# (benchmarks only, never CI).
#
#   bash bench/wasm.sh [--runs N] [--only fib,loop,sieve,nbody] [--no-translate-speed]
#
# Installs the peers with bench/peers/setup.sh into ~/.cache/peers the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="$HOME/.cache/peers"
if [ ! -x "$prefix/cargo/bin/wasmi" ] || [ ! -f "$prefix/kernels.wasm" ] || [ ! -x "$prefix/venv/bin/python" ]; then
    bash bench/peers/setup.sh "$prefix"
fi
cargo build --release -q -p cli --bin manda
echo "$(nproc) cores, $(date -u +%Y-%m-%d)"
python3 bench/wasm.py --prefix "$prefix" "$@"
