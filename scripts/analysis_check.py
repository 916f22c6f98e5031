"""Reads every file scripts/test-analysis.sh made with xarray and netCDF4 and
checks it against what faconvlstm printed and against independent references
(scikit-learn for the cluster scores, the synthetic data's true regimes).

Usage: analysis_check.py WORKDIR PLOTDIR. Prints one line per check and
'analysis check: N passed, M failed'; exits 1 on any failure.
"""
import json
import re
import sys
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr
from sklearn import metrics

work, plots = Path(sys.argv[1]), Path(sys.argv[2])
passed, failed = 0, 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {name} {detail}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def text(name):
    return (work / name).read_text()


def printed(pattern, name):
    """A number printed by faconvlstm (the first group of `pattern`)."""
    m = re.search(pattern, text(name))
    return float(m.group(1)) if m else float("nan")


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


STORM = "/usr/share/ncarg/data/cdf"
UNITS = "hours since 1996-01-05 00:00"

# ---------------------------------------------------------------- embed
emb = xr.open_dataset(work / "emb1.nc")
m = re.search(r"(\d+) time steps \((.+?) to (.+?)\) x (\d+) tile\(s\) x (\d+) components, window (\d+), step (\d+)", text("embed1.txt"))
check("embed: printed summary found", m is not None, text("embed1.txt").strip())
steps, first, last, tiles, de = int(m.group(1)), m.group(2), m.group(3), int(m.group(4)), int(m.group(5))
check("embed: dims", dict(emb.sizes) == {"time": steps, "tile_y": 4, "tile_x": 4, "embedding": de} and tiles == 16, str(dict(emb.sizes)))
check("embed: z dims order", emb.z.dims == ("time", "tile_y", "tile_x", "embedding"), str(emb.z.dims))
t = emb.time.values
check("embed: time decoded to datetimes", np.issubdtype(t.dtype, np.datetime64), str(t.dtype))
check("embed: first/last time as printed", str(t[0])[:16].replace("T", " ") == first and str(t[-1])[:16].replace("T", " ") == last, f"{t[0]} {t[-1]}")
check("embed: time step 6 h", np.all(np.diff(t) == np.timedelta64(6, "h")))
raw = netCDF4.Dataset(work / "emb1.nc")
check("embed: time units and calendar", raw["time"].units == UNITS and raw["time"].calendar == "standard", f"{raw['time'].units} / {raw['time'].calendar}")
check("embed: tile coordinates", emb.tile_lat.attrs["units"] == "degrees_north" and emb.tile_lon.attrs["units"] == "degrees_east"
      and np.all(np.diff(emb.tile_lat.values) > 0) and 20 <= emb.tile_lat.values.min() and emb.tile_lat.values.max() <= 60,
      f"lat {emb.tile_lat.values} lon {emb.tile_lon.values}")
check("embed: values finite", bool(np.isfinite(emb.z.values).all()))
check("embed: attributes", raw.checkpoint.endswith(".nc") and raw.checkpoint_step == 120 and "[data]" in raw.config and raw.objective == "forecast",
      f"{raw.checkpoint} step {raw.checkpoint_step}")
raw.close()

# 1 vs 2 ranks: identical data and attributes (creation time and command line excepted).
a, b = netCDF4.Dataset(work / "emb1.nc"), netCDF4.Dataset(work / "emb2.nc")
same = set(a.variables) == set(b.variables)
for name in a.variables:
    va, vb = a[name][:], b[name][:]
    same &= va.dtype == vb.dtype and va.shape == vb.shape and np.asarray(va).tobytes() == np.asarray(vb).tobytes()
    same &= {k: str(a[name].getncattr(k)) for k in a[name].ncattrs()} == {k: str(b[name].getncattr(k)) for k in b[name].ncattrs()}
attrs = lambda d: {k: d.getncattr(k) for k in d.ncattrs() if k not in ("history", "created")}
same &= attrs(a) == attrs(b)
check("embed: 1 and 2 ranks write identical files (bitwise data)", same, f"{len(a.variables)} variables")
a.close(), b.close()

# ---------------------------------------------------------------- predict vs evaluate
pred = xr.open_dataset(work / "pred.nc", decode_times=False)
inp = xr.merge([xr.open_dataset(f"{STORM}/{v.upper()}storm.cdf", decode_times=False)[[v]] for v in "uvtp"])
check("predict: dims named as the input's", set(pred.u.dims) == set(inp.u.dims) and pred.u.dims == inp.u.dims, str(pred.u.dims))
check("predict: coordinates equal the input's", np.array_equal(pred.lat.values, inp.lat.values.astype("f8")) and np.array_equal(pred.lon.values, inp.lon.values.astype("f8")))
check("predict: forecast time steps are frames 2..64", np.array_equal(pred.timestep.values, inp.timestep.values[1:].astype("f8")), f"{pred.timestep.values[:3]}...")
check("predict: time units and calendar", pred.timestep.attrs.get("units") == UNITS and pred.timestep.attrs.get("calendar") == "standard")
decoded = xr.open_dataset(work / "pred.nc")
check("predict: decoded first time 1996-01-05 06:00", str(decoded.timestep.values[0]).startswith("1996-01-05T06:00"), str(decoded.timestep.values[0]))
table = {line.split()[0]: line.split() for line in text("evaluate.txt").splitlines()[2:]}
report = json.loads(text("eval.json"))
lat = np.cos(np.deg2rad(inp.lat.astype("f8")))
for v in "uvtp":
    d = pred[v].astype("f8") - inp[v].astype("f8")  # xarray aligns on timestep, lat, lon
    check(f"predict: {v} missing exactly where the input is", np.array_equal(np.isnan(pred[v].values), np.isnan(inp[v].values[1:])))
    w = lat.broadcast_like(d).where(d.notnull())
    rmse = float(np.sqrt((w * d ** 2).sum() / w.sum()))
    bias = float((w * d).sum() / w.sum())
    shown = float(table[v][2])
    check(f"predict vs evaluate: {v} RMSE from xarray = printed", rel(rmse, shown) < 1e-6, f"xarray {rmse:.12g} printed {shown} rel {rel(rmse, shown):.1e}")
    check(f"predict vs evaluate: {v} RMSE from xarray = JSON", rel(rmse, report["variables"][v]["rmse"]) < 1e-9,
          f"rel {rel(rmse, report['variables'][v]['rmse']):.1e}")
    check(f"predict vs evaluate: {v} bias", rel(bias, report["variables"][v]["bias"]) < 1e-9, f"{bias:.9g}")
    check(f"predict vs evaluate: {v} points", int(d.notnull().sum()) == int(report["variables"][v]["points"]))
    pers = inp[v].astype("f8").shift(timestep=1).isel(timestep=slice(1, None)) - inp[v].astype("f8").isel(timestep=slice(1, None))
    wp = lat.broadcast_like(pers).where(pers.notnull())
    prmse = float(np.sqrt((wp * pers ** 2).sum() / wp.sum()))
    check(f"evaluate: {v} persistence RMSE", rel(prmse, report["variables"][v]["persistence_rmse"]) < 1e-9, f"{prmse:.9g}")
    train = inp[v].astype("f8").isel(timestep=slice(0, 56))  # the config's training frames (validation_range = [56, 63])
    clim = train.mean("timestep").fillna(float(train.mean()))
    dc = (clim - inp[v].astype("f8").isel(timestep=slice(1, None))).where(d.notnull())
    crmse = float(np.sqrt((w * dc ** 2).sum() / w.sum()))
    check(f"evaluate: {v} climatology RMSE", rel(crmse, report["variables"][v]["climatology_rmse"]) < 1e-9, f"{crmse:.9g}")
maps = xr.open_dataset(work / "maps.nc")
check("evaluate maps: grid and variables", maps.rmse_u.dims == ("lat", "lon") and "climatology_rmse_p" in maps and np.array_equal(maps.lat.values, inp.lat.values.astype("f8")))
d = pred.t.astype("f8") - inp.t.astype("f8")
check("evaluate maps: per-point RMSE = xarray", np.allclose(np.sqrt((d ** 2).mean("timestep")).values, maps.rmse_t.values, rtol=1e-9, equal_nan=True))

# ---------------------------------------------------------------- attention
att = xr.open_dataset(work / "att.nc")
check("attention: weights sum to 1", abs(float(att.row_weight.sum()) - 1) < 1e-5 and abs(float(att.column_weight.sum()) - 1) < 1e-5,
      f"{float(att.row_weight.sum()):.7f} {float(att.column_weight.sum()):.7f}")
check("attention: query inside the key coordinates", 18 in att.key_column.values and 16 in att.key_row.values)
check("attention: time", str(att.time.values[0]).startswith("1996-01-12T00:00"), str(att.time.values[0]))

# ---------------------------------------------------------------- cluster
truth = xr.open_dataset(work / "regimes/synth.nc").regime
for name, emb_file, out in [("window 1", "remb1.nc", "cluster1.txt"), ("window 4", "remb4.nc", "cluster4.txt")]:
    labels = xr.open_dataset(work / ("labels1.nc" if name == "window 1" else "labels4.nc"))
    e = xr.open_dataset(work / emb_file)
    x = e.z.values.reshape(e.sizes["time"], -1).astype("f8")
    lab = labels.label.values
    check(f"cluster {name}: time carried over", np.array_equal(labels.time.values, e.time.values) and labels.time.encoding.get("units") == e.time.encoding.get("units"))
    for key, ref in [("silhouette", metrics.silhouette_score(x, lab)), ("davies_bouldin", metrics.davies_bouldin_score(x, lab)),
                     ("calinski_harabasz", metrics.calinski_harabasz_score(x, lab))]:
        shown = printed(key + r" ([-0-9.e+]+)", out)
        check(f"cluster {name}: {key} = scikit-learn", rel(shown, ref) < 1e-6, f"printed {shown} sklearn {ref:.9g}")
    r = labels.restart_label.values
    stab = np.mean([metrics.adjusted_rand_score(r[i], r[j]) for i in range(len(r)) for j in range(i + 1, len(r))])
    shown = printed(r"stability \(mean ARI between restarts\) ([-0-9.e+]+)", out)
    check(f"cluster {name}: stability = scikit-learn mean ARI", rel(shown, stab) < 1e-6 or abs(shown - stab) < 1e-9, f"printed {shown} sklearn {stab:.9g}")
    ari = metrics.adjusted_rand_score(truth.values[labels.frame.values], lab)
    if name == "window 1":
        check(f"cluster {name}: ARI against the true regimes >= 0.9", ari >= 0.9, f"ARI {ari:.4f}")
    else:
        print(f"INFO cluster {name}: ARI against the true regimes {ari:.4f} (the LSTM memory lags the switches)")

# ---------------------------------------------------------------- plots
for png in ["loss.png", "validation.png", "embeddings.png", "error_maps.png", "attention.png"]:
    p = plots / png
    check(f"plot {png} written", p.exists() and p.stat().st_size > 10000 and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n")

print(f"analysis check: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
