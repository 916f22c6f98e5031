"""Speed peer: training samples/s of the PyTorch FAConvLSTM, forward + backward + AdamW, float32.

    .venv-peer/bin/python scripts/peers/torch_bench.py [--cell convlstm] [--threads 2] [--mode compile] [--json]

Mirrors `faconvlstm bench`: the same model and window options and defaults
(V 4, L 2, Ch 32, k 3, tile 32x32, T 8, B 4), synthetic data, untimed warm-up
steps, then timed steps. Reports the median step time (and the mean, which is
what the Swift bench prints), samples/s = B / median step, the forward,
backward and optimizer split, and the process's peak RSS (VmHWM).

--mode compile wraps the model in torch.compile (inductor, C++ on CPU); the
first warm-up step compiles. If compiling fails, the result says
"unavailable" with the reason, and the exit code is still 0.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
import traceback

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faconv_torch as ft  # noqa: E402


def proc_status_bytes(field):
    """A memory line of /proc/self/status in bytes (VmHWM: peak RSS, as the Swift
    bench reports it; VmRSS: now), 0 where there is no /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def synthetic_batch(c, B, T, H, W, seed):
    """Moving sine patterns per variable (smooth, like fields), all points valid."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(H, dtype=torch.float32)[:, None]
    x = torch.arange(W, dtype=torch.float32)[None, :]
    phase = torch.rand(c.channels, B, generator=g) * 2 * math.pi
    t = torch.arange(T, dtype=torch.float32)[:, None, None, None, None]
    inputs = torch.sin(0.3 * x + 0.2 * y + phase[None, :, :, None, None] + 0.5 * t)   # [T, V, B, H, W]
    mask = torch.ones_like(inputs)
    lat = torch.linspace(-60, 60, H) * math.pi / 180
    lat_weights = (torch.cos(lat) / torch.cos(lat).mean()).expand(B, H).contiguous()
    day_of_year = torch.arange(T, dtype=torch.float64).expand(B, T) + 100.0
    return inputs, mask, lat_weights, day_of_year


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cell", default="faconvlstm", choices=ft.CELLS)
    ap.add_argument("--objective", default="reconstruct", choices=ft.OBJECTIVES)
    ap.add_argument("--channels", type=int, default=4, help="V")
    ap.add_argument("--layers", type=int, default=2, help="L")
    ap.add_argument("--hidden", type=int, default=32, help="Ch")
    ap.add_argument("--kernel", type=int, default=3, help="k")
    ap.add_argument("--samples", type=int, default=4, help="B")
    ap.add_argument("--steps", type=int, default=8, help="T")
    ap.add_argument("--height", type=int, default=32)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--mode", default="eager", choices=("eager", "compile"))
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps; with compile the first one compiles")
    ap.add_argument("--iterations", type=int, default=10, help="timed steps")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    if min(a.threads, a.iterations, a.samples, a.steps, a.height, a.width) < 1:
        ap.error("--threads, --iterations and the window sizes must be at least 1")
    warmup = a.warmup if a.warmup is not None else 3

    torch.set_num_threads(a.threads)
    baseline_rss = proc_status_bytes("VmRSS")   # what `import torch` alone holds
    c = ft.ModelConfig(cell=a.cell, objective=a.objective, channels=a.channels, layers=a.layers,
                       hidden=a.hidden, kernel=a.kernel).validate()
    model = ft.FAConvLSTM(c, dtype=torch.float32)
    model.initialize(a.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    batch = synthetic_batch(c, a.samples, a.steps, a.height, a.width, a.seed)
    result = {"impl": "torch", "torch_version": torch.__version__, "mode": a.mode, "cell": a.cell,
              "objective": a.objective, "channels": a.channels, "layers": a.layers, "hidden": a.hidden,
              "kernel": a.kernel, "samples": a.samples, "steps": a.steps, "height": a.height, "width": a.width,
              "threads": a.threads, "warmup": warmup, "iterations": a.iterations,
              "parameters": sum(p.numel() for p in model.parameters()), "rss_after_import_bytes": baseline_rss}

    forward = model
    if a.mode == "compile":
        forward = torch.compile(model)

    times = []   # (forward, backward, optimizer) seconds per step
    loss = float("nan")
    compile_seconds = None
    try:
        for i in range(warmup + a.iterations):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            out = forward(*batch)
            t1 = time.perf_counter()
            out["loss"].backward()
            t2 = time.perf_counter()
            opt.step()
            t3 = time.perf_counter()
            loss = float(out["loss"].detach())
            if i == 0 and a.mode == "compile":
                compile_seconds = t3 - t0
            if i >= warmup:
                times.append((t1 - t0, t2 - t1, t3 - t2))
    except Exception as e:  # noqa: BLE001 - torch.compile can fail in many ways; report, don't crash
        if a.mode != "compile":
            raise
        reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        result.update({"available": False, "reason": reason, "peak_rss_bytes": proc_status_bytes("VmHWM")})
        if a.json:
            print(json.dumps(result, sort_keys=True))
        else:
            print(f"torch_bench: torch.compile unavailable: {reason}")
            traceback.print_exc(limit=3, file=sys.stderr)
        return 0

    steps = [sum(t) for t in times]
    median = statistics.median(steps)
    mean = sum(steps) / len(steps)
    result.update({
        "available": True,
        "samples_per_second": a.samples / median,
        "samples_per_second_mean": a.samples / mean,
        "ms_per_step": median * 1e3,
        "ms_per_step_mean": mean * 1e3,
        "ms_per_step_min": min(steps) * 1e3,
        "ms_forward": statistics.median(t[0] for t in times) * 1e3,
        "ms_backward": statistics.median(t[1] for t in times) * 1e3,
        "ms_optimizer": statistics.median(t[2] for t in times) * 1e3,
        "peak_rss_bytes": proc_status_bytes("VmHWM"),
        "final_loss": loss,
    })
    if compile_seconds is not None:
        result["first_step_seconds"] = compile_seconds
    if a.json:
        print(json.dumps(result, sort_keys=True))
    else:
        r = result
        print(f"torch_bench: {a.mode}, cell {a.cell}, B {a.samples}, T {a.steps}, {a.height}x{a.width}, "
              f"V {a.channels}, L {a.layers}, Ch {a.hidden}, k {a.kernel}, {a.threads} thread(s), "
              f"{a.iterations} steps after {warmup} warm-up")
        print(f"  {r['samples_per_second']:.1f} samples/s, median {r['ms_per_step']:.2f} ms/step "
              f"(mean {r['ms_per_step_mean']:.2f}; forward {r['ms_forward']:.2f}, backward {r['ms_backward']:.2f}, "
              f"optimizer {r['ms_optimizer']:.2f})")
        if compile_seconds is not None:
            print(f"  first step (compiling) {compile_seconds:.1f} s")
        print(f"  peak RSS {r['peak_rss_bytes'] / 2**20:.1f} MiB ({baseline_rss / 2**20:.1f} MiB of it is import torch), "
              f"loss after the last step {loss:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
