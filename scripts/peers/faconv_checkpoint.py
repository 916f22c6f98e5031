"""faconvlstm checkpoints (../../shared/spec/CHECKPOINT.md v1) for the PyTorch peer.

    ck = load_checkpoint("run/checkpoints/ckpt-00000100.nc")   # ck.model is a FAConvLSTM
    write_checkpoint(path, model, step=..., norm_mean=..., norm_std=..., channel_names=[...])

The writer follows the spec exactly (Fletcher32 on every variable, NC_CHAR text
attributes, int64 counters) so it can serve as a reference for the Swift
writer; the loader validates names, shapes and types and raises
CheckpointError naming the file and the thing that is wrong.
"""

import datetime
import os
import sys
from dataclasses import dataclass, field
from typing import Optional

import netCDF4
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faconv_torch as ft  # noqa: E402

FORMAT = "faconvlstm-checkpoint"
FORMAT_VERSION = 1
SOFTWARE_VERSION = "faconv_torch peer 1"
ROOT_ATTRS = ("format", "format_version", "step", "epoch", "samples_seen", "seed", "world_size",
              "config", "created", "software_version")
MODEL_ATTRS = ("cell", "objective", "layers", "hidden", "kernel", "bottleneck", "dilations", "se_reduction",
               "attn_stride", "attn_dk", "embed_dim", "season_period_days", "channels")


class CheckpointError(Exception):
    pass


@dataclass
class Checkpoint:
    model: ft.FAConvLSTM
    config: ft.ModelConfig
    step: int
    epoch: int
    samples_seen: int
    seed: int
    world_size: int
    run_config: str                       # the resolved run configuration, TOML text
    created: str
    software_version: str
    norm_mean: np.ndarray                 # [V] float64
    norm_std: np.ndarray                  # [V] float64
    channel_names: list
    adam_m: Optional[dict] = None         # {name: float32 array}, None for plain SGD
    adam_v: Optional[dict] = None
    extra: dict = field(default_factory=dict)


def model_toml(cfg: ft.ModelConfig, seed: int):
    """A minimal resolved run configuration: the [model] section (all defaults written out)."""
    lines = [f"seed = {seed}", "", "[model]"]
    for key in ("cell", "objective"):
        lines.append(f'{key} = "{getattr(cfg, key)}"')
    for key in ("channels", "layers", "hidden", "kernel"):
        lines.append(f"{key} = {getattr(cfg, key)}")
    lines.append(f"bottleneck = {cfg.r}")
    lines.append(f"dilations = [{', '.join(str(d) for d in cfg.dilations)}]")
    for key in ("se_reduction", "attn_stride", "attn_dk", "embed_dim"):
        lines.append(f"{key} = {getattr(cfg, key)}")
    lines.append(f"season_period_days = {cfg.period!r}")
    return "\n".join(lines) + "\n"


def write_checkpoint(path, model: ft.FAConvLSTM, *, norm_mean, norm_std, channel_names,
                     step=0, epoch=0, samples_seen=0, seed=0, world_size=1, run_config=None,
                     adam_m=None, adam_v=None, created=None, software_version=SOFTWARE_VERSION):
    """Writes one checkpoint file. adam_m / adam_v: {name: array} or None (plain SGD: groups absent).
    Writes `path` directly; the commit protocol (tmp, fsync, rename) is the caller's."""
    cfg = model.config
    if len(norm_mean) != cfg.channels or len(norm_std) != cfg.channels or len(channel_names) != cfg.channels:
        raise ValueError(f"normalization needs {cfg.channels} channels")
    if any("," in n for n in channel_names):
        raise ValueError("channel names may not contain a comma (the attribute is comma-separated)")
    if (adam_m is None) != (adam_v is None):
        raise ValueError("adam_m and adam_v go together")
    created = created or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        # Text attributes as plain str are NC_CHAR in netCDF4-python (setncattr_string would make NC_STRING).
        nc.setncattr("format", FORMAT)
        nc.setncattr("format_version", np.int32(FORMAT_VERSION))
        nc.setncattr("step", np.int64(step))
        nc.setncattr("epoch", np.int64(epoch))
        nc.setncattr("samples_seen", np.int64(samples_seen))
        nc.setncattr("seed", np.int64(seed))
        nc.setncattr("world_size", np.int32(world_size))
        nc.setncattr("config", run_config if run_config is not None else model_toml(cfg, seed))
        nc.setncattr("created", created)
        nc.setncattr("software_version", software_version)

        dims = {}

        def dim(n):
            # One dimension per distinct length; the spec leaves names free.
            if n not in dims:
                dims[n] = nc.createDimension(f"n{n}", n).name
            return dims[n]

        def put_group(name, values):
            g = nc.createGroup(name)
            for pname, shape, _ in model.specs:
                v = g.createVariable(pname, "f4", tuple(dim(n) for n in shape), fletcher32=True)
                v[...] = np.asarray(values[pname], dtype=np.float32).reshape(shape)
            return g

        params = {n: p.detach().cpu().numpy() for n, p in model.named_parameters()}
        g = put_group("params", params)
        g.setncattr("cell", cfg.cell)
        g.setncattr("objective", cfg.objective)
        for key in ("layers", "hidden", "kernel"):
            g.setncattr(key, np.int32(getattr(cfg, key)))
        g.setncattr("bottleneck", np.int32(cfg.r))
        g.setncattr("dilations", np.asarray(cfg.dilations, dtype=np.int32))
        for key in ("se_reduction", "attn_stride", "attn_dk", "embed_dim"):
            g.setncattr(key, np.int32(getattr(cfg, key)))
        g.setncattr("season_period_days", np.float64(cfg.period))
        g.setncattr("channels", np.int32(cfg.channels))   # attribute order as CHECKPOINT.md lists them
        if adam_m is not None:
            put_group("adam_m", adam_m)
            put_group("adam_v", adam_v)

        g = nc.createGroup("normalization")
        c = dim(cfg.channels)
        g.createVariable("mean", "f8", (c,), fletcher32=True)[:] = np.asarray(norm_mean, dtype=np.float64)
        g.createVariable("std", "f8", (c,), fletcher32=True)[:] = np.asarray(norm_std, dtype=np.float64)
        g.setncattr("channels", ",".join(channel_names))


def _attr(obj, name, where, kind):
    """Reads a required attribute and checks its kind: 'text', 'int', 'float' or 'ints'."""
    if name not in obj.ncattrs():
        raise CheckpointError(f"{where}: missing attribute {name}")
    v = obj.getncattr(name)
    if kind == "text":
        ok = isinstance(v, str)
    elif kind == "ints":
        v = np.atleast_1d(v)
        ok = np.issubdtype(v.dtype, np.integer)
        v = [int(a) for a in v]
    else:
        a = np.asarray(v)
        ok = a.size == 1 and (np.issubdtype(a.dtype, np.integer) if kind == "int" else np.issubdtype(a.dtype, np.floating))
        v = (int if kind == "int" else float)(a.reshape(-1)[0]) if ok else v
    if not ok:
        raise CheckpointError(f"{where}: attribute {name} should be {kind}, got {v!r}")
    return v


def _read_var(v, where, dtype):
    """All values of a variable; HDF5 reports a failed Fletcher32 checksum as a RuntimeError."""
    v.set_auto_mask(False)   # parameters and statistics are never fill values
    try:
        return np.asarray(v[...], dtype=dtype)
    except RuntimeError as e:
        raise CheckpointError(f"{where}: cannot read ({e})") from e


def _read_group(nc, gname, specs, path):
    if gname not in nc.groups:
        raise CheckpointError(f"{path}: missing group /{gname}")
    g = nc.groups[gname]
    expected = {n: s for n, s, _ in specs}
    extra = sorted(set(g.variables) - set(expected))
    if extra:
        raise CheckpointError(f"{path}: /{gname} has variables the model does not: {', '.join(extra)}")
    out = {}
    for name, shape in expected.items():
        if name not in g.variables:
            raise CheckpointError(f"{path}: /{gname} lacks variable {name}")
        v = g.variables[name]
        if tuple(v.shape) != tuple(shape):
            raise CheckpointError(f"{path}: /{gname}/{name} has shape {list(v.shape)}, the model needs {list(shape)}")
        if v.dtype != np.float32:
            raise CheckpointError(f"{path}: /{gname}/{name} is {v.dtype}, the spec says float32")
        out[name] = _read_var(v, f"{path}: /{gname}/{name}", np.float32)
    return out


def load_checkpoint(path, dtype=torch.float32) -> Checkpoint:
    """Reads a checkpoint into a new torch model, validating it against the spec."""
    try:
        nc = netCDF4.Dataset(path, "r")
    except OSError as e:
        raise CheckpointError(f"{path}: cannot open ({e})") from e
    with nc:
        where = f"{path}: /"
        fmt = _attr(nc, "format", where, "text")
        if fmt != FORMAT:
            raise CheckpointError(f"{path}: format is {fmt!r}, expected {FORMAT!r}")
        version = _attr(nc, "format_version", where, "int")
        if version != FORMAT_VERSION:
            raise CheckpointError(f"{path}: format_version {version} (this reader knows {FORMAT_VERSION})")
        root = {name: _attr(nc, name, where, kind) for name, kind in
                (("step", "int"), ("epoch", "int"), ("samples_seen", "int"), ("seed", "int"), ("world_size", "int"),
                 ("config", "text"), ("created", "text"), ("software_version", "text"))}
        if "params" not in nc.groups:
            raise CheckpointError(f"{path}: missing group /params")
        g = nc.groups["params"]
        gw = f"{path}: /params"
        hp = {}
        for key in MODEL_ATTRS:
            kind = {"cell": "text", "objective": "text", "dilations": "ints", "season_period_days": "float"}.get(key, "int")
            hp[key] = _attr(g, key, gw, kind)
        try:
            cfg = ft.ModelConfig.from_dict(hp)
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"{path}: /params attributes: {e}") from e
        model = ft.FAConvLSTM(cfg, dtype=dtype)
        params = _read_group(nc, "params", model.specs, path)
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(torch.from_numpy(params[name]))

        has_m, has_v = "adam_m" in nc.groups, "adam_v" in nc.groups
        if has_m != has_v:
            raise CheckpointError(f"{path}: /adam_m and /adam_v must both be present or both absent")
        adam_m = _read_group(nc, "adam_m", model.specs, path) if has_m else None
        adam_v = _read_group(nc, "adam_v", model.specs, path) if has_v else None

        if "normalization" not in nc.groups:
            raise CheckpointError(f"{path}: missing group /normalization")
        ng = nc.groups["normalization"]
        names = _attr(ng, "channels", f"{path}: /normalization", "text").split(",")
        stats = {}
        for var in ("mean", "std"):
            if var not in ng.variables:
                raise CheckpointError(f"{path}: /normalization lacks variable {var}")
            v = ng.variables[var]
            if tuple(v.shape) != (cfg.channels,):
                raise CheckpointError(f"{path}: /normalization/{var} has shape {list(v.shape)}, expected [{cfg.channels}]")
            stats[var] = _read_var(v, f"{path}: /normalization/{var}", np.float64)
        if len(names) != cfg.channels:
            raise CheckpointError(f"{path}: /normalization attribute channels names {len(names)} channels, the model has {cfg.channels}")
    return Checkpoint(model=model, config=cfg, run_config=root.pop("config"), norm_mean=stats["mean"],
                      norm_std=stats["std"], channel_names=names, adam_m=adam_m, adam_v=adam_v, **root)
