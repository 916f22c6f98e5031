"""Cross-check the Swift model against the PyTorch peer through a debug-state directory.

    crosscheck.py D --generate [--cell C --objective O --dtype float64|float32 --seed N ...]
        writes a case's inputs into D (the format below), without running anything.
    crosscheck.py D
        reads D's inputs, runs the torch model in the case's dtype, writes D/torch/*,
        and, when D/swift/ exists, compares every output with it. Exit 0 if all
        agree within tolerance, 1 on a mismatch, 2 on bad or missing input.

Debug-state format (little-endian raw arrays, llm.c style):
  inputs   D/config.json   {"dtype", "seed", "model": {...ModelConfig...}, "batch": {samples, steps, height, width}}
           D/layout.json   [{"name", "shape", "offset"}] in flat order
           D/params.bin    all parameters, flat, dtype
           D/inputs.bin, D/mask.bin  [T, V, B, H, W] dtype
           D/lat_weights.bin [B, H] dtype;  D/day_of_year.bin [B, T] float64
  outputs  D/<impl>/loss.json {"numerator", "denominator", "loss"}
           D/<impl>/grads.bin (d loss / d params, flat), input_grads.bin [T, V, B, H, W],
           prediction.bin [Tt, V, B, H, W], embeddings.bin [T, B, de], hidden_l<l>.bin [T, Ch, B, H, W]
  input_grads is d loss / d inputs through the network, with the targets held
  fixed; torch also writes input_grads_total.bin, where the targets move with
  the inputs (Y = X), and the check accepts a Swift file matching either,
  saying which.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faconv_torch as ft  # noqa: E402

DTYPES = {"float64": (np.dtype("<f8"), torch.float64), "float32": (np.dtype("<f4"), torch.float32)}
TOLERANCE = {"float64": 1e-5, "float32": 1e-4}


# ----------------------------------------------------------------------------
# Writing and reading the format

def write_array(path, a, np_dtype):
    np.ascontiguousarray(np.asarray(a), dtype=np_dtype).tofile(path)


def read_array(path, shape, np_dtype):
    n = int(np.prod(shape))
    size = os.path.getsize(path)
    if size != n * np_dtype.itemsize:
        raise ValueError(f"{path}: {size} bytes, expected {n * np_dtype.itemsize} ({list(shape)} x {np_dtype.itemsize})")
    return np.fromfile(path, dtype=np_dtype).reshape(shape)


def random_case(cfg, samples, steps, height, width, seed):
    """A case that exercises every path: spec init for the weights, then random
    non-zero values for everything the spec starts at 0 (biases, peepholes,
    attn.gamma, FiLM), missing values, a halo, non-uniform latitude weights.
    Returns (params {name: float64 array}, inputs, mask, lat_weights, day_of_year) in float64."""
    rng = np.random.default_rng(seed)
    params = ft.initial_values(cfg, seed)
    for name, shape, init in ft.parameter_specs(cfg):
        if init[0] != "glorot":
            params[name] = params[name] + rng.uniform(-0.5, 0.5, size=shape)
    T, V, B, H, W = steps, cfg.channels, samples, height, width
    inputs = rng.standard_normal((T, V, B, H, W))
    mask = np.ones((T, V, B, H, W))
    mask[..., 0, :] = 0                     # halo: first row and last column of each tile
    mask[..., :, W - 1] = 0
    missing = rng.random((T, V, B, H, W)) < 0.1
    mask[missing] = 0
    inputs[missing] = 0                     # missing values enter the network as 0
    lat = np.deg2rad(rng.uniform(-80, 80, size=(B, 1)) + np.arange(H)[None, :] * 2.5)
    lat_weights = np.cos(lat) / np.cos(lat).mean()
    # Frames 5.25 days apart: with 6-hourly spacing the seasonal encodings of a
    # window are nearly equal and float32 gradients of head.tattn.wq/wk lose
    # ~5e-5 to cancellation in either implementation, too close to the tolerance.
    day_of_year = (rng.uniform(0, 365, size=(B, 1)) + np.arange(T)[None, :] * 5.25) % 365.2425
    return params, inputs, mask, lat_weights, day_of_year


def generate(d, cfg, dtype, seed, samples, steps, height, width, conv_algorithm=None):
    np_dtype, _ = DTYPES[dtype]
    params, inputs, mask, lat_weights, day_of_year = random_case(cfg, samples, steps, height, width, seed)
    os.makedirs(d, exist_ok=True)
    config = {"dtype": dtype, "seed": seed, "model": cfg.to_dict(),
              "batch": {"samples": samples, "steps": steps, "height": height, "width": width}}
    if conv_algorithm:
        config["conv_algorithm"] = conv_algorithm
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    model = ft.FAConvLSTM(cfg)
    with open(os.path.join(d, "layout.json"), "w") as f:
        json.dump(model.layout(), f, indent=1)
    flat = np.concatenate([params[name].reshape(-1) for name, _, _ in model.specs])
    write_array(os.path.join(d, "params.bin"), flat, np_dtype)
    write_array(os.path.join(d, "inputs.bin"), inputs, np_dtype)
    write_array(os.path.join(d, "mask.bin"), mask, np_dtype)
    write_array(os.path.join(d, "lat_weights.bin"), lat_weights, np_dtype)
    write_array(os.path.join(d, "day_of_year.bin"), day_of_year, np.dtype("<f8"))


def load_case(d):
    """Reads D's inputs. Returns (config dict, model with params loaded, batch dict of tensors)."""
    with open(os.path.join(d, "config.json")) as f:
        config = json.load(f)
    if config.get("dtype") not in DTYPES:
        raise ValueError(f"{d}/config.json: dtype must be float64 or float32, got {config.get('dtype')!r}")
    np_dtype, torch_dtype = DTYPES[config["dtype"]]
    cfg = ft.ModelConfig.from_dict(config["model"])
    model = ft.FAConvLSTM(cfg, dtype=torch_dtype)
    with open(os.path.join(d, "layout.json")) as f:
        layout = json.load(f)
    mine = model.layout()
    for i in range(max(len(layout), len(mine))):
        theirs = layout[i] if i < len(layout) else None
        ours = mine[i] if i < len(mine) else None
        if theirs != ours:
            raise ValueError(f"{d}/layout.json: entry {i} is {theirs}, the spec layout has {ours}")
    n = mine[-1]["offset"] + int(np.prod(mine[-1]["shape"]))
    model.load_flat(torch.from_numpy(read_array(os.path.join(d, "params.bin"), (n,), np_dtype).copy()))
    b = config["batch"]
    T, V, B, H, W = b["steps"], cfg.channels, b["samples"], b["height"], b["width"]
    batch = {
        "inputs": read_array(os.path.join(d, "inputs.bin"), (T, V, B, H, W), np_dtype),
        "mask": read_array(os.path.join(d, "mask.bin"), (T, V, B, H, W), np_dtype),
        "lat_weights": read_array(os.path.join(d, "lat_weights.bin"), (B, H), np_dtype),
        "day_of_year": read_array(os.path.join(d, "day_of_year.bin"), (B, T), np.dtype("<f8")),
    }
    return config, model, {k: torch.from_numpy(v.copy()) for k, v in batch.items()}


def run_torch(model, batch):
    """Forward and backward. Returns {output name: numpy array} plus loss.json's dict."""
    model.zero_grad()
    x = batch["inputs"].clone().requires_grad_(True)
    out = model(x, batch["mask"], batch["lat_weights"], batch["day_of_year"])
    out["loss"].backward()
    results = {
        "grads.bin": model.flat_grads(),
        "input_grads.bin": x.grad,
        "prediction.bin": out["prediction"],
        "embeddings.bin": out["embeddings"],
    }
    for l, h in enumerate(out["hidden"]):
        results[f"hidden_l{l}.bin"] = h
    # The other reading of an input gradient: the targets are the inputs too.
    x2 = batch["inputs"].clone().requires_grad_(True)
    out2 = model(x2, batch["mask"], batch["lat_weights"], batch["day_of_year"], targets=x2)
    (g2,) = torch.autograd.grad(out2["loss"], x2)
    results["input_grads_total.bin"] = g2
    model.zero_grad()
    loss = {k: float(out[k].detach()) for k in ("numerator", "denominator", "loss")}
    return {k: v.detach().numpy() for k, v in results.items()}, loss


def write_outputs(d, results, loss, np_dtype):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "loss.json"), "w") as f:
        json.dump(loss, f, indent=1)
    for name, a in results.items():
        write_array(os.path.join(d, name), a, np_dtype)


# ----------------------------------------------------------------------------
# Comparing

def rel_error(a, ref, floor=0.0):
    """||a - ref|| / max(||ref||, floor): one number per tensor, robust to single
    elements near zero. 0 when both are exactly zero."""
    diff = float(np.linalg.norm((a - ref).ravel()))
    scale = max(float(np.linalg.norm(ref.ravel())), floor)
    if diff == 0.0:
        return 0.0
    return diff / scale if scale > 0 else math.inf


def compare(d, model, results, loss, dtype, exact=None):
    """Compares D/torch results with D/swift. Prints one line per output and per
    parameter gradient; returns True if everything is within tolerance.
    exact: results of a float64 run of a float32 case, printed for information."""
    sd = os.path.join(d, "swift")
    np_dtype, _ = DTYPES[dtype]
    tol = TOLERANCE[dtype]
    ok = True
    rows = []

    def row(name, err, max_abs):
        nonlocal ok
        good = err <= tol
        ok = ok and good
        rows.append(f"  {name:<34} rel {err:10.3e}  max_abs {max_abs:10.3e}  {'ok' if good else 'MISMATCH'}")

    with open(os.path.join(sd, "loss.json")) as f:
        sloss = json.load(f)
    for k in ("numerator", "denominator", "loss"):
        a, b = loss[k], float(sloss[k])
        row(f"loss.{k}", abs(a - b) / abs(b) if b != 0 else abs(a), abs(a - b))

    theirs = {}
    for name, a in results.items():
        if name == "input_grads_total.bin":
            continue
        path = os.path.join(sd, name)
        if not os.path.exists(path):
            ok = False
            rows.append(f"  {name:<34} MISSING in {sd}")
            continue
        b = theirs[name] = read_array(path, a.shape, np_dtype).astype(np.float64)
        a64 = a.astype(np.float64)
        err = rel_error(a64, b)
        note = ""
        if name == "input_grads.bin":
            total = results["input_grads_total.bin"].astype(np.float64)
            err_total = rel_error(total, b)
            if err_total < err:
                err, a64, note = err_total, total, " (swift includes the target path: Y = X)"
        row(name[:-4] + note, err, float(np.abs(a64 - b).max()) if a64.size else 0.0)
        if name == "grads.bin":
            # Per parameter. A parameter whose gradient is tiny next to the rest is
            # measured against the typical size (1e-3 of the RMS element scale),
            # since a relative error of a near-zero vector says nothing.
            total_norm = float(np.linalg.norm(b))
            for e in model.layout():
                n = int(np.prod(e["shape"]))
                sl = slice(e["offset"], e["offset"] + n)
                floor = 1e-3 * total_norm * math.sqrt(n / b.size)
                row("  d " + e["name"], rel_error(a64[sl], b[sl], floor), float(np.abs(a64[sl] - b[sl]).max()))
    print(f"crosscheck {d}: torch vs swift, {dtype}, tolerance {tol:g}")
    print("\n".join(rows))
    if exact is not None:
        # Which side a float32 difference comes from: both against float64 torch.
        print("  float32 distance to a float64 run of the same case (information):")
        for name, b in theirs.items():
            print(f"    {name[:-4]:<32} torch {rel_error(results[name].astype(np.float64), exact[name]):10.3e}"
                  f"  swift {rel_error(b, exact[name]):10.3e}")
    print(f"crosscheck {d}: {'OK' if ok else 'MISMATCH'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--generate", action="store_true", help="write a case's inputs into DIR and stop")
    ap.add_argument("--cell", default="faconvlstm", choices=ft.CELLS)
    ap.add_argument("--objective", default="reconstruct", choices=ft.OBJECTIVES)
    ap.add_argument("--dtype", default="float64", choices=list(DTYPES))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--kernel", type=int, default=3)
    ap.add_argument("--dilations", default="1,2")
    ap.add_argument("--se-reduction", type=int, default=2)
    ap.add_argument("--attn-stride", type=int, default=2)
    ap.add_argument("--attn-dk", type=int, default=4)
    ap.add_argument("--embed-dim", type=int, default=6)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--height", type=int, default=7)
    ap.add_argument("--width", type=int, default=6)
    ap.add_argument("--conv-algorithm", choices=["im2col", "winograd"],
                    help="with --generate: how the Swift side computes the ConvLSTM's convolutions (the peer ignores it)")
    a = ap.parse_args()

    if a.generate:
        cfg = ft.ModelConfig(cell=a.cell, objective=a.objective, channels=a.channels, layers=a.layers,
                             hidden=a.hidden, kernel=a.kernel, dilations=[int(x) for x in a.dilations.split(",")],
                             se_reduction=a.se_reduction, attn_stride=a.attn_stride, attn_dk=a.attn_dk,
                             embed_dim=a.embed_dim, season_period_days=365.2425).validate()
        cfg.bottleneck = cfg.r   # written resolved, so no reader has to know the default
        generate(a.dir, cfg, a.dtype, a.seed, a.samples, a.steps, a.height, a.width, a.conv_algorithm)
        print(f"crosscheck: wrote case {a.cell}/{a.objective}/{a.dtype} to {a.dir}")
        return 0

    try:
        config, model, batch = load_case(a.dir)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"crosscheck: error: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)   # deterministic summation order, and the machine is shared
    dtype = config["dtype"]
    results, loss = run_torch(model, batch)
    write_outputs(os.path.join(a.dir, "torch"), results, loss, DTYPES[dtype][0])
    if not os.path.isdir(os.path.join(a.dir, "swift")):
        print(f"crosscheck {a.dir}: wrote torch outputs (no swift/ to compare with); loss {loss['loss']:.12g}")
        return 0
    exact = None
    if dtype == "float32":
        model64 = ft.FAConvLSTM(model.config, dtype=torch.float64)
        model64.load_flat(model.flat_params().double())
        exact, _ = run_torch(model64, {k: v.double() for k, v in batch.items()})
    try:
        return 0 if compare(a.dir, model, results, loss, dtype, exact) else 1
    except (OSError, ValueError, KeyError) as e:
        print(f"crosscheck: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
