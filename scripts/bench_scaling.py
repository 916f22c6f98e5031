"""2-rank scaling of `faconvlstm train`: samples/s of 1 rank x 1 thread and
2 ranks x 1 thread on the same config (same global batch, so the same
optimization), interleaved rounds in one run, medians; the ratio (goal >= 1.9: the median of
the rounds' ratios)
and the share of the all-reduce time hidden behind backward, with the
overlapped all-reduce and with --sync-allreduce for comparison.

Numbers come from the runs' own <run>/metrics.jsonl (log_every = 1; the first
3 steps are warm-up and left out). Called by scripts/bench_scaling.sh."""
import argparse
import json
import os
import statistics
import subprocess
import sys

import bench  # scripts/bench.py: the same training run, with its peak RSS

ROOT = bench.ROOT


def train(a, data, ranks, sync):
    run = os.path.join(a.out, f"run-{ranks}{'-sync' if sync else ''}")
    rows, _ = bench.train_metrics(a.bin, data, ranks, run, a.steps, cell=a.cell, hidden=a.hidden, tile=a.tile,
                                  extra_args=["--resume", "never"] + (["--sync-allreduce"] if sync else []))
    if rows is None:
        sys.exit(f"bench_scaling: training on {ranks} rank(s) failed")
    rows = [r for r in rows if r["step"] > 3]
    hidden = sum(r.get("time_allreduce_hidden_s", 0) for r in rows)
    exposed = sum(r.get("time_allreduce_exposed_s", 0) for r in rows)
    return {"samples_per_s": statistics.median(r["samples_per_s"] for r in rows),
            "allreduce_hidden_s": hidden / len(rows), "allreduce_exposed_s": exposed / len(rows),
            "hidden_share": hidden / (hidden + exposed) if hidden + exposed > 0 else None,
            "final_loss": rows[-1]["loss"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build/release/faconvlstm"))
    ap.add_argument("--out", default=os.path.join(ROOT, "runs/bench-scaling"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100)  # 30-step runs let one descheduled moment of a rank move the ratio by 0.1
    ap.add_argument("--cell", default="faconvlstm")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--tile", type=int, default=32)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    data = os.path.join(a.out, "synth")
    if not os.path.exists(os.path.join(data, "synth.nc")):
        subprocess.run([a.bin, "synth", "--out", data, "--times", "96", "--height", "64", "--width", "64",
                        "--variables", "4"], check=True, capture_output=True)
    variants = [(1, False), (2, False), (2, True)]
    results = {v: [] for v in variants}
    probe = bench.host_pace_binary(a.out)
    references = []
    for rnd in range(a.rounds):
        for ranks, sync in variants:
            r = train(a, data, ranks, sync)
            results[(ranks, sync)].append(r)
            bench.log(f"round {rnd + 1}: {ranks} rank(s){' sync' if sync else ''}: {r['samples_per_s']:.1f} samples/s, "
                f"all-reduce hidden {r['allreduce_hidden_s'] * 1e3:.2f} ms / exposed {r['allreduce_exposed_s'] * 1e3:.2f} ms per step")
        references.append(bench.round_reference(probe, results[(2, False)][-1]["samples_per_s"], f"round {rnd + 1}"))

    def med(key, v):
        xs = [r[key] for r in results[v] if r[key] is not None]
        return statistics.median(xs) if xs else None

    one, two, two_sync = (med("samples_per_s", v) for v in variants)
    # the rounds' own ratios (the three runs of a round are back to back), as in scripts/bench.py
    ratio, ratio_sync = (bench.paired([r["samples_per_s"] for r in results[v]], [r["samples_per_s"] for r in results[(1, False)]])
                         for v in variants[1:])
    share, share_sync = med("hidden_share", (2, False)), med("hidden_share", (2, True))
    reference = bench.med(references)
    print(f"2-rank scaling: {a.cell}, hidden {a.hidden}, tile {a.tile}x{a.tile}, window 8, global batch {bench.GLOBAL_BATCH}, "
          f"{a.steps} steps, median of {a.rounds} interleaved rounds, load {os.getloadavg()[0]:.1f}")
    print(f"  1 rank  x 1 thread: {one:8.1f} samples/s")
    print(f"  2 ranks x 1 thread: {two:8.1f} samples/s  ratio {ratio:.2f} (goal >= 1.9; of the medians {two / one:.2f})  "
          f"all-reduce hidden behind backward: {100 * share:.0f}%")
    print(f"  host reference: {bench.fmt(reference, '.2f')} (rounds {', '.join(bench.fmt(c, '.2f') for c in references)}): "
          f"the same ratio for a compute loop on both cores that never communicates, after each round's 2-rank run")
    print(f"  2 ranks, --sync-allreduce: {two_sync:8.1f} samples/s  ratio {ratio_sync:.2f}  "
          f"hidden: {100 * (share_sync or 0):.0f}% (nothing to overlap)")
    with open(os.path.join(a.out, "scaling.json"), "w") as f:
        json.dump({"one_rank": one, "two_ranks": two, "two_ranks_sync": two_sync, "ratio": ratio, "ratio_of_medians": two / one, "ratio_sync": ratio_sync,
                   "hidden_share": share, "host_reference": reference, "host_references": references, "rounds": {f"{k[0]}{'-sync' if k[1] else ''}": v for k, v in results.items()}},
                  f, indent=1)


if __name__ == "__main__":
    main()
