#!/usr/bin/env python3
"""A/B of two faconvlstm binaries on the same `bench` workload, side by side.

    python3 scripts/bench_ab.py OLD_BINARY NEW_BINARY [--rounds 8] [--iterations 20] [-- bench options...]

Each round runs `OLD bench --json` and `NEW bench --json` at the same time,
one pinned to each of the first two cores (taskset), and swaps the cores
every round, so both see the same machine at the same moment: on a shared
2-core host this resolves differences that timing the binaries one after
the other cannot (docs/performance.md). Prints per round the two median
step times and their ratio NEW / OLD (below 1: NEW is faster) and whether
the final losses are equal, then the median ratio and its range, for the
whole step (median step) and for forward and backward (means).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def run_pair(bins, cores, bench_args):
    procs = [subprocess.Popen(["taskset", "-c", str(core), b, "bench", "--json", *bench_args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
             for b, core in zip(bins, cores)]
    out = []
    for p in procs:
        o, e = p.communicate()
        if p.returncode != 0:
            sys.exit(f"bench_ab: {p.args[3]} failed: {e.strip()[-500:]}")
        out.append(json.loads(o))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--iterations", type=int, default=20)
    a, rest = ap.parse_known_args()   # the rest (after --) goes to `bench`
    bench_args = ["--iterations", str(a.iterations), *[x for x in rest if x != "--"]]
    keys = ["median_ms_per_step", "ms_forward", "ms_backward"]
    ratios = {k: [] for k in keys}
    for rnd in range(a.rounds):
        cores = (0, 1) if rnd % 2 == 0 else (1, 0)
        old, new = run_pair([a.old, a.new], cores, bench_args)
        line = []
        for k in keys:
            ratios[k].append(new[k] / old[k])
            line.append(f"{k} {old[k]:.2f} -> {new[k]:.2f} ({new[k] / old[k]:.3f})")
        same = "same final loss" if old["final_loss"] == new["final_loss"] else f"final loss {old['final_loss']!r} -> {new['final_loss']!r}"
        print(f"round {rnd + 1} (old on core {cores[0]}): " + ", ".join(line) + f"; {same}", flush=True)
    for k in keys:
        r = ratios[k]
        print(f"{k}: new / old median {statistics.median(r):.3f}, range {min(r):.3f} .. {max(r):.3f} over {len(r)} rounds")


if __name__ == "__main__":
    main()
