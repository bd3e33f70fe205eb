#!/usr/bin/env python3
"""Manda against its peers on the programs of bench/peers, in one run.

    python3 bench/manda.py [--runs N] [--only fib,loop,...] [--prefix DIR] [--no-fusion] [--baseline BIN]

Each command runs N times (default 3) as a whole process, the runtimes taking
turns (round-robin, so that a slow spell of the machine falls on all of
them); the table gives the median wall seconds and Manda's speed relative to each peer (>1: Manda is
faster). `--no-fusion` runs Manda without superinstructions (its hidden
`--exec plain`), to measure what they give. The peers are installed by bench/peers/setup.sh into DIR (default
~/.cache/peers); bench/manda.sh runs it first when they are missing.
`--baseline BIN` adds another `manda` binary (an earlier build) as a peer,
so that a change is measured before and after in the same run.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")

# name, argument, Manda's expected stdout, wasm module and function
BENCHMARKS = [
    ("fib", "32", "2178309\n", "hand.wasm", "fib"),
    ("loop", "200000000", "19999999900000000\n", "hand.wasm", "loop"),
    ("sieve", "10000000", "664579\n" * 3, "kernels.wasm", "sieve3"),
    ("nbody", "1000000", "-0.169075164\n-0.169086185\n", "kernels.wasm", "nbody"),
    # Written after the tuning above, to check it is general: integer work and
    # branches over byte and word arrays; f64 arrays with a division a step.
    ("crc", "10000000", "3351500196\n39482\n", "kernels.wasm", "crc"),
    ("spectral", "1000", "1.274224148\n", "kernels.wasm", "spectral"),
]


def runtimes(prefix, manda, exe, manda_flags, baseline=None):
    py = os.path.join(prefix, "venv", "bin", "python")
    before = [("Manda (baseline)", lambda b, a, m, f: [baseline, "run", *manda_flags, exe(b), a])] if baseline else []
    return [
        ("Manda", lambda b, a, m, f: [manda, "run", *manda_flags, exe(b), a]),
        *before,
        ("C -O2", lambda b, a, m, f: [os.path.join(prefix, f"{b}.c.bin"), a]),
        ("wasmtime (JIT)", lambda b, a, m, f: [py, os.path.join(PEERS, "wasm", "run_wasmtime.py"), os.path.join(prefix, m), f, a]),
        ("wasmi", lambda b, a, m, f: [os.path.join(prefix, "cargo", "bin", "wasmi"), "--invoke", f, os.path.join(prefix, m), a]),
        ("wasm3", lambda b, a, m, f: [py, os.path.join(PEERS, "wasm", "run_wasm3.py"), os.path.join(prefix, m), f, a]),
        ("LuaJIT -joff", lambda b, a, m, f: ["luajit", "-joff", os.path.join(PEERS, f"{b}.lua"), a]),
        ("Lua 5.4", lambda b, a, m, f: ["lua5.4", os.path.join(PEERS, f"{b}.lua"), a]),
    ]


def run_seconds(cmd):
    """One run of `cmd`: wall seconds and standard output."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return seconds, proc.stdout.decode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--prefix", default=os.path.expanduser("~/.cache/peers"))
    parser.add_argument("--no-fusion", action="store_true")
    parser.add_argument("--baseline", default=None, help="another manda binary to time beside this one")
    opts = parser.parse_args()
    manda = os.path.join(ROOT, "target", "release", "manda")
    build = os.path.join(ROOT, "target", "bench-manda")
    os.makedirs(build, exist_ok=True)

    def exe(name):
        out = os.path.join(build, f"{name}.mx")
        subprocess.run([manda, "asm", os.path.join(ROOT, "examples", "manda", f"{name}.s"), "-o", out], check=True)
        return out

    manda_flags = ["--exec", "plain"] if opts.no_fusion else []
    names = [r[0] for r in runtimes(opts.prefix, manda, exe, manda_flags, opts.baseline)]
    rows = []
    for bench, arg, expected, module, func in BENCHMARKS:
        if opts.only and bench not in opts.only.split(","):
            continue
        # Round-robin: each round runs every runtime once, so that a slow
        # spell of this (shared, virtual) machine falls on all of them.
        commands = [
            (name, make(bench, arg, module, func))
            for name, make in runtimes(opts.prefix, manda, exe, manda_flags, opts.baseline)
        ]
        times = {name: [] for name, _ in commands}
        for _ in range(opts.runs):
            for name, cmd in commands:
                seconds, out = run_seconds(cmd)
                if name.startswith("Manda") and out != expected:
                    raise SystemExit(f"Manda's {bench} printed {out!r}, expected {expected!r}")
                times[name].append(seconds)
        row = {name: statistics.median(t) for name, t in times.items()}
        for name, seconds in row.items():
            print(f"{bench:8} {name:15} {seconds:8.3f} s", file=sys.stderr)
        rows.append((f"{bench} {arg}", row))

    print(f"\nMedian wall seconds of {opts.runs} runs, process start included.\n")
    print("| benchmark | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label, row in rows:
        print(f"| {label} | " + " | ".join(f"{row[n]:.3f}" for n in names) + " |")
    print("\nManda's speed relative to each (peer time / Manda time; above 1: Manda is faster).\n")
    print("| benchmark | " + " | ".join(names[1:]) + " |")
    print("|---" * len(names) + "|")
    for label, row in rows:
        print(f"| {label} | " + " | ".join(f"{row[n] / row['Manda']:.2f}" for n in names[1:]) + " |")


if __name__ == "__main__":
    main()
