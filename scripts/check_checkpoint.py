#!/usr/bin/env python3
"""Reads faconvlstm checkpoints with the tools climate scientists use
(netCDF4-python and xarray) and checks them against ../shared/spec/CHECKPOINT.md.

    python scripts/check_checkpoint.py CKPT.nc [CKPT.nc ...]
    python scripts/check_checkpoint.py --expect-damaged CKPT.nc   # the read must fail

The expected parameter names and shapes are computed here, independently of
the Swift code, from MODEL.md and the model hyperparameters in the file's
embedded run config (`[model]` of the `config` attribute), which must also
agree with the /params group attributes. Exits non-zero on the first mismatch.
"""

import sys
import tomllib

import netCDF4
import numpy as np
import xarray as xr


class Mismatch(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Mismatch(what)


def parameter_shapes(m):
    """[(name, shape)] in flat-buffer order, from MODEL.md's tables."""
    V, L, Ch, k = m["channels"], m["layers"], m["hidden"], m["kernel"]
    r = m["bottleneck"]
    q = max(1, r // m["se_reduction"])
    dk, de = m["attn_dk"], m["embed_dim"]
    out = []
    for l in range(L):
        cin = V if l == 0 else Ch
        p = f"layers.{l}."
        if m["cell"] == "faconvlstm":
            out += [(p + "bottleneck.wx", (r, cin)), (p + "bottleneck.wh", (r, Ch)), (p + "bottleneck.b", (r,))]
            out += [(p + f"mix.dw{j}", (r, k, k)) for j in range(len(m["dilations"]))]
            out += [(p + "mix.b", (r,)), (p + "se.w1", (q, r)), (p + "se.b1", (q,)), (p + "se.w2", (r, q)), (p + "se.b2", (r,)),
                    (p + "gates.w", (4 * Ch, r)), (p + "gates.b", (4 * Ch,)),
                    (p + "peephole.i", (Ch,)), (p + "peephole.f", (Ch,)), (p + "peephole.o", (Ch,)),
                    (p + "attn.wq", (dk, Ch)), (p + "attn.wk", (dk, Ch)), (p + "attn.wv", (Ch, Ch)), (p + "attn.wo", (Ch, Ch)),
                    (p + "attn.gamma", (1,))]
        else:
            out += [(p + "conv.wx", (4 * Ch, cin, k, k)), (p + "conv.wh", (4 * Ch, Ch, k, k)), (p + "conv.b", (4 * Ch,))]
    out += [("head.embed.w", (de, Ch)), ("head.embed.b", (de,)), ("head.tattn.wq", (de, de)), ("head.tattn.wk", (de, de)),
            ("head.tattn.wv", (de, de)), ("head.film.scale", (Ch, de)), ("head.film.shift", (Ch, de)),
            ("decoder.w", (V, Ch)), ("decoder.b", (V,))]
    return out


def scalar(nc, name, dtype):
    v = nc.getncattr(name)
    expect(isinstance(v, np.generic) and v.dtype == dtype, f"attribute {name} is {type(v).__name__} {getattr(v, 'dtype', '')}, expected {dtype}")
    return v.item()


def text(nc, name):
    v = nc.getncattr(name)
    expect(isinstance(v, str), f"attribute {name} is {type(v).__name__}, expected text")
    return v


def check(path):
    with netCDF4.Dataset(path) as nc:
        expect(nc.data_model == "NETCDF4", f"data model {nc.data_model}, expected NETCDF4")
        expect(text(nc, "format") == "faconvlstm-checkpoint", "format")
        expect(scalar(nc, "format_version", np.int32) == 1, "format_version")
        step = scalar(nc, "step", np.int64)
        for name in ("epoch", "samples_seen"):
            expect(scalar(nc, name, np.int64) >= 0, name)
        expect(0 <= scalar(nc, "seed", np.int64) <= 2**63 - 1, "seed")
        expect(scalar(nc, "world_size", np.int32) >= 1, "world_size")
        created = text(nc, "created")
        expect(len(created) == 20 and created[10] == "T" and created.endswith("Z"), f"created {created!r}")
        text(nc, "software_version")
        config = tomllib.loads(text(nc, "config"))
        m = config["model"]

        g = nc["params"]
        for key in ("cell", "objective"):
            expect(text(g, key) == m[key], f"/params attribute {key}")
        for key in ("layers", "hidden", "kernel", "bottleneck", "se_reduction", "attn_stride", "attn_dk", "embed_dim", "channels"):
            expect(scalar(g, key, np.int32) == m[key], f"/params attribute {key} = {g.getncattr(key)}, config says {m[key]}")
        dil = np.atleast_1d(g.getncattr("dilations"))
        expect(dil.dtype == np.int32 and list(dil) == m["dilations"], f"/params attribute dilations {dil!r}")
        expect(scalar(g, "season_period_days", np.float64) == m["season_period_days"], "season_period_days")

        shapes = parameter_shapes(m)
        groups = ["params"] + (["adam_m", "adam_v"] if "adam_m" in nc.groups else [])
        expect(set(nc.groups) == set(groups) | {"normalization"}, f"groups {sorted(nc.groups)}")
        values = {}
        for gname in groups:
            grp = nc[gname]
            expect(list(grp.variables) == [n for n, _ in shapes], f"/{gname} variables differ from MODEL.md's names (in order)")
            for name, shape in shapes:
                v = grp[name]
                expect(v.dtype == np.float32, f"/{gname}/{name} is {v.dtype}")
                expect(v.shape == shape, f"/{gname}/{name} has shape {v.shape}, expected {shape}")
                expect(v.filters()["fletcher32"], f"/{gname}/{name} without Fletcher32")
                v.set_auto_mask(False)
                data = v[...]   # a checksum failure raises here
                expect(np.isfinite(data).all(), f"/{gname}/{name} not finite")
                values[gname, name] = data

        ng = nc["normalization"]
        channels = text(ng, "channels").split(",")
        expect(len(channels) == m["channels"], "normalization channels")
        for name in ("mean", "std"):
            v = ng[name]
            expect(v.dtype == np.float64 and v.shape == (m["channels"],) and v.filters()["fletcher32"], f"/normalization/{name}")
        expect((ng["std"][:] > 0).all(), "std > 0")

    # The same file through xarray: every group, every variable, the same values.
    root = xr.open_dataset(path)
    expect(int(root.attrs["step"]) == step, "xarray root attribute step")
    root.close()
    for gname in groups:
        with xr.open_dataset(path, group=gname, mask_and_scale=False) as ds:
            expect(list(ds.data_vars) == [n for n, _ in shapes], f"xarray /{gname} variables")
            for name, shape in shapes:
                a = ds[name]
                expect(a.shape == shape and a.dtype == np.float32, f"xarray /{gname}/{name}: {a.shape} {a.dtype}")
                expect(np.array_equal(a.values.view(np.uint32), values[gname, name].view(np.uint32)), f"xarray /{gname}/{name} values")
    with xr.open_dataset(path, group="normalization") as ds:
        expect(ds["mean"].shape == (m["channels"],) and ds["std"].dtype == np.float64, "xarray /normalization")
        expect(ds.attrs["channels"].split(",") == channels, "xarray channels attribute")
    n = sum(int(np.prod(s)) for _, s in shapes)
    print(f"ok {path}: step {step}, {m['cell']}, {len(shapes)} parameters ({n} values), groups {', '.join(groups)}, "
          f"checked with netCDF4 {netCDF4.__version__} and xarray {xr.__version__}")


def main(argv):
    damaged = "--expect-damaged" in argv
    paths = [a for a in argv if a != "--expect-damaged"]
    if not paths:
        print(__doc__)
        return 2
    for path in paths:
        try:
            check(path)
        except Mismatch as e:
            print(f"FAIL {path}: {e}")
            return 1
        except (OSError, RuntimeError, KeyError) as e:
            if damaged:
                print(f"ok {path}: damaged file rejected by netCDF4: {type(e).__name__}: {e}")
                continue
            print(f"FAIL {path}: {type(e).__name__}: {e}")
            return 1
        if damaged:
            print(f"FAIL {path}: expected the read to fail")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
