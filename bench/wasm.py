#!/usr/bin/env python3
"""WebAssembly on Manda against wasmi, wasm3 and wasmtime, on the same .wasm files, in one run.

    python3 bench/wasm.py [--runs N] [--only fib,loop,...] [--prefix DIR] [--no-translate-speed]

Two sets of modules:

- the wasm peers of bench/peers (`hand.wasm`: fib, loop; `kernels.wasm`:
  sieve3, nbody), called with `--invoke`, beside the hand-written Manda
  programs (examples/manda/*.s) doing the same work;
- the C peers (bench/peers/{fib,loop,sieve,nbody}.c) compiled here with
  `clang --target=wasm32-wasi -O2` and run as WASI commands (wasm3 and
  wasmtime through bench/wasi_peers.py).

Each command is a whole process, run N times (default 3), the runtimes
taking turns; medians. Every runtime's output must equal Manda's. Then the
translation speed: `manda::wasm::translate` in process on each C module and
on a generated 1.7 MB one (crates/manda-wasm/benches/translate.rs).
"""
import argparse
import os
import random
import statistics
import subprocess
import sys

from manda import run_seconds  # bench/manda.py: one timed run of a command

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")
BUILD = os.path.join(ROOT, "target", "bench-wasm")

# name, argument, module (in the prefix), function, hand-written example
INVOKED = [
    ("fib", "32", "hand.wasm", "fib", "fib"),
    ("loop", "200000000", "hand.wasm", "loop", "loop"),
    ("sieve", "10000000", "kernels.wasm", "sieve3", "sieve"),
    ("nbody", "1000000", "kernels.wasm", "nbody", "nbody"),
]
# C peer, argument
COMMANDS = [("fib", "32"), ("loop", "200000000"), ("sieve", "10000000"), ("nbody", "1000000")]


def measure(label, commands, runs, check):
    times = {name: [] for name, _ in commands}
    outputs = {}
    for _ in range(runs):
        for name, cmd in commands:
            seconds, out = run_seconds(cmd)
            times[name].append(seconds)
            outputs[name] = out
    for name, out in outputs.items():
        if name in check and out.split() != outputs["Manda"].split():
            raise SystemExit(f"{label}: {name} printed {out!r}, Manda {outputs['Manda']!r}")
    row = {name: statistics.median(t) for name, t in times.items()}
    for name, seconds in row.items():
        print(f"{label:22} {name:20} {seconds:8.3f} s", file=sys.stderr)
    return row


def table(title, rows, names):
    print(f"\n{title}\n")
    print("| benchmark | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label, row in rows:
        print(f"| {label} | " + " | ".join(f"{row[n]:.3f}" if n in row else "" for n in names) + " |")
    peers = [n for n in names if n != "Manda"]
    print("\nManda's speed relative to each (its time / Manda's; above 1: Manda is faster).\n")
    print("| benchmark | " + " | ".join(peers) + " |")
    print("|---" * (len(peers) + 1) + "|")
    for label, row in rows:
        print(f"| {label} | " + " | ".join(f"{row[n] / row['Manda']:.2f}" if n in row else "" for n in peers) + " |")


def generated_c(path):
    """A large C program (3000 functions of loops, switches, calls): a 1.7 MB module."""
    r = random.Random(7)
    out = ["#include <stdio.h>", "unsigned t[4096]; double d[1024];"]
    for f in range(3000):
        out.append(f"unsigned f{f}(unsigned x, unsigned y) {{\n  unsigned s = x;")
        for k in range(r.randint(4, 12)):
            c = r.randint(1, 1 << 20)
            out.append(r.choice([
                f"  for (unsigned i = 0; i < (y & 15); i++) s = s * {c} + t[(s ^ i) & 4095];",
                f"  switch (s % 7) {{ case 0: s += {c}; break; case 1: s ^= y >> 3; break; "
                f"case 2: s = (s << 5) | (s >> 27); break; case 3: d[s & 1023] += s * 0.5; break; default: s -= {c}; }}",
                f"  if (s > {c}) s = s / (y | 1); else s = s % {c + 1};",
                f"  s += f{max(0, f - r.randint(1, 50))}(s, y + {k}) & {c};" if f > 0 else f"  s += {c};",
                f"  t[s & 4095] = s + (unsigned)(d[y & 1023] * {c});",
            ]))
        out.append("  return s;\n}")
    out.append('int main(int argc, char **argv) { printf("%u\\n", f2999(argc, 1)); return 0; }')
    with open(path, "w") as f:
        f.write("\n".join(out))


def clang(src, out):
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        subprocess.run(["clang", "--target=wasm32-wasi", "-O2", "-I", os.path.join(ROOT, "include"), "-o", out, src],
                       check=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--prefix", default=os.path.expanduser("~/.cache/peers"))
    parser.add_argument("--no-translate-speed", action="store_true")
    opts = parser.parse_args()
    os.makedirs(BUILD, exist_ok=True)
    manda = os.path.join(ROOT, "target", "release", "manda")
    p = opts.prefix
    py = os.path.join(p, "venv", "bin", "python")
    wasmi = os.path.join(p, "cargo", "bin", "wasmi")
    wanted = lambda b: not opts.only or b in opts.only.split(",")

    rows = []
    for bench, arg, module, func, example in INVOKED:
        if not wanted(bench):
            continue
        mx = os.path.join(BUILD, f"{example}.mx")
        subprocess.run([manda, "asm", os.path.join(ROOT, "examples", "manda", f"{example}.s"), "-o", mx], check=True)
        m = os.path.join(p, module)
        commands = [
            ("Manda", [manda, "run", "--invoke", func, m, arg]),
            ("Manda hand-written", [manda, "run", mx, arg]),
            ("wasmi", [wasmi, "--invoke", func, m, arg]),
            ("wasm3", [py, os.path.join(PEERS, "wasm", "run_wasm3.py"), m, func, arg]),
            ("wasmtime (JIT)", [py, os.path.join(PEERS, "wasm", "run_wasmtime.py"), m, func, arg]),
        ]
        rows.append((f"{module} {func} {arg}", measure(f"{func} {arg}", commands, opts.runs, {"wasmi"})))
    names = ["Manda", "Manda hand-written", "wasmi", "wasm3", "wasmtime (JIT)"]
    print(f"Median wall seconds of {opts.runs} runs, process start included.")
    table("The wasm peers, called with --invoke (Manda: the module translated at start):", rows, names)

    rows = []
    modules = []
    for bench, arg in COMMANDS:
        w = clang(os.path.join(PEERS, f"{bench}.c"), os.path.join(BUILD, f"{bench}.wasm"))
        modules.append(w)
        if not wanted(bench):
            continue
        commands = [
            ("Manda", [manda, "run", w, arg]),
            ("wasmi", [wasmi, w, arg]),
            ("wasm3", [py, os.path.join(ROOT, "bench", "wasi_peers.py"), "wasm3", w, arg]),
            ("wasmtime (JIT)", [py, os.path.join(ROOT, "bench", "wasi_peers.py"), "wasmtime", w, arg]),
        ]
        rows.append((f"{bench}.c {arg}", measure(f"{bench}.c {arg}", commands, opts.runs, {"wasmi", "wasm3", "wasmtime (JIT)"})))
    table("The C peers, clang --target=wasm32-wasi -O2, run as WASI commands:", rows,
          ["Manda", "wasmi", "wasm3", "wasmtime (JIT)"])

    if not opts.no_translate_speed:
        for name in ["sha256", "wordfreq"]:
            modules.append(clang(os.path.join(ROOT, "examples", "wasm", f"{name}.c"), os.path.join(BUILD, f"{name}.wasm")))
        big_c = os.path.join(BUILD, "generated.c")
        if not os.path.exists(big_c):
            generated_c(big_c)
        modules.append(clang(big_c, os.path.join(BUILD, "generated.wasm")))
        print("\nTranslation speed, in process (`manda::wasm::translate`, validation included):\n")
        env = dict(os.environ, WASM_MODULES=":".join(modules))
        out = subprocess.run(["cargo", "bench", "-q", "-p", "manda-wasm", "--bench", "translate"], cwd=ROOT, env=env,
                             check=True, stdout=subprocess.PIPE).stdout.decode()
        print(out.strip())


if __name__ == "__main__":
    main()
