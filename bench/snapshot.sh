#!/usr/bin/env bash
# Manda snapshot figures: save/restore rates of a 256 MiB machine and of a
# 1,000-context one, whole migrations of a small parallel machine, and the
# downtime of a 256 MiB one.
#
#   bash bench/snapshot.sh
#
# Builds `hv` (so the `hv migrate` row is measured too) and runs the
# harness in crates/cli/benches/snapshot.rs, which starts real VM
# processes on loopback and prints a Markdown table of medians and p90s.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p cli
echo "$(nproc) cores, $(date -u +%Y-%m-%d)"
echo
cargo bench -q -p cli --bench snapshot 2>/dev/null
