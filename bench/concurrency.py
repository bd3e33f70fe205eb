#!/usr/bin/env python3
"""Manda's contexts and ports against Go and Erlang on the four concurrency
jobs of bench/peers/concurrency, in one run.

    python3 bench/concurrency.py [--runs N] [--only spawn,pingpong,...] [--prefix DIR]

Each command runs N times (default 3) as a whole process, under
/usr/bin/time for its peak memory; the table gives the median wall seconds
with each runtime's empty start-up (measured in the same run) subtracted,
the max RSS, and Manda's speed relative to each peer (>1: Manda is faster).
The peers are built by bench/peers/setup.sh into DIR (default
~/.cache/peers); bench/concurrency.sh runs it first when they are missing.
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# job, arguments, expected stdout
JOBS = [
    ("spawn", ["100000"], "4999950000\n"),
    ("pingpong", ["1000000"], "1000000\n"),
    ("ring", ["1000", "1000"], "1000000\n"),
    ("parsum 1", ["1", "400000000"], "79999999800000000\n"),
    ("parsum 2", ["2", "400000000"], "79999999800000000\n"),
]


def measure(cmd, runs, expected=None):
    """Median wall seconds (perf_counter around the whole process) and the
    largest max RSS (MB, from /usr/bin/time) of `runs` runs."""
    walls, rss = [], 0
    for _ in range(runs):
        with tempfile.NamedTemporaryFile(mode="r") as stats:
            start = time.perf_counter()
            proc = subprocess.run(
                ["/usr/bin/time", "-o", stats.name, "-f", "%M"] + cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            wall = time.perf_counter() - start
            kb = stats.read().split()[-1]
        if proc.returncode != 0:
            raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
        if expected is not None and proc.stdout.decode() != expected:
            raise SystemExit(f"wrong output {proc.stdout!r} from {' '.join(cmd)}")
        walls.append(float(wall))
        rss = max(rss, int(kb) / 1024)
    return statistics.median(walls), rss


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--prefix", default=os.path.expanduser("~/.cache/peers"))
    args = parser.parse_args()
    manda = os.path.join(ROOT, "target", "release", "manda")
    work = tempfile.mkdtemp()

    def assembled(name, source):
        path = os.path.join(work, name + ".mx")
        subprocess.run([manda, "asm", source, "-o", path], check=True)
        return path

    empty_src = os.path.join(work, "empty.s")
    with open(empty_src, "w") as f:
        f.write(".code\nmain:\n    halt\n")
    programs = {j: assembled(j, os.path.join(ROOT, "examples", "manda", j + ".s")) for j in ("spawn", "pingpong", "ring", "parsum")}
    go = os.path.join(args.prefix, "conc_go")
    erl = ["erl", "-noshell", "-pa", args.prefix, "-s", "conc", "main"]
    runtimes = [
        ("Manda", [manda, "run", assembled("empty", empty_src)], lambda job, a: [manda, "run", programs[job]] + a),
        ("Go", [go, "pingpong", "0"], lambda job, a: [go, job] + a),
        ("Erlang", ["erl", "-noshell", "-s", "init", "stop"], lambda job, a: erl + [job] + a + ["-s", "init", "stop"]),
    ]
    empty = {name: measure(cmd, args.runs)[0] for name, cmd, _ in runtimes}
    print(f"empty start-up (s): " + ", ".join(f"{n} {t:.3f}" for n, t in empty.items()))
    only = set(args.only.split(",")) if args.only else None
    header = "| job | " + " | ".join(f"{n} s (net) | {n} MB" for n, _, _ in runtimes) + " | Manda vs Go | Manda vs Erlang |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for label, job_args, expected in JOBS:
        job = label.split()[0]
        if only and job not in only and label not in only:
            continue
        row, net = [], {}
        for name, _, command in runtimes:
            wall, rss = measure(command(job, job_args), args.runs, expected)
            net[name] = max(wall - empty[name], 1e-3)
            row.append(f"{wall:.3f} ({net[name]:.3f}) | {rss:.0f}")
        ratios = [f"{net[peer] / net['Manda']:.2f}" for peer in ("Go", "Erlang")]
        print(f"| {label} {' '.join(job_args)} | " + " | ".join(row) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
