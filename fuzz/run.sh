#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), two at a time, with
# libFuzzer's limits: 10 s an input (a hang), 2 GiB (an out-of-memory).
# Exits 1 if any target found something.
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]
#
# Builds with the machine's own (stable) toolchain: cargo-fuzz's coverage
# flags are stable; only its sanitizers need nightly `-Z` flags, so targets
# build with `-s none` (Rust's own checks: bounds, overflow in debug
# assertions, which cargo-fuzz turns on). FUZZ_SANITIZER=address builds
# with AddressSanitizer instead, on nightly if it is installed. Installs
# cargo-fuzz from crates.io the first time. Each target starts from its
# seeds (the examples; fuzz/seeds/TARGET/ for the rest) and its working
# corpus (fuzz/corpus/TARGET/, kept between runs, not committed). Findings
# go to fuzz/artifacts/TARGET/, logs to fuzz/logs/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
all=(manda_exe manda_asm manda_snapshot manda_pages manda_modes manda_threads mova_inputs control_line control_session wasm_module wasm_diff wasi_calls wasm_link)
if [ ${#targets[@]} -eq 0 ]; then
    targets=("${all[@]}")
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
sanitizer=${FUZZ_SANITIZER:-none}
toolchain=()
if [ "$sanitizer" != none ]; then
    if rustup toolchain list 2>/dev/null | grep -q nightly; then toolchain=(+nightly); else export RUSTC_BOOTSTRAP=1; fi
fi
cargo "${toolchain[@]}" fuzz build -s "$sanitizer" --fuzz-dir fuzz
bin=fuzz/target/x86_64-unknown-linux-gnu/release
mkdir -p fuzz/logs
# Seeds from the examples themselves, not committed copies: the sources
# for the assembler and Mova's compilers, the assembled executables (into
# a directory of their own) for the loader and the machine.
cargo build --release -q -p cli --bin manda
mkdir -p fuzz/corpus/examples-mx
for s in examples/manda/*.s; do
    target/release/manda asm "$s" -o "fuzz/corpus/examples-mx/$(basename "$s" .s).mx"
done
seeds() {
    case $1 in
        manda_asm) echo examples/manda ;;
        manda_exe) echo fuzz/corpus/examples-mx fuzz/seeds/manda_modes ;;
        manda_modes) echo fuzz/corpus/examples-mx fuzz/seeds/manda_modes ;;
        mova_inputs) echo examples fuzz/seeds/mova_inputs ;;
        manda_threads) ;;
        *) echo "fuzz/seeds/$1" ;;
    esac
}
options() {
    case $1 in
        # A session is a few bytes a request; a real VM per input is slow enough.
        control_session) echo -max_len=128 ;;
    esac
}
failed=0
run() {
    local t=$1
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    # shellcheck disable=SC2046 # the seed directories and options, one word each
    if "$bin/$t" "fuzz/corpus/$t" $(seeds "$t") -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="fuzz/artifacts/$t/" $(options "$t") > "fuzz/logs/$t.log" 2>&1; then
        echo "$t: ok, $(grep -o 'Done [0-9]* runs in [0-9]* second' "fuzz/logs/$t.log" | tail -1)s"
    else
        echo "$t: FOUND something, see fuzz/logs/$t.log and fuzz/artifacts/$t/"
        return 1
    fi
}
for ((i = 0; i < ${#targets[@]}; i += 2)); do
    pids=()
    run "${targets[i]}" & pids+=($!)
    if [ $((i + 1)) -lt ${#targets[@]} ]; then run "${targets[i + 1]}" & pids+=($!); fi
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
done
exit $failed
