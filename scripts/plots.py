"""PNG figures of a faconvlstm run and its analysis outputs (docs/outputs.md).

  plots.py --out DIR [--metrics RUN/metrics.jsonl] [--embeddings emb.nc --labels labels.nc
           [--truth data.nc:VAR]] [--maps maps.nc] [--attention att.nc]

Writes, for each input given:
  loss.png        training loss per logged step (log scale)
  validation.png  validation RMSE per variable with the persistence and climatology baselines
  embeddings.png  the embedding components over time, background shaded by cluster label
                  (and the true labels as a second strip with --truth)
  error_maps.png  per-grid-point RMSE of the model, persistence and climatology, one row per variable
  attention.png   row and column attention weights of one query point, over the input field
"""
import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402


def metrics_plots(path, out):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [r["loss"] for r in rows], label="training loss")
    val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
    if val:
        ax.plot(*zip(*val), "o-", label="validation loss")
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("latitude-weighted MSE (normalized units)")
    ax.set_title("Loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=110)
    plt.close(fig)

    names = list(dict.fromkeys(k[len("val_rmse_"):] for r in rows for k in r if k.startswith("val_rmse_")))  # channel order
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.6), squeeze=False)
    for ax, n in zip(axes[0], names):
        for key, style, label in [(f"val_rmse_{n}", "o-", "model"), (f"val_persistence_rmse_{n}", "--", "persistence"),
                                  (f"val_climatology_rmse_{n}", ":", "climatology")]:
            pts = [(r["step"], r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts), style, label=label)
        ax.set_title(f"validation RMSE: {n}")
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("RMSE (physical units)")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(out / "validation.png", dpi=110)
    plt.close(fig)


def embedding_plot(emb_path, labels_path, truth, out):
    emb = xr.open_dataset(emb_path)
    z = emb.z.values.reshape(emb.sizes["time"], -1, emb.sizes["embedding"]).mean(axis=1)
    # Standardized per component: what k-means separates is often a small
    # move of z compared with its mean.
    zs = (z - z.mean(axis=0)) / np.where(z.std(axis=0) > 0, z.std(axis=0), 1)
    time = emb.time.values
    labels = xr.open_dataset(labels_path).label.values if labels_path else None
    true = None
    if truth is not None:
        path, var = truth.rsplit(":", 1)
        true = xr.open_dataset(path)[var].values[emb.frame.values]
        if labels is not None:
            labels = match_labels(labels, true)
    strips = (labels is not None) + (true is not None)
    fig, axes = plt.subplots(1 + strips, 1, figsize=(10, 5), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [6] + [1] * strips})
    axes = axes[:, 0]
    ax = axes[0]
    tiles = emb.z.values.reshape(emb.sizes["time"], -1, emb.sizes["embedding"]).shape[1]
    for c in range(z.shape[1]):
        ax.plot(time, zs[:, c], lw=1.2, label=f"z[{c}]")
    ax.set_ylabel("component, standardized" + (f"\n(mean over {tiles} tiles)" if tiles > 1 else ""))
    ax.set_title(f"Embeddings z_t ({Path(emb_path).name})" + (" and k-means regimes" if labels is not None else ""))
    ax.legend(ncol=4, fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    cmap = plt.get_cmap("tab10")
    row = 1
    if labels is not None:
        for t0, t1, lab in runs(time, labels):
            ax.axvspan(t0, t1, color=cmap(lab % 10), alpha=0.12, lw=0)
        strip(axes[row], time, labels, "k-means\nlabel", cmap)
        row += 1
    if true is not None:
        strip(axes[row], time, true, "true\nregime", cmap)
    axes[-1].set_xlabel("time")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out / "embeddings.png", dpi=110)
    plt.close(fig)


def match_labels(labels, true):
    """Renames k-means labels to the true label they overlap most (greedy), so colors agree."""
    labels = np.asarray(labels)
    pairs = sorted(((np.sum((labels == a) & (true == b)), a, b) for a in np.unique(labels) for b in np.unique(true)), reverse=True)
    names, used = {}, set()
    for _, a, b in pairs:
        if a not in names and b not in used:
            names[a] = b
            used.add(b)
    spare = iter(sorted(set(range(len(names) + len(np.unique(labels)))) - used))
    return np.array([names[a] if a in names else next(spare) for a in labels])


def runs(time, labels):
    """(start, end, label) of each run of equal labels, the end at the next step."""
    step = time[1] - time[0] if len(time) > 1 else 1
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            yield time[start], (time[i] if i < len(time) else time[-1] + step), int(labels[start])
            start = i


def strip(ax, time, labels, name, cmap):
    for t0, t1, lab in runs(time, labels):
        ax.axvspan(t0, t1, color=cmap(lab % 10), lw=0)
    ax.set_yticks([])
    ax.set_ylabel(name, rotation=0, ha="right", va="center")


def maps_plot(path, out):
    ds = xr.open_dataset(path)
    keys = [k[len("rmse_"):] for k in ds.data_vars if k.startswith("rmse_")]
    kinds = [("rmse", "model"), ("persistence_rmse", "persistence"), ("climatology_rmse", "climatology")]
    fig, axes = plt.subplots(len(keys), 3, figsize=(12, 3.2 * len(keys)), squeeze=False)
    for row, key in zip(axes, keys):
        fields = [ds[f"{kind}_{key}"] for kind, _ in kinds]
        vmax = float(np.nanmax([f.max() for f in fields]))
        for ax, f, (_, label) in zip(row, fields, kinds):
            dims = f.dims
            im = ax.pcolormesh(ds[dims[1]], ds[dims[0]], f, vmin=0, vmax=vmax, cmap="viridis", shading="nearest")
            ax.set_title(f"{key}: {label} RMSE (mean {float(f.mean()):.3g})", fontsize=9)
            fig.colorbar(im, ax=ax, label=f.attrs.get("units", ""))
        row[0].set_ylabel(dims[0])
    for ax in axes[-1]:
        ax.set_xlabel(ds[keys[0] and f"rmse_{keys[0]}"].dims[1])
    fig.suptitle(f"Per-grid-point RMSE over {ds.attrs.get('time_range', 'the time range')}")
    fig.tight_layout()
    fig.savefig(out / "error_maps.png", dpi=100)
    plt.close(fig)


def attention_plot(path, out):
    ds = xr.open_dataset(path)
    qy, qx = int(ds.attrs["query_row"]), int(ds.attrs["query_column"])
    rows, cols = ds.key_row.values, ds.key_column.values
    ly, lx = int(np.where(rows == qy)[0][0]), int(np.where(cols == qx)[0][0])
    field_name = next(k for k in ds.data_vars if k.startswith("input_"))
    field = ds[field_name].values
    cross = np.full(field.shape, np.nan)
    cross[ly, :] = ds.row_weight.values
    cross[:, lx] = ds.column_weight.values
    cross[ly, lx] = np.nan  # the query takes part in both softmaxes: marked by the star
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    ax = axes[0]
    ax.imshow(field, cmap="Greys", origin="lower")
    im = ax.imshow(cross, cmap="magma_r", origin="lower", alpha=0.9)
    ax.plot(lx, ly, "c*", ms=14)
    ax.set_title(f"attention of ({qy}, {qx}) over the tile, on {field_name[6:]}", fontsize=9)
    ax.set_xlabel("tile column x'")
    ax.set_ylabel("tile row y'")
    fig.colorbar(im, ax=ax, label="softmax weight")
    x = ds.key_lon.values if "key_lon" in ds else np.arange(len(cols))
    axes[1].bar(x, ds.row_weight.values, width=0.8 * (np.nanmedian(np.diff(x)) if len(x) > 1 else 1))
    axes[1].axvline(x[lx], color="c", ls="--", label="query")
    axes[1].axhline(1 / len(x), color="k", lw=0.8, ls=":", label="uniform")
    axes[1].set_title("row weights A[y, x, x'] (sum 1)")
    axes[1].set_xlabel("longitude of key" if "key_lon" in ds else "tile column")
    axes[1].legend(loc="lower right")
    y = ds.key_lat.values if "key_lat" in ds else np.arange(len(rows))
    axes[2].bar(y, ds.column_weight.values, width=0.8 * (np.nanmedian(np.diff(y)) if len(y) > 1 else 1), color="tab:orange")
    axes[2].axvline(y[ly], color="c", ls="--", label="query")
    axes[2].axhline(1 / len(y), color="k", lw=0.8, ls=":", label="uniform")
    axes[2].set_title("column weights B[y, x, y'] (sum 1)")
    axes[2].set_xlabel("latitude of key" if "key_lat" in ds else "tile row")
    axes[2].legend(loc="lower right")
    fig.suptitle(f"Axial attention, layer {ds.attrs['layer']}, {ds.attrs['time_label']}, window step {ds.attrs['window_step']}")
    fig.tight_layout()
    fig.savefig(out / "attention.png", dpi=110)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--metrics")
    p.add_argument("--embeddings")
    p.add_argument("--labels")
    p.add_argument("--truth", help="FILE:VAR of true labels over the dataset's frames")
    p.add_argument("--maps")
    p.add_argument("--attention")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.metrics:
        metrics_plots(a.metrics, out)
    if a.embeddings:
        embedding_plot(a.embeddings, a.labels, a.truth, out)
    if a.maps:
        maps_plot(a.maps, out)
    if a.attention:
        attention_plot(a.attention, out)
    for f in sorted(out.glob("*.png")):
        print(f"plots: wrote {f}")


if __name__ == "__main__":
    main()
