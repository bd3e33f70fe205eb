#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), two at a time, with
# libFuzzer's limits: 10 s an input (a hang), 2 GiB (an out-of-memory).
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz and a nightly toolchain; installs both the first time
# (rustup toolchain install nightly; cargo install cargo-fuzz). Each target
# starts from its seeds (the examples; fuzz/seeds/TARGET/ for the binary
# ones: a snapshot, a bytecode program, a state, protocol lines) and its
# working corpus (fuzz/corpus/TARGET/, kept between runs, not committed). Findings go to
# fuzz/artifacts/TARGET/, logs to fuzz/logs/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(manda_exe manda_asm manda_snapshot manda_modes mova_inputs control_line)
fi
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo +nightly fuzz build
mkdir -p fuzz/logs
# Seeds from the examples themselves, not committed copies: the sources
# for the assembler and Mova's compilers, the assembled executables (into
# a directory of their own) for the loader and the machine.
cargo build --release -q -p manda
mkdir -p fuzz/corpus/examples-mx
for s in examples/manda/*.s; do
    target/release/manda asm "$s" -o "fuzz/corpus/examples-mx/$(basename "$s" .s).mx"
done
seeds() {
    case $1 in
        manda_asm) echo examples/manda ;;
        manda_exe | manda_modes) echo fuzz/corpus/examples-mx ;;
        mova_inputs) echo examples fuzz/seeds/mova_inputs ;;
        *) echo "fuzz/seeds/$1" ;;
    esac
}
run() {
    local t=$1
    mkdir -p "fuzz/corpus/$t"
    # shellcheck disable=SC2046 # the seed directories, one word each
    cargo +nightly fuzz run "$t" "fuzz/corpus/$t" $(seeds "$t") -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        > "fuzz/logs/$t.log" 2>&1 && echo "$t: ok, $(grep -o 'Done [0-9]* runs' "fuzz/logs/$t.log" | tail -1)" \
        || echo "$t: FOUND something, see fuzz/logs/$t.log and fuzz/artifacts/$t/"
}
for ((i = 0; i < ${#targets[@]}; i += 2)); do
    run "${targets[i]}" &
    if [ $((i + 1)) -lt ${#targets[@]} ]; then run "${targets[i + 1]}" & fi
    wait
done
