"""faconvlstm vs the PyTorch peer: training samples/s, GFLOP/s against the
machine's sgemm rate, peak RSS, FAConvLSTM / ConvLSTM step time, 2-rank scaling.

Run through scripts/bench.sh (it builds the binary and the torch venv first).
Every measurement is a fresh process; the runs of one (config, threads) pair
are interleaved round by round (Swift FA, torch eager FA, torch compile FA,
Swift ConvLSTM, ...), so all sides see the same machine load, and each figure
is the median over the rounds of each run's median step. On a shared machine
the ratios are what count, and they are paired: every ratio in the table (x eager,
x compile, FA/Conv, % sgemm) is the median over the rounds of that round's ratio,
each run against the run next to it in time (the round's sgemm run for % sgemm),
so a machine that is slower for a while slows both sides of a ratio alike. The
ratios of the medians are printed under the table for comparison.

Besides the two cells as the model defines them (the ConvLSTM's convolutions
as im2col + GEMM, the direct sum, like PyTorch's), a third row runs the ConvLSTM
with `model.conv_algorithm = "winograd"` (F(2x2, 3x3): 16 instead of 36
multiplies per 2x2 outputs); its GFLOP/s count the model's FLOPs as every row
does, so they are an effective rate, and its FA/Conv is the FAConvLSTM against
it. --no-winograd skips it. A fourth row runs the FAConvLSTM with
`model.recompute_gates = true` (its backward recomputes the gates instead of
holding them: less activation memory, more time; the same numbers); its
x eager / x compile are against the peer's FAConvLSTM. --no-recompute skips it.

torch.compile: each process re-traces the model (dynamo) but inductor's
compiled kernels are cached on disk (TORCHINDUCTOR_CACHE_DIR, kept in the
output directory), so only the first compile of a config is slow (1-5 min).
The "first step" column of the raw JSON shows it.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIGS = {
    # name: (hidden, height, width, steps, samples)
    "small": (16, 32, 32, 8, 4),
    "default": (32, 32, 32, 8, 4),
    "large": (64, 64, 64, 8, 4),
}
# timed / untimed steps per process, by config (large steps take seconds)
ITERS = {"small": (8, 2), "default": (6, 2), "large": (3, 1)}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_json(cmd, env=None, timeout=3600):
    e = dict(os.environ)
    e.update(env or {})
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout)
    if p.returncode != 0:
        log(f"FAILED ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
        return None
    line = [l for l in p.stdout.splitlines() if l.startswith("{")][-1]
    d = json.loads(line)
    d["_wall_s"] = time.time() - t0
    return d


WINOGRAD = "convlstm-winograd"   # the ConvLSTM with conv_algorithm = "winograd" (Swift only)
RECOMPUTE = "faconvlstm-recompute"   # the FAConvLSTM with recompute_gates = true (Swift only)
LABELS = {"faconvlstm": "FA", "convlstm": "Conv", WINOGRAD: "Conv W", RECOMPUTE: "FA R"}
# the cell each Swift-only variant computes (its peer, and the --cell it runs with)
BASE_CELL = {"faconvlstm": "faconvlstm", "convlstm": "convlstm", WINOGRAD: "convlstm", RECOMPUTE: "faconvlstm"}
VARIANT_SET = {WINOGRAD: ["--set", "model.conv_algorithm=winograd"], RECOMPUTE: ["--set", "model.recompute_gates=true"]}


def swift_bench(a, cell, cfg, threads):
    hidden, h, w, t, b = CONFIGS[cfg]
    it, wu = ITERS[cfg]
    extra = VARIANT_SET.get(cell, [])
    cmd = [a.bin, "bench", "--json", "--cell", BASE_CELL[cell], "--set", f"model.hidden={hidden}",
           *extra, "--height", str(h), "--width", str(w),
           "--steps", str(t), "--samples", str(b), "--threads", str(threads), "--iterations", str(it), "--warmup", str(wu)]
    return run_json(cmd)


def torch_bench(a, cell, cfg, threads, mode):
    hidden, h, w, t, b = CONFIGS[cfg]
    it, wu = ITERS[cfg]
    if mode == "compile":
        wu = max(wu, 2)   # the first step compiles (or loads the cache); one more to settle
    cmd = [a.py, os.path.join(ROOT, "scripts/peers/torch_bench.py"), "--json", "--mode", mode, "--cell", cell,
           "--hidden", str(hidden), "--height", str(h), "--width", str(w), "--steps", str(t), "--samples", str(b),
           "--threads", str(threads), "--iterations", str(it), "--warmup", str(wu)]
    env = {"TORCHINDUCTOR_CACHE_DIR": os.path.join(a.out, "inductor-cache"), "OMP_NUM_THREADS": str(threads)}
    d = run_json(cmd, env=env, timeout=3600)
    if d is not None and not d.get("available", True):
        log(f"torch.compile unavailable: {d.get('reason')}")
        return None
    return d


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def paired(num, den):
    """Median over rounds of num[i] / den[i] (rounds where either run failed are left out)."""
    return med([n / d for n, d in zip(num, den) if n is not None and d])


def sgemm_run(a, threads):
    return run_json([a.bin, "bench", "--sgemm", str(a.sgemm_size), "--threads", str(threads), "--iterations", "5",
                     "--warmup", "1", "--json"])


def sgemm_summary(a, runs):
    runs = [r for r in runs if r]
    return {"gflops_median": med([r["gflops_median"] for r in runs]), "gflops_best": max(r["gflops_best"] for r in runs),
            "blas_core": runs[0]["blas_core"], "size": a.sgemm_size, "runs": len(runs)}


def host_steal():
    """(steal, total) jiffies of all CPUs from /proc/stat: time a virtual machine's
    vCPUs were ready but the host ran something else; (0, 0) where unknown."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_share(before, after):
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else None


GLOBAL_BATCH = 8  # samples per step of the training runs (micro-batch 4: two per rank on 1 rank)


def host_pace_binary(out):
    """scripts/host_pace.c compiled into `out` (None if no C compiler or 2 CPUs are not there)."""
    if (os.cpu_count() or 1) < 2:
        return None
    exe = os.path.join(out, "host_pace")
    src = os.path.join(ROOT, "scripts", "host_pace.c")
    for cc in ("cc", "gcc", "clang"):
        if subprocess.run([cc, "-O2", "-o", exe, src], capture_output=True).returncode == 0:
            return exe
    log("  host reference: no C compiler found, left out")
    return None


def chunk_times(text):
    """host_pace's output ("start_s chunk_ms" per line) -> the chunk times in ms."""
    return [float(line.split()[1]) for line in text.splitlines()]


def host_chunks(exe, cpu, seconds, iters):
    p = subprocess.run([exe, str(cpu), str(seconds), str(iters)], capture_output=True, text=True, check=True)
    return chunk_times(p.stdout)


def host_reference(exe, step_ms, seconds=8.0, chunk_ms=4.0):
    """The bench's scaling ratio for a program that never communicates, on
    this host now: a fixed compute loop on cores 0 and 1 at once, timed in
    ~chunk_ms chunks, summed into steps (k = step_ms / chunk_ms chunks). A
    2-rank step is the larger of the two cores' k-chunk sums; a 1-rank step,
    2k chunks of core 0 (two micro-batches, where mpirun binds rank 0); the
    ratio is median 1-rank step / median 2-rank step, as the bench's. It is 2
    where the cores keep an even pace and falls by what the slower core costs
    a synchronous step. Not a bound on the training's ratio (the loop runs in
    another minute, and a loop of multiply-adds in L2 need not feel the
    host's neighbours as the training does): the host's evenness in that
    minute (docs/performance.md, section 16). Also the median
    chunk time of each core (equal work: a difference is the host's doing).
    None if the probe failed."""
    try:
        calib = host_chunks(exe, 0, 0.3, 200)
        iters = max(1, round(200 * chunk_ms / statistics.median(calib)))
        k = max(1, round(step_ms / chunk_ms))
        with subprocess.Popen([exe, "1", str(seconds), str(iters)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True) as other:
            core0 = host_chunks(exe, 0, seconds, iters)
            core1 = chunk_times(other.stdout.read())
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return None
    n = min(len(core0), len(core1))
    one = [sum(core0[i:i + 2 * k]) for i in range(0, n - 2 * k + 1, 2 * k)]
    two = [max(sum(core0[i:i + k]), sum(core1[i:i + k])) for i in range(0, n - k + 1, k)]
    if not one or not two:
        return None
    return {"reference": statistics.median(one) / statistics.median(two),
            "chunk_ms": [statistics.median(core0), statistics.median(core1)]}


def round_reference(probe, two_rank_samples_per_s, label):
    """host_reference right after a round's 2-rank run (step time from its
    samples/s), logged under `label`: the reference, or None."""
    if not probe or not two_rank_samples_per_s:
        return None
    c = host_reference(probe, 1e3 * GLOBAL_BATCH / two_rank_samples_per_s)
    if c:
        log(f"{label}: host reference {c['reference']:.2f} (a compute loop on both cores, no communication; "
            f"chunk {c['chunk_ms'][0]:.2f} / {c['chunk_ms'][1]:.2f} ms on cores 0 / 1)")
    return c["reference"] if c else None


def machine():
    info = {"platform": platform.platform(), "nproc": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            txt = f.read()
        for line in txt.splitlines():
            if line.startswith("model name") and "cpu" not in info:
                info["cpu"] = line.split(":", 1)[1].strip()
            if line.startswith("flags") and "simd" not in info:
                fl = set(line.split(":", 1)[1].split())
                info["simd"] = " ".join(x for x in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
                                                     "avx512_bf16", "amx_tile") if x in fl)
    except OSError:
        pass
    info["loadavg_start"] = os.getloadavg()
    return info


def train_metrics(binary, data, ranks, run, steps, cell="faconvlstm", hidden=32, tile=32, extra_args=()):
    """One `faconvlstm train` under mpirun (one BLAS thread per rank) on the
    synthetic set in `data`, log_every = 1, no validation or checkpoints:
    (the metrics.jsonl step records after the first 3, peak RSS of each rank),
    or (None, []) if the run failed."""
    subprocess.run(["rm", "-rf", run])
    cfg = run + ".toml"
    with open(cfg, "w") as f:
        f.write(f"""seed = 1
run_dir = "{run}"
[model]
cell = "{cell}"
hidden = {hidden}
[data]
files = ["{data}/synth.nc"]
variables = ["tas", "psl", "uas", "vas"]
tile_height = {tile}
tile_width = {tile}
window = 8
[train]
steps = {steps}
global_batch = {GLOBAL_BATCH}
micro_batch = 4
threads = 1
log_every = 1
validate_every = 0
check_params_every = 0
[checkpoint]
every_steps = 0
every_minutes = 0
""")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1")
    cmd = ["mpirun", "--oversubscribe", "-np", str(ranks), "-x", "OPENBLAS_NUM_THREADS=1",
           "/usr/bin/time", "-f", "MAXRSS_KB %M", binary, "train", "--config", cfg, *extra_args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        log(f"training run failed ({ranks} ranks): {p.stderr[-1500:]}")
        return None, []
    with open(os.path.join(run, "metrics.jsonl")) as f:
        rows = [r for r in map(json.loads, f) if r.get("step", 0) >= 3 and r.get("samples_per_s")]
    return rows, [int(l.split()[1]) * 1024 for l in p.stderr.splitlines() if l.startswith("MAXRSS_KB")]


def train_run(a, data, ranks, run, steps):
    """(median samples/s of the steps after the first 3, peak RSS of each rank)."""
    rows, rss = train_metrics(a.bin, data, ranks, run, steps)
    return (med([r["samples_per_s"] for r in rows]) if rows else None), rss


def synth(a, times):
    data = os.path.join(a.out, f"synth-{times}")
    if not os.path.exists(os.path.join(data, "synth.nc")):
        subprocess.run([a.bin, "synth", "--out", data, "--times", str(times), "--height", "64", "--width", "64",
                        "--variables", "4"], check=True, capture_output=True)
    return data


def scaling(a):
    """2 ranks x 1 thread vs 1 rank x 1 thread: real training (faconvlstm train) on a
    synthetic NetCDF set (4 variables, 64 x 64 grid), samples/s from
    <run>/metrics.jsonl. Then 1 rank on a set 8x as long: peak RSS must not grow."""
    data = synth(a, a.synth_times)
    results = {1: [], 2: []}
    rss = {1: [], 2: []}
    probe = host_pace_binary(a.out)
    references = []
    for rnd in range(a.rounds):
        for ranks in (1, 2):
            sps, r = train_run(a, data, ranks, os.path.join(a.out, f"scaling-run-{ranks}"), a.scaling_steps)
            results[ranks].append(sps)   # None for a failed run: left out of the medians and of its round's ratio
            rss[ranks] += r
            if sps is not None:
                log(f"  scaling round {rnd + 1}: {ranks} rank(s) {sps:.1f} samples/s")
        # right after the round's 2-rank run: how even the two cores ran in that minute
        references.append(round_reference(probe, results[2][-1], f"  scaling round {rnd + 1}"))
    big = synth(a, a.synth_times * 8)
    _, rss_big = train_run(a, big, 1, os.path.join(a.out, "scaling-run-bigdata"), a.scaling_steps)
    one, two = med(results[1]), med(results[2])
    # the rounds' own ratios (1 and 2 ranks run back to back), as the other ratios of the table
    ratio = paired(results[2], results[1])
    ratios = [t / o if o and t else None for o, t in zip(results[1], results[2])]
    return {"one_rank_samples_per_s": one, "two_rank_samples_per_s": two,
            "ratio": ratio, "ratio_of_medians": two / one if one and two else None, "rounds": results,
            "host_reference": med(references), "host_references": references,
            "ratio_of_reference": med([r / c for r, c in zip(ratios, references) if r and c]),
            "peak_rss_per_rank_bytes": {k: max(v) if v else None for k, v in rss.items()},
            "data_frames": [a.synth_times, a.synth_times * 8],
            "peak_rss_1rank_bytes_by_data": [max(rss[1]) if rss[1] else None, max(rss_big) if rss_big else None]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build/release/faconvlstm"))
    ap.add_argument("--py", default=os.path.join(ROOT, ".venv-peer/bin/python"))
    ap.add_argument("--out", default=os.path.join(ROOT, "runs/bench"))
    ap.add_argument("--configs", default="small,default,large")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved repeats of every run")
    ap.add_argument("--config-rounds", default="",
                    help="rounds per config overriding --rounds, e.g. small=1,large=1 (a shorter run on a slow machine)")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch peer entirely")
    ap.add_argument("--no-scaling", action="store_true", help="skip the 2-rank training run")
    ap.add_argument("--no-winograd", action="store_true", help="skip the Winograd ConvLSTM row")
    ap.add_argument("--no-recompute", action="store_true", help="skip the FAConvLSTM recompute_gates row")
    ap.add_argument("--sgemm-size", type=int, default=2048)
    ap.add_argument("--scaling-steps", type=int, default=100)  # as bench_scaling.py: short runs let one hiccup decide
    ap.add_argument("--synth-times", type=int, default=64)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    configs = [c for c in a.configs.split(",") if c]
    threads = [int(t) for t in a.threads.split(",") if t]
    for c in configs:
        if c not in CONFIGS:
            ap.error(f"unknown config {c} (small, default, large)")
    rounds = {c: a.rounds for c in configs}
    for item in [x for x in a.config_rounds.split(",") if x]:
        c, _, n = item.partition("=")
        if c not in CONFIGS or not n.isdigit() or int(n) < 1:
            ap.error(f"--config-rounds: expected config=N (N >= 1), got {item}")
        if c in rounds:
            rounds[c] = int(n)

    report = {"machine": machine(), "configs": {c: CONFIGS[c] for c in configs}, "rows": [], "rounds": a.rounds,
              "rounds_by_config": rounds}
    log(f"bench: {report['machine'].get('cpu')}, load {report['machine']['loadavg_start']}")
    # sgemm: measured at the start and once in every round of every config, so the
    # GEMM rate sees the same load as the training runs it is compared with
    sg_runs = {t: [sgemm_run(a, t)] for t in threads}
    for t in threads:
        log(f"  sgemm {a.sgemm_size}^3, {t} thread(s): {sg_runs[t][0]['gflops_median']:.1f} GFLOP/s, "
            f"OpenBLAS {sg_runs[t][0]['blas_core']}")

    modes = [] if a.no_torch else (["eager"] if a.no_compile else ["eager", "compile"])
    cells = ["faconvlstm", "convlstm"] + ([] if a.no_winograd else [WINOGRAD]) + ([] if a.no_recompute else [RECOMPUTE])
    steal0 = host_steal()
    for cfg in configs:
        # Every round runs every thread count, so a slow phase of the host (a
        # neighbour on the other vCPU, minutes long) falls on both, not on one.
        runs = {t: {(cell, impl): [] for cell in cells for impl in ["swift"] + ([] if cell in VARIANT_SET else modes)}
                for t in threads}
        round_sgemm = {t: [] for t in threads}   # each thread count's sgemm run of every round, for the paired % sgemm
        for rnd in range(rounds[cfg]):
            for t in threads:
                sg_runs[t].append(sgemm_run(a, t))
                round_sgemm[t].append(sg_runs[t][-1])
                for cell in cells:
                    runs[t][(cell, "swift")].append(swift_bench(a, cell, cfg, t))
                    for m in modes if cell not in VARIANT_SET else []:
                        runs[t][(cell, m)].append(torch_bench(a, cell, cfg, t, m))
            log(f"  {cfg}: round {rnd + 1}/{rounds[cfg]} done ({', '.join(map(str, threads))} thread(s))")
        for t in threads:
            # per-round step times (None where a run failed), for the paired ratios
            round_ms = {key: [r["median_ms_per_step" if key[1] == "swift" else "ms_per_step"] if r else None for r in rs]
                        for key, rs in runs[t].items()}
            for cell in cells:
                sw = [r for r in runs[t][(cell, "swift")] if r]
                row = {"config": cfg, "threads": t, "cell": cell, "rounds": rounds[cfg]}
                if sw:
                    ms = med([r["median_ms_per_step"] for r in sw])
                    b = sw[0]["samples"]
                    row.update({"swift_ms": ms, "swift_sps": b / ms * 1e3,
                                "swift_cpu_ms": med([r["cpu_ms_per_step"] for r in sw]),
                                "gflops": sw[0]["training_flops_per_sample"] * b / ms * 1e-6,
                                "swift_rss": max(r["peak_rss_bytes"] for r in sw), "estimate": sw[0]["estimated_bytes"],
                                "swift_base_rss": max(r.get("baseline_rss_bytes", 0) for r in sw),
                                "swift_runs_ms": [r["median_ms_per_step"] for r in sw]})
                    row["sgemm_gflops"] = sgemm_summary(a, sg_runs[t])["gflops_median"]
                    row["gflops_vs_sgemm_of_medians"] = row["gflops"] / row["sgemm_gflops"]
                    flop_per_step = sw[0]["training_flops_per_sample"] * b
                    row["gflops_vs_sgemm"] = paired([flop_per_step / ms * 1e-6 if ms else None for ms in round_ms[(cell, "swift")]],
                                                    [s["gflops_median"] if s else None for s in round_sgemm[t]])
                for m in modes:
                    peer = BASE_CELL[cell]   # the peer runs the model as defined (direct convolution, gates held)
                    tr = [r for r in runs[t][(peer, m)] if r]
                    if tr:
                        tm = med([r["ms_per_step"] for r in tr])
                        row[f"{m}_ms"] = tm
                        row[f"{m}_sps"] = tr[0]["samples"] / tm * 1e3
                        row[f"{m}_rss"] = max(r["peak_rss_bytes"] for r in tr)
                        row[f"{m}_runs_ms"] = [r["ms_per_step"] for r in tr]
                        if "swift_ms" in row:
                            row[f"vs_{m}_of_medians"] = tm / row["swift_ms"]
                            row[f"vs_{m}"] = paired(round_ms[(peer, m)], round_ms[(cell, "swift")])
                        if m == "compile":
                            row["compile_first_step_s"] = max(r.get("first_step_seconds", 0) for r in tr)
                report["rows"].append(row)
            fa = [r for r in report["rows"] if r["config"] == cfg and r["threads"] == t and r["cell"] == "faconvlstm"][-1]
            for conv in [c for c in cells if BASE_CELL[c] == "convlstm"]:
                cv = [r for r in report["rows"] if r["config"] == cfg and r["threads"] == t and r["cell"] == conv][-1]
                if "swift_ms" in fa and "swift_ms" in cv:
                    # on the FA row against the model's ConvLSTM; on the Winograd row, the FA against it
                    dst = fa if conv == "convlstm" else cv
                    dst["fa_over_conv_step_of_medians"] = fa["swift_ms"] / cv["swift_ms"]
                    dst["fa_over_conv_step"] = paired(round_ms[("faconvlstm", "swift")], round_ms[(conv, "swift")])
                    dst["fa_over_conv_cpu"] = fa["swift_cpu_ms"] / cv["swift_cpu_ms"]

    report["sgemm"] = {t: sgemm_summary(a, sg_runs[t]) for t in threads}
    report["machine"]["steal_share"] = steal_share(steal0, host_steal())
    if not a.no_scaling:
        log("  2-rank scaling (faconvlstm train on synthetic data)")
        report["scaling"] = scaling(a)
    report["machine"]["loadavg_end"] = os.getloadavg()
    with open(os.path.join(a.out, "bench.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    print_table(report, modes)


def fmt(v, spec=".1f", none="-"):
    return none if v is None else format(v, spec)


def print_table(rep, modes):
    m = rep["machine"]
    print(f"machine: {m.get('cpu')}, {m.get('nproc')} CPUs, {m.get('simd')}")
    steal = m.get("steal_share")
    print(f"load average: start {' '.join(f'{x:.1f}' for x in m['loadavg_start'])}, "
          f"end {' '.join(f'{x:.1f}' for x in m['loadavg_end'])}; host steal {fmt(steal * 100 if steal is not None else None)}% "
          f"of the vCPUs' time during the runs; medians over interleaved rounds: "
          f"{', '.join(f'{c} {n}' for c, n in rep.get('rounds_by_config', {}).items()) or rep['rounds']}")
    for t, s in rep["sgemm"].items():
        print(f"sgemm {s['size']}^3, {t} thread(s), OpenBLAS {s['blas_core']}: {s['gflops_median']:.1f} GFLOP/s median "
              f"of {s['runs']} runs interleaved with the training runs, {s['gflops_best']:.1f} best")
    print()
    head = ["config", "thr", "cell", "swift sps", "ms/step"]
    for mo in modes:
        head += [f"{mo} sps", f"x {mo}"]
    head += ["FA/Conv", "GFLOP/s", "% sgemm", "RSS MiB", "base MiB", "est MiB", "RSS/est", "(RSS-base)/est"]
    for mo in modes:
        head += [f"{mo} RSS"]
    rows = []
    for r in rep["rows"]:
        row = [r["config"], str(r["threads"]), LABELS[r["cell"]],
               fmt(r.get("swift_sps")), fmt(r.get("swift_ms"))]
        for mo in modes:
            row += [fmt(r.get(f"{mo}_sps")), fmt(r.get(f"vs_{mo}"), ".2f")]
        row += [fmt(r.get("fa_over_conv_step"), ".3f"), fmt(r.get("gflops")),
                fmt(r["gflops_vs_sgemm"] * 100 if "gflops_vs_sgemm" in r else None, ".0f"),
                fmt(r["swift_rss"] / 2**20 if "swift_rss" in r else None),
                fmt(r["swift_base_rss"] / 2**20 if "swift_base_rss" in r else None),
                fmt(r["estimate"] / 2**20 if "estimate" in r else None),
                fmt(r["swift_rss"] / r["estimate"] if "swift_rss" in r else None, ".2f"),
                fmt((r["swift_rss"] - r["swift_base_rss"]) / r["estimate"] if "swift_rss" in r else None, ".2f")]
        for mo in modes:
            row += [fmt(r[f"{mo}_rss"] / 2**20 if f"{mo}_rss" in r else None, ".0f")]
        rows.append(row)
    widths = [max(len(h), *(len(x[i]) for x in rows)) if rows else len(h) for i, h in enumerate(head)]
    print("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    for row in rows:
        print("  ".join(x.rjust(w) for x, w in zip(row, widths)))
    print()
    print("sps = training samples/s (forward + backward + AdamW, Float32); x eager / x compile = torch step time / "
          "faconvlstm step time; FA/Conv = FAConvLSTM step time / ConvLSTM step time (faconvlstm); GFLOP/s counted as "
          "`faconvlstm describe` does, % sgemm against the sgemm run of the same round at the same threads; "
          "x eager, x compile, FA/Conv and % sgemm are medians of per-round ratios; Conv W = the ConvLSTM with "
          "conv_algorithm = winograd (fewer multiplies than the FLOPs counted, so its GFLOP/s are an effective rate; "
          "x eager against the peer's ConvLSTM; its FA/Conv = FA step / Conv W step); FA R = the FAConvLSTM with "
          "recompute_gates = true (x eager against the peer's FAConvLSTM); RSS = peak (VmHWM); "
          "base = RSS before the model is built (Swift runtime, Foundation, OpenBLAS: fixed); "
          "est = MemoryEstimate (parameters, gradients, AdamW, activations, scratch).")
    print("the same ratios as ratios of the medians: " + "; ".join(
        f"{r['config']} {r['threads']} thr {LABELS[r['cell']]}: "
        + ", ".join(f"{label} {fmt(r[key] * scale if key in r else None, spec)}"
                    for label, key, scale, spec in [*((f"x {mo}", f"vs_{mo}_of_medians", 1, ".2f") for mo in modes),
                                                    ("FA/Conv", "fa_over_conv_step_of_medians", 1, ".3f"),
                                                    ("% sgemm", "gflops_vs_sgemm_of_medians", 100, ".0f")]
                    if key in r)
        for r in rep["rows"]))
    def round_ms(r):
        keys = ["swift_runs_ms"] + ([] if r["cell"] in VARIANT_SET else [f"{mo}_runs_ms" for mo in modes])
        return " / ".join(" ".join(fmt(x) for x in r[k]) for k in keys if k in r)
    print("ms/step of every round (faconvlstm / " + " / ".join(modes) + "): "
          + "; ".join(f"{r['config']} {r['threads']} thr {LABELS[r['cell']]} {round_ms(r)}" for r in rep["rows"]))
    if "scaling" in rep:
        s = rep["scaling"]
        print(f"2-rank scaling (faconvlstm train, default model, 32x32 tiles, global batch {GLOBAL_BATCH}): 1 rank x 1 thread "
              f"{fmt(s['one_rank_samples_per_s'])} samples/s, 2 ranks x 1 thread {fmt(s['two_rank_samples_per_s'])} "
              f"samples/s, ratio {fmt(s['ratio'], '.2f')} (median of the rounds' ratios; "
              f"rounds {', '.join(fmt(o) + ' -> ' + fmt(t) for o, t in zip(s['rounds'][1], s['rounds'][2]))}); "
              f"host reference {fmt(s.get('host_reference'), '.2f')} (rounds {', '.join(fmt(c, '.2f') for c in s.get('host_references', []))}: "
              f"a compute loop on both cores, no communication, right after each 2-rank run), ratio / reference "
              f"{fmt(s.get('ratio_of_reference'), '.2f')}; peak RSS per rank "
              f"{', '.join(f'{k} rank(s): {fmt(v / 2**20 if v else None)} MiB' for k, v in s['peak_rss_per_rank_bytes'].items())}")
        small, big = s["peak_rss_1rank_bytes_by_data"]
        print(f"peak RSS of 1 rank with {s['data_frames'][0]} frames of data: {fmt(small / 2**20 if small else None)} MiB, "
              f"with {s['data_frames'][1]} frames: {fmt(big / 2**20 if big else None)} MiB")


if __name__ == "__main__":
    main()
