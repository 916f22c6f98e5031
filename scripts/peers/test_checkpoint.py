"""Checks of the checkpoint reader and writer (CHECKPOINT.md v1).

    .venv-peer/bin/python -m pytest scripts/peers/test_checkpoint.py   (or run it with python)

Besides the round trip, the written file is read back by the system's NetCDF
tools (ncdump, ncgen: the libnetcdf the Swift program links), which state the
on-disk types: NC_CHAR text, int64 counters, Fletcher32 on every variable.
"""

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile

import netCDF4
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faconv_torch as ft  # noqa: E402
from peer_testing import run_tests  # noqa: E402
import faconv_checkpoint as fc  # noqa: E402
from crosscheck import random_case  # noqa: E402

CFG = dict(channels=3, layers=2, hidden=6, dilations=[1, 2], attn_stride=2, attn_dk=4, embed_dim=4,
           objective="forecast", season_period_days=365.0)
MARK = np.array([1234.5678, -8765.4321, 3.25], dtype=np.float32)   # decoder.b, found in the file's bytes


def make(tmp, cell="faconvlstm", name="ck.nc", with_adam=True):
    cfg = ft.ModelConfig(cell=cell, **CFG)
    model = ft.FAConvLSTM(cfg)
    params = random_case(cfg, 1, 2, 3, 3, seed=5)[0]
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(torch.from_numpy(params[n]))
        model.get_parameter("decoder.b").copy_(torch.from_numpy(MARK))
    rng = np.random.default_rng(1)
    m = {n: rng.standard_normal(s).astype(np.float32) for n, s, _ in model.specs} if with_adam else None
    v = {n: rng.random(s).astype(np.float32) for n, s, _ in model.specs} if with_adam else None
    path = os.path.join(tmp, name)
    fc.write_checkpoint(path, model, norm_mean=[280.5, -1.25, 0.0], norm_std=[10.0, 3.5, 1e-3],
                        channel_names=["t2m", "T@500", "u10"], step=2**40 + 3, epoch=7, samples_seen=2**35,
                        seed=2**63 - 1, world_size=4, adam_m=m, adam_v=v, created="2026-01-02T03:04:05Z")
    return path, model, m, v


def test_round_trip_both_cells():
    with tempfile.TemporaryDirectory() as tmp:
        for cell in ft.CELLS:
            path, model, m, v = make(tmp, cell, name=f"{cell}.nc")
            ck = fc.load_checkpoint(path)
            assert ck.config == dataclasses.replace(model.config, bottleneck=model.config.r)   # stored resolved
            assert torch.equal(ck.model.flat_params(), model.flat_params())
            assert all(np.array_equal(ck.adam_m[n], m[n]) and np.array_equal(ck.adam_v[n], v[n]) for n in m)
            assert (ck.step, ck.epoch, ck.samples_seen, ck.seed, ck.world_size) == (2**40 + 3, 7, 2**35, 2**63 - 1, 4)
            assert ck.created == "2026-01-02T03:04:05Z"
            assert "[model]" in ck.run_config and f'cell = "{cell}"' in ck.run_config
            assert ck.channel_names == ["t2m", "T@500", "u10"]
            assert np.array_equal(ck.norm_mean, [280.5, -1.25, 0.0]) and np.array_equal(ck.norm_std, [10.0, 3.5, 1e-3])


def test_sgd_checkpoint_has_no_moments():
    with tempfile.TemporaryDirectory() as tmp:
        path, *_ = make(tmp, with_adam=False)
        with netCDF4.Dataset(path) as nc:
            assert set(nc.groups) == {"params", "normalization"}
        ck = fc.load_checkpoint(path)
        assert ck.adam_m is None and ck.adam_v is None


def test_on_disk_types_as_the_spec_says():
    """ncdump -h -s (system libnetcdf) shows types: 'LL' = int64, no suffix = int32,
    'string' prefix = NC_STRING (must not appear), _Fletcher32 per variable."""
    with tempfile.TemporaryDirectory() as tmp:
        path, model, *_ = make(tmp)
        cdl = subprocess.run(["ncdump", "-h", "-s", path], check=True, capture_output=True, text=True).stdout
        assert "string " not in cdl                     # every text attribute is NC_CHAR
        for a in ("step", "epoch", "samples_seen", "seed"):
            assert re.search(rf"\t:{a} = -?\d+LL ;", cdl), a
        for a in ("format_version", "world_size"):
            assert re.search(rf"\t:{a} = \d+ ;", cdl), a
        assert ':format = "faconvlstm-checkpoint" ;' in cdl
        assert re.search(r'\t:created = "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" ;', cdl)
        assert "\t\t:dilations = 1, 2 ;" in cdl and "\t\t:season_period_days = 365. ;" in cdl
        assert '\t\t:channels = "t2m,T@500,u10" ;' in cdl and "\t\t:channels = 3 ;" in cdl
        variables = re.findall(r"\t(float|double) ([\w.@]+)\(", cdl)
        n_params = len(model.specs)
        assert len(variables) == 3 * n_params + 2
        assert all(t == "float" for t, _ in variables[:3 * n_params])
        assert [v for _, v in variables[3 * n_params:]] == ["mean", "std"]
        assert cdl.count('_Fletcher32 = "true"') == len(variables)


def test_file_written_by_system_netcdf_loads():
    """ncdump | ncgen rewrites the file with the system libnetcdf (what Swift links),
    Fletcher32 included; the peer reads it back unchanged."""
    with tempfile.TemporaryDirectory() as tmp:
        path, model, *_ = make(tmp)
        cdl = subprocess.run(["ncdump", "-s", "-p", "9,17", path], check=True, capture_output=True, text=True).stdout
        cdl_path = os.path.join(tmp, "ck.cdl")
        with open(cdl_path, "w") as f:
            f.write(cdl)
        again = os.path.join(tmp, "again.nc")
        subprocess.run(["ncgen", "-k", "nc4", "-o", again, cdl_path], check=True)
        ck = fc.load_checkpoint(again)
        assert torch.equal(ck.model.flat_params(), model.flat_params())
        assert ck.seed == 2**63 - 1 and ck.step == 2**40 + 3


def test_corrupted_data_fails_its_checksum():
    with tempfile.TemporaryDirectory() as tmp:
        path, *_ = make(tmp)
        fc.load_checkpoint(path)
        data = bytearray(open(path, "rb").read())
        at = data.find(MARK.tobytes())
        assert at >= 0
        data[at + 1] ^= 0x40                                # one bit of decoder.b
        with open(path, "wb") as f:
            f.write(data)
        try:
            fc.load_checkpoint(path)
        except fc.CheckpointError as e:
            assert "decoder.b" in str(e), e
        else:
            raise AssertionError("a corrupted checkpoint loaded")


def test_reads_checkpoints_written_by_swift():
    """fixtures/swift-ckpt-<cell>.nc (see fixtures/README.md): Swift-initialized
    parameters from seed 5 with the last one set to 1234.5678, moments
    m_i = 0.001 i - 0.5 and v_i = 0.0001 i (in float32), extreme counters."""
    for cell in ft.CELLS:
        ck = fc.load_checkpoint(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", f"swift-ckpt-{cell}.nc"))
        assert ck.config == ft.ModelConfig(cell=cell, channels=3, hidden=6, layers=2, dilations=[1, 2], attn_stride=2,
                                           attn_dk=4, embed_dim=4, objective="forecast", bottleneck=3,
                                           season_period_days=365.2425)
        want = np.concatenate([v.reshape(-1) for v in ft.initial_values(ck.config, 5).values()]).astype(np.float32)
        want[-1] = np.float32(1234.5678)
        assert np.array_equal(ck.model.flat_params().numpy().view(np.uint32), want.view(np.uint32)), cell
        i = np.arange(want.size, dtype=np.float32)
        m = np.concatenate([ck.adam_m[n].reshape(-1) for n, _, _ in ck.model.specs])
        v = np.concatenate([ck.adam_v[n].reshape(-1) for n, _, _ in ck.model.specs])
        assert np.array_equal(m, i * np.float32(0.001) - np.float32(0.5)) and np.array_equal(v, i * np.float32(0.0001))
        assert (ck.step, ck.epoch, ck.samples_seen, ck.seed, ck.world_size) == (2**40, 7, 2**35, 2**63 - 1, 4)
        assert ck.channel_names == ["t2m", "T@500", "u10"] and list(ck.norm_std) == [10.0, 3.5, 1e-3]
        assert ck.created == "2026-01-02T03:04:05Z" and ck.software_version.startswith("faconvlstm")


def expect_error(path, words):
    try:
        fc.load_checkpoint(path)
    except fc.CheckpointError as e:
        assert all(w in str(e) for w in words), (str(e), words)
        return
    raise AssertionError(f"expected an error naming {words}")


def test_invalid_checkpoints_are_named():
    with tempfile.TemporaryDirectory() as tmp:
        base, *_ = make(tmp)

        def variant(name, edit):
            p = os.path.join(tmp, name)
            shutil.copy(base, p)
            with netCDF4.Dataset(p, "a") as nc:
                edit(nc)
            return p

        expect_error(variant("a.nc", lambda nc: nc.delncattr("step")), ["missing attribute step"])
        expect_error(variant("b.nc", lambda nc: nc.setncattr("format_version", np.int32(2))), ["format_version 2"])
        expect_error(variant("c.nc", lambda nc: nc.groups["params"].createVariable("decoder.bias", "f4", ("n3",))),
                     ["/params", "decoder.bias"])
        # A hidden size that disagrees with the stored shapes.
        expect_error(variant("d.nc", lambda nc: nc.groups["params"].setncattr("hidden", np.int32(5))),
                     ["/params/layers.0.bottleneck.wh", "shape"])
        # A file that lacks one parameter (written from a model missing its last spec).
        short = ft.FAConvLSTM(ft.ModelConfig(**CFG))
        short.specs = short.specs[:-1]
        lacking = os.path.join(tmp, "e.nc")
        fc.write_checkpoint(lacking, short, norm_mean=[0, 0, 0], norm_std=[1, 1, 1], channel_names=["a", "b", "c"])
        expect_error(lacking, ["/params lacks variable decoder.b"])
        expect_error(variant("e2.nc", lambda nc: nc.groups["adam_v"].createVariable("x", "f4", ("n3",))), ["/adam_v", "x"])
        expect_error(variant("f.nc", lambda nc: nc.groups["normalization"].setncattr("channels", "a,b")),
                     ["normalization", "channels"])
        expect_error(variant("g.nc", lambda nc: nc.groups["params"].setncattr("cell", "gru")), ["model.cell"])
        expect_error(os.path.join(tmp, "missing.nc"), ["cannot open"])


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
