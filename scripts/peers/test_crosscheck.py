"""Checks of the debug-state format and of crosscheck.py's verdicts, without Swift.

    .venv-peer/bin/python -m pytest scripts/peers/test_crosscheck.py   (or run it with python)

A case is generated, run by torch, and its torch outputs are copied to swift/:
that must pass; a perturbed gradient, a missing output or a wrong layout must
fail. A float32 case is compared with the float64 run of the same inputs, to
show the float32 tolerance leaves room for float32 rounding.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import crosscheck as cc  # noqa: E402
from peer_testing import run_tests  # noqa: E402


def run(*args):
    p = subprocess.run([sys.executable, os.path.join(HERE, "crosscheck.py"), *args], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def generated(tmp, *opts):
    d = os.path.join(tmp, "case")
    code, out = run(d, "--generate", *opts)
    assert code == 0, out
    code, out = run(d)
    assert code == 0, out
    return d


def test_generated_files_have_the_format_sizes():
    with tempfile.TemporaryDirectory() as tmp:
        d = generated(tmp, "--cell", "faconvlstm", "--objective", "forecast", "--dtype", "float32",
                      "--samples", "2", "--steps", "5", "--height", "7", "--width", "6", "--channels", "3",
                      "--hidden", "8", "--embed-dim", "6")
        config = json.load(open(os.path.join(d, "config.json")))
        assert config["dtype"] == "float32" and config["model"]["bottleneck"] == 4
        layout = json.load(open(os.path.join(d, "layout.json")))
        n = layout[-1]["offset"] + int(np.prod(layout[-1]["shape"]))
        frame = 5 * 3 * 2 * 7 * 6
        sizes = {"params.bin": 4 * n, "inputs.bin": 4 * frame, "mask.bin": 4 * frame, "lat_weights.bin": 4 * 2 * 7,
                 "day_of_year.bin": 8 * 2 * 5, "torch/grads.bin": 4 * n, "torch/input_grads.bin": 4 * frame,
                 "torch/prediction.bin": 4 * 4 * 3 * 2 * 7 * 6, "torch/embeddings.bin": 4 * 5 * 2 * 6,
                 "torch/hidden_l0.bin": 4 * 5 * 8 * 2 * 7 * 6, "torch/hidden_l1.bin": 4 * 5 * 8 * 2 * 7 * 6}
        for name, size in sizes.items():
            assert os.path.getsize(os.path.join(d, name)) == size, name
        loss = json.load(open(os.path.join(d, "torch", "loss.json")))
        assert abs(loss["loss"] - loss["numerator"] / loss["denominator"]) < 1e-12 * loss["loss"]


def test_verdicts():
    with tempfile.TemporaryDirectory() as tmp:
        d = generated(tmp, "--cell", "convlstm", "--objective", "reconstruct")
        sw = os.path.join(d, "swift")
        shutil.copytree(os.path.join(d, "torch"), sw)
        code, out = run(d)
        assert code == 0 and "OK" in out, out

        # The other input-gradient convention is accepted and named.
        shutil.copy(os.path.join(sw, "input_grads_total.bin"), os.path.join(sw, "input_grads.bin"))
        code, out = run(d)
        assert code == 0 and "target path" in out, out

        # One gradient element off by 1e-3 of its tensor: a mismatch naming the parameter.
        g = np.fromfile(os.path.join(sw, "grads.bin"), dtype="<f8")
        layout = json.load(open(os.path.join(d, "layout.json")))
        e = next(e for e in layout if e["name"] == "layers.1.conv.wh")
        sl = slice(e["offset"], e["offset"] + int(np.prod(e["shape"])))
        g[e["offset"] + 7] += 1e-3 * np.linalg.norm(g[sl])
        g.tofile(os.path.join(sw, "grads.bin"))
        code, out = run(d)
        assert code == 1, out
        bad = [line for line in out.splitlines() if "MISMATCH" in line and "d " in line]
        assert len(bad) == 1 and "layers.1.conv.wh" in bad[0], out

        os.remove(os.path.join(sw, "hidden_l1.bin"))
        code, out = run(d)
        assert code == 1 and "hidden_l1.bin" in out and "MISSING" in out, out

        layout[0], layout[1] = layout[1], layout[0]
        json.dump(layout, open(os.path.join(d, "layout.json"), "w"))
        code, out = run(d)
        assert code == 2 and "layout.json" in out, out


def test_float32_tolerance_covers_float32_rounding():
    """torch float32 against torch float64 on the same (float32-exact) inputs."""
    with tempfile.TemporaryDirectory() as tmp:
        d32 = generated(tmp, "--dtype", "float32", "--objective", "forecast")
        config, model32, batch32 = cc.load_case(d32)
        r32, l32 = cc.run_torch(model32, batch32)
        model64 = cc.ft.FAConvLSTM(model32.config, dtype=cc.torch.float64)
        model64.load_flat(model32.flat_params().double())
        r64, l64 = cc.run_torch(model64, {k: v.double() for k, v in batch32.items()})
        worst = max(cc.rel_error(r32[k].astype(np.float64), r64[k]) for k in r32)
        assert worst < cc.TOLERANCE["float32"] / 10, worst
        assert abs(l32["loss"] - l64["loss"]) < 1e-6 * l64["loss"]


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
