#!/usr/bin/env bash
# Manda's fork and ports against Go (goroutines, channels) and Erlang
# (processes, mailboxes) on spawn, pingpong, ring and parsum, measured in one
# run with each runtime's empty start-up subtracted (benchmarks only, never CI).
#
#   bash bench/concurrency.sh [--runs N] [--only spawn,pingpong,ring,parsum]
#
# Builds the peers with bench/peers/setup.sh into ~/.cache/peers the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="$HOME/.cache/peers"
if [ ! -x "$prefix/conc_go" ] || [ ! -f "$prefix/conc.beam" ]; then
    bash bench/peers/setup.sh "$prefix"
fi
cargo build --release -q -p cli --bin manda
python3 bench/concurrency.py --prefix "$prefix" "$@"
