#!/usr/bin/env python3
"""The Sightglass suite (github.com/bytecodealliance/sightglass, `benchmarks/`) on
Manda and its peers, from a local copy: real programs compiled by others.

    python3 bench/sightglass.py SUITE [--runs N] [--only NAME,...] [--check] [--peers wasmi,wasmtime]
                                      [--manda BIN] [--prefix DIR]

SUITE is a copy of sightglass's `benchmarks/` directory (nothing is fetched
at run time). Every module runs in its own directory as Sightglass runs it:
`manda run --dir . --preload bench=BENCH.wasm MODULE.wasm`, BENCH.wasm
exporting empty `start` and `end` (bench/sightglass/bench.wasm). Its standard
output and error must be the module's `*.stdout.expected` and
`*.stderr.expected` line for line, as Sightglass compares them (libsodium's
expected `0` has no newline after it; the programs print one), and its exit
status 0.

The peers run the same program: the module with the bench functions linked in
(`manda link`), through wasmi's CLI and wasmtime (the Python `wasmtime`
package), installed by bench/peers/setup.sh into DIR (default
~/.cache/peers). wasm3 is not among them: its Python binding has no WASI,
and these programs read their input files through it. Each command runs N times (default 3) round-robin; the table
gives median wall seconds of the whole process, start-up and translation
included, and each peer's time over Manda's (> 1: Manda is faster); then
what Manda compiled (`--compile-stats`: instructions, seconds of compiling
— on a thread of its own, beside the program — and KiB of native code,
the largest of the runs) and each runtime's peak resident memory (the
largest of the runs).
`--check` runs Manda once on each module and only checks its output.
`--startup` measures start-up alone (best of N): each runtime loads the
module, instantiates it and stops at its first instruction — Manda with
`--max-steps 1`, translating (an empty cache) and from its translation
cache, wasmi with `--fuel 1` (it translates each function lazily, on its
first call).

Left out, as the suite's issue says: the modules that need wasi-nn
(image-classification), GC or components (kotlin-richards, splay,
cm-online-stats), and those whose files the copy lacks. The SIMD modules
(simd.suite: blake3-simd, hex-simd, intgemm-simd, meshoptimizer and all of
libsodium's) run like the others.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "bench", "sightglass")

SKIPPED = {
    "image-classification": "wasi-nn",
    "tract-onnx-image-classification": "wasi-nn",
    "kotlin-richards": "GC",
    "splay": "GC",
    "cm-online-stats": "components",
    "spidermonkey": "not in the copy",
}

# The `bench` module the programs import, committed (bench.wat encoded; a test checks it).
BENCH = os.path.join(HERE, "bench.wasm")


def hex_input(work, d):
    """hex-simd reads `./default.input`, which sightglass's repository leaves out or empty (its
    expected output is empty too): a directory of its own gets 1 MiB of fixed pseudo-random
    bytes, and the expected output is their lowercase hex and a newline, as the program's
    source says (rust-benchmark/src/main.rs)."""
    own = os.path.join(work, "hex-simd")
    os.makedirs(own, exist_ok=True)
    state, data = 1, bytearray()
    while len(data) < 1 << 20:
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        data.append(state >> 56)
    with open(os.path.join(own, "default.input"), "wb") as f:
        f.write(data)
    os.symlink(os.path.join(d, "benchmark.wasm"), os.path.join(own, "benchmark.wasm"))
    return own, (data.hex() + "\n").encode()


def modules(suite, only, work):
    """(name, directory, module file, expected stdout, expected stderr) of every module that runs."""
    found = []
    for bench in sorted(os.listdir(suite)):
        d = os.path.join(suite, bench)
        if not os.path.isdir(d) or bench in SKIPPED:
            continue
        for f in sorted(os.listdir(d)):
            if not f.endswith(".wasm"):
                continue
            stem = f[: -len(".wasm")]
            name = stem if stem != "benchmark" else bench
            if only and name not in only:
                continue
            expect = {}
            for stream in ("stdout", "stderr"):
                for candidate in (stem, "default", "benchmark"):
                    path = os.path.join(d, f"{candidate}.{stream}.expected")
                    if os.path.exists(path):
                        expect[stream] = open(path, "rb").read()
                        break
            run_in = d
            given = os.path.join(d, "default.input")
            if bench == "hex-simd" and not (os.path.exists(given) and os.path.getsize(given)):
                run_in, expect["stdout"] = hex_input(work, d)
            # A few modules come with no expected output: for them, exit 0 is the check.
            found.append((name, run_in, f, expect.get("stdout"), expect.get("stderr")))
    return found


# Each VM's control port on an ephemeral port: the default one may be another VM's (and saying so is stderr).
# No backtraces: with RUST_BACKTRACE=1, wasmi's error exit (`--fuel 1`) takes 60 ms more.
QUIET = {**os.environ, "MOVA_LISTEN": "127.0.0.1:0", "RUST_BACKTRACE": "0"}


def lines(data):
    """`data`'s lines as Rust's `str::lines` gives them, which is how Sightglass compares an
    output with its expected file (crates/cli/src/benchmark.rs, `compare_output_file`): split at
    newlines, a carriage return before one dropped, no empty line after the last."""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p[:-1] if p.endswith(b"\r") else p for p in parts]


def same(expected, actual):
    """True if there is no expected output, or `actual` has its lines."""
    return expected is None or lines(expected) == lines(actual)


def run(cmd, cwd):
    seconds, proc, _ = run_measured(cmd, cwd)
    return seconds, proc


def run_measured(cmd, cwd):
    """`cmd` run once: wall seconds, the completed process, and its peak
    resident memory in MiB (from the kernel's accounting of the child)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(cmd, cwd=cwd, env=QUIET, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        proc = subprocess.CompletedProcess(cmd, child.returncode, out.read(), err.read())
    return seconds, proc, usage.ru_maxrss / 1024


def compile_stats(stderr):
    """Manda's stderr without the `--compile-stats` line, and that line's
    figures: (regions, instructions, seconds, code bytes)."""
    lines = stderr.split(b"\n")
    for k in range(len(lines) - 1, -1, -1):
        if lines[k].startswith(b"compiled: "):
            words = lines[k].decode().replace(",", "").split()
            stats = (int(words[1]), int(words[3]), float(words[5]), int(words[7]))
            return b"\n".join(lines[:k] + lines[k + 1:]), stats
    return stderr, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("suite")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--startup", action="store_true")
    ap.add_argument("--peers", default="wasmi,wasmtime")
    ap.add_argument("--manda", default=os.path.join(ROOT, "target", "release", "manda"))
    ap.add_argument("--prefix", default=os.path.expanduser("~/.cache/peers"))
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    work = tempfile.mkdtemp(prefix="sightglass-")
    bench = BENCH
    py = os.path.join(args.prefix, "venv", "bin", "python")
    peers = {
        "wasmi": lambda m: [os.path.join(args.prefix, "cargo", "bin", "wasmi"), "--dir", ".", m],
        "wasmtime": lambda m: [py, os.path.join(HERE, "run_wasmtime.py"), m],
    }
    chosen = [p for p in args.peers.split(",") if p] if not args.check else []
    if args.startup:
        return startup(args, only, work, bench)
    failed = []
    rows = []
    for name, d, f, out, err in modules(args.suite, only, work):
        manda = [args.manda, "run", "--dir", ".", "--preload", f"bench={bench}", f]
        seconds, proc = run(manda, d)
        ok = proc.returncode == 0 and same(out, proc.stdout) and same(err, proc.stderr)
        if not ok:
            why = f"exit {proc.returncode}" if proc.returncode else "output differs"
            failed.append(name)
            print(f"{name}: FAILED ({why}) {proc.stderr.decode(errors='replace')[-300:]}", file=sys.stderr)
            continue
        if args.check:
            print(f"{name}: ok ({seconds:.2f} s){'' if out is not None else ', exit 0 (the suite has no expected output)'}")
            continue
        linked = os.path.join(work, f"{name}.wasm")
        subprocess.run([args.manda, "link", "--preload", f"bench={bench}", os.path.join(d, f), "-o", linked], check=True)
        cmds = [("Manda", manda[:2] + ["--compile-stats"] + manda[2:])] + [(p, peers[p](linked)) for p in chosen]
        times = {label: [] for label, _ in cmds}
        peaks = {label: [] for label, _ in cmds}
        compiled = []
        for _ in range(args.runs):
            for label, cmd in cmds:
                s, p, peak = run_measured(cmd, d)
                if label == "Manda":
                    p.stderr, stats = compile_stats(p.stderr)
                    compiled.append(stats)
                good = p.returncode == 0 and same(out, p.stdout) and (label != "Manda" or same(err, p.stderr))
                times[label].append(s if good else None)
                peaks[label].append(peak)
        medians = {k: (statistics.median(v) if all(x is not None for x in v) else None) for k, v in times.items()}
        memory = {k: max(v) for k, v in peaks.items()}
        # The run that compiled longest: its compile figures.
        stats = max((c for c in compiled if c), key=lambda c: c[2], default=None)
        rows.append((name, medians, memory, stats))
        cells = " ".join(f"{k}={v:.3f}" if v else f"{k}=fail" for k, v in medians.items())
        print(f"{name}: {cells}", file=sys.stderr)
    if not args.check:
        labels = ["Manda"] + chosen
        print("| module | " + " | ".join(f"{l} (s)" for l in labels) + " | " + " | ".join(f"{p}/Manda" for p in chosen)
              + " | Manda compiled: instructions, s, KiB | peak MiB: " + ", ".join(labels) + " |")
        print("| --- " * (len(labels) + len(chosen) + 3) + "|")
        for name, m, mem, stats in rows:
            secs = [f"{m[l]:.3f}" if m[l] else "fails" for l in labels]
            ratios = [f"{m[p] / m['Manda']:.2f}" if m[p] and m["Manda"] else "–" for p in chosen]
            comp = f"{stats[1]}, {stats[2]:.3f}, {stats[3] // 1024}" if stats else "–"
            peak = ", ".join(f"{mem[l]:.0f}" for l in labels)
            print(f"| {name} | " + " | ".join(secs) + " | " + " | ".join(ratios) + f" | {comp} | {peak} |")
    print(f"{len(failed)} failed: {', '.join(failed)}" if failed else "every module printed its expected output",
          file=sys.stderr)
    sys.exit(1 if failed else 0)


def startup(args, only, work, bench):
    """Start-up of each module: Manda translating, Manda from its cache, wasmi; best of N."""
    cold = os.path.join(work, "cold-cache")
    warm = os.path.join(work, "warm-cache")

    def best(cmd, cwd, env=None, before=None):
        times = []
        for _ in range(max(args.runs, 1)):
            if before:
                before()
            start = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        return min(times)

    print("| module | Manda, translating (ms) | Manda, cached (ms) | wasmi (ms) | wasmi/Manda cached |")
    print("| --- | --- | --- | --- | --- |")
    for name, d, f, _, _ in modules(args.suite, only, work):
        linked = os.path.join(work, f"{name}.wasm")
        if subprocess.run([args.manda, "link", "--preload", f"bench={bench}", os.path.join(d, f), "-o", linked],
                          stderr=subprocess.DEVNULL).returncode != 0:
            continue  # refused: reported by the run without --startup
        manda = [args.manda, "run", "--max-steps", "1", "--dir", ".", "--preload", f"bench={bench}", f]
        env = lambda c: {**QUIET, "MANDA_CACHE_DIR": c}
        translating = best(manda, d, env(cold), before=lambda: subprocess.run(["rm", "-rf", cold]))
        subprocess.run(manda, cwd=d, env=env(warm), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cached = best(manda, d, env(warm))
        wasmi = best([os.path.join(args.prefix, "cargo", "bin", "wasmi"), "--fuel", "1", "--dir", ".", linked], d, QUIET)
        print(f"| {name} | {translating * 1e3:.1f} | {cached * 1e3:.1f} | {wasmi * 1e3:.1f} | {wasmi / cached:.2f} |")


if __name__ == "__main__":
    main()
