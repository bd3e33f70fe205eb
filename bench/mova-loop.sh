#!/usr/bin/env bash
# Mova's tight-loop benchmark against Lua 5.4, measured in one run.
#
#   bash bench/mova-loop.sh [RUNS]
#
# Runs each command RUNS times (default 5) as a whole process and reports the
# median wall time, Mova's instructions per second and the ratio to Lua.
# Installs lua5.4 and bc with apt-get if it is missing (benchmarks only, never CI).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
steps=1000000000

if ! command -v lua5.4 >/dev/null || ! command -v bc >/dev/null; then
    echo "installing lua5.4 and bc ..." >&2
    apt-get install -y -qq lua5.4 bc >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq lua5.4 bc; }
fi
cargo build --release -q -p cli --bin mova
mova=target/release/mova

# median wall seconds of a command over $runs runs
median() {
    local times=()
    for _ in $(seq "$runs"); do
        local start end
        start=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc -l)")
    done
    printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

lua=$(median lua5.4 bench/mova/loop.lua)
tight=$(median "$mova" run bench/mova/loop.masm --max-steps $steps)
two=$(median "$mova" run bench/mova/loop2.masm --max-steps $steps)
plain=$(median "$mova" run bench/mova/loop.masm --max-steps $steps --no-fusion)

row() { # name seconds
    printf '| %-44s | %7.3f | %6.2f | %6.2fx |\n' "$1" "$2" "$(echo "$steps / $2 / 1000000000" | bc -l)" "$(echo "$lua / $2" | bc -l)"
}
echo "median of $runs runs, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| program (10^9 Mova instructions) | seconds | G instr/s | speed vs Lua 5.4 |"
echo "| --- | --- | --- | --- |"
printf '| %-44s | %7.3f | %9s | %6.2fx |\n' "Lua 5.4: for-loop, x = x + 1 (5*10^8 passes)" "$lua" "-" 1
row "mova: ADD 1 / GOTO (self-loop path)" "$tight"
row "mova: ADD 1 / ADD 1 / GOTO (fused dispatch)" "$two"
row "mova --no-fusion: ADD 1 / GOTO (plain)" "$plain"
