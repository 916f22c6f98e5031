#!/usr/bin/env python3
"""Checkpoint interoperability with the PyTorch peer (scripts/peers/faconv_checkpoint.py).

    python scripts/crosscheck_checkpoint_peer.py --peer DIR --binary FACONVLSTM [--write-fixtures OUTDIR]

Swift -> peer: the binary's hidden `checkpoint-loop` writes checkpoints of
both cells (AdamW and SGD); the peer's `load_checkpoint` must read each, and
its parameters and moments must equal, bit for bit, the values recomputed here
from the peer's own initialization (`initial_values`, the Swift CounterRNG)
with the loop's rule: params = init(seed 7) + float32(step) * 1e-3, m = 0.1 p,
v = p * p, all in float32.

Peer -> Swift: `--write-fixtures OUTDIR` writes peer-ckpt-<cell>.nc with the
peer's `write_checkpoint` (values below), which the Swift test
Tests/TrainingTests/PeerCheckpointTests.swift reads back bit for bit; each is
also run through `faconvlstm inspect` here, which must accept it.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np


def expected_loop_values(ft, cfg, step, seed=7):
    init = ft.initial_values(cfg, seed)
    p = np.concatenate([init[n].reshape(-1) for n, _, _ in ft.parameter_specs(cfg)]).astype(np.float32)
    p = p + np.float32(step) * np.float32(1e-3)
    return p, p * np.float32(0.1), p * p


def flat(d, specs):
    return np.concatenate([np.asarray(d[n], dtype=np.float32).reshape(-1) for n, _, _ in specs])


def swift_to_peer(ft, fc, binary, tmp):
    for cell, sgd in (("faconvlstm", False), ("convlstm", True), ("convlstm", False), ("faconvlstm", True)):
        d = os.path.join(tmp, f"{cell}-{sgd}")
        args = [binary, "checkpoint-loop", "--dir", d, "--first-step", "4321", "--cell", cell,
                "--channels", "3", "--hidden", "8", "--layers", "2"] + (["--sgd"] if sgd else [])
        subprocess.run(args, check=True, capture_output=True)
        ck = fc.load_checkpoint(os.path.join(d, "ckpt-00004321.nc"))
        cfg = ck.config
        assert (cfg.cell, cfg.channels, cfg.hidden, cfg.layers, cfg.dilations) == (cell, 3, 8, 2, [1, 2, 4]), cfg
        p, m, v = expected_loop_values(ft, cfg, 4321)
        got = ck.model.flat_params().detach().numpy()
        assert np.array_equal(got.view(np.uint32), p.view(np.uint32)), f"{cell}: parameters differ"
        if sgd:
            assert ck.adam_m is None and ck.adam_v is None
        else:
            assert np.array_equal(flat(ck.adam_m, ck.model.specs).view(np.uint32), m.view(np.uint32)), f"{cell}: adam_m"
            assert np.array_equal(flat(ck.adam_v, ck.model.specs).view(np.uint32), v.view(np.uint32)), f"{cell}: adam_v"
        assert (ck.step, ck.epoch, ck.samples_seen, ck.seed, ck.world_size) == (4321, 432, 4321 * 16, 7, 1)
        assert ck.channel_names == ["v0", "v1", "v2"] and list(ck.norm_mean) == [0.5, 10.5, 20.5] and list(ck.norm_std) == [1.25, 2.25, 3.25]
        assert ck.software_version.startswith("faconvlstm ") and "[model]" in ck.run_config
        print(f"ok swift -> peer: {cell} {'SGD' if sgd else 'AdamW'}: {got.size} parameters bit for bit")


FIXTURE = dict(channels=3, hidden=6, layers=2, dilations=[1, 2], attn_stride=2, attn_dk=4, embed_dim=4,
               objective="forecast", season_period_days=365.0)


def write_fixtures(ft, fc, binary, outdir):
    """Parameters: the spec init from seed 5 with decoder.b = [1234.5678, -0.0, 1e-30]; moments
    m_i = 0.001 i - 0.5, v_i = 0.0001 i (float32, AdamW file only); counters at their extremes."""
    import torch
    os.makedirs(outdir, exist_ok=True)
    for cell, adam in (("faconvlstm", True), ("convlstm", False)):
        cfg = ft.ModelConfig(cell=cell, **FIXTURE)
        model = ft.FAConvLSTM(cfg)
        model.initialize(5)
        with torch.no_grad():
            model.get_parameter("decoder.b").copy_(torch.tensor([1234.5678, -0.0, 1e-30], dtype=torch.float32))
        i = np.arange(sum(int(np.prod(s)) for _, s, _ in model.specs), dtype=np.float32)
        m, v, off = {}, {}, 0
        for name, shape, _ in model.specs:
            n = int(np.prod(shape))
            m[name] = (i[off:off + n] * np.float32(0.001) - np.float32(0.5)).reshape(shape)
            v[name] = (i[off:off + n] * np.float32(0.0001)).reshape(shape)
            off += n
        path = os.path.join(outdir, f"peer-ckpt-{cell}.nc")
        fc.write_checkpoint(path, model, norm_mean=[280.5, -1.25, 0.0], norm_std=[10.0, 3.5, 1e-3],
                            channel_names=["t2m", "T@500", "u10"], step=2**40 + 1, epoch=7, samples_seen=2**35,
                            seed=2**63 - 1, world_size=4, adam_m=m if adam else None, adam_v=v if adam else None,
                            created="2026-01-02T03:04:05Z")
        r = subprocess.run([binary, "inspect", path], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert f"step: {2**40 + 1}\n" in r.stdout and "verified (Fletcher32)" in r.stdout, r.stdout
        print(f"ok peer -> swift: {path} passes faconvlstm inspect")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer", required=True, help="directory with faconv_torch.py and faconv_checkpoint.py")
    ap.add_argument("--binary", required=True, help="the faconvlstm binary")
    ap.add_argument("--write-fixtures", metavar="OUTDIR", help="also write peer-ckpt-<cell>.nc there")
    a = ap.parse_args()
    sys.path.insert(0, os.path.abspath(a.peer))
    import faconv_checkpoint as fc
    import faconv_torch as ft
    with tempfile.TemporaryDirectory() as tmp:
        swift_to_peer(ft, fc, a.binary, tmp)
        write_fixtures(ft, fc, a.binary, a.write_fixtures or os.path.join(tmp, "fixtures"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
