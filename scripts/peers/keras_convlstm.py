"""Cross-checks our ConvLSTM2D cell against Keras 3's ConvLSTM2D.

Reads a debug-state case directory (docs/design.md, "Debug state") of a
one-layer `convlstm` model that `faconvlstm debug-state` has run, rebuilds
the layer in Keras with the same weights, runs it on the same inputs and
prints the largest absolute difference of the hidden sequences H_t. Also
runs a plain NumPy float64 ConvLSTM from the MODEL.md equations, as a
second, full-precision reference.

Usage: python keras_convlstm.py CASE_DIR KERAS_TOLERANCE NUMPY_TOLERANCE
Exit status 1 when a difference exceeds its tolerance.
"""
import json
import os
import sys

import numpy as np

case, tolerance, np_tolerance = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
cfg = json.load(open(os.path.join(case, "config.json")))
dtype = np.float64 if cfg["dtype"] == "float64" else np.float32
if dtype == np.float64:
    import jax
    jax.config.update("jax_enable_x64", True)
import keras  # noqa: E402

keras.config.set_floatx(cfg["dtype"])
m, b = cfg["model"], cfg["batch"]
assert m["cell"] == "convlstm" and m["layers"] == 1, "the Keras check covers one ConvLSTM layer"
V, Ch, k = m["channels"], m["hidden"], m["kernel"]
B, T, H, W = b["samples"], b["steps"], b["height"], b["width"]

layout = {e["name"]: e for e in json.load(open(os.path.join(case, "layout.json")))}
params = np.fromfile(os.path.join(case, "params.bin"), dtype=dtype)


def param(name):
    e = layout[name]
    n = int(np.prod(e["shape"]))
    return params[e["offset"]:e["offset"] + n].reshape(e["shape"])


# ours [4Ch, Cin, k, k] (gates i, f, g, o) -> Keras [k, k, Cin, 4Ch] (gates i, f, c, o: same order)
wx = param("layers.0.conv.wx").transpose(2, 3, 1, 0)
wh = param("layers.0.conv.wh").transpose(2, 3, 1, 0)
bias = param("layers.0.conv.b")

# ours [T, V, B, H, W] -> Keras channels_last [B, T, H, W, V]
x = np.fromfile(os.path.join(case, "inputs.bin"), dtype=dtype).reshape(T, V, B, H, W).transpose(2, 0, 3, 4, 1)

layer = keras.layers.ConvLSTM2D(filters=Ch, kernel_size=k, padding="same", activation="tanh",
                                recurrent_activation="sigmoid", return_sequences=True,
                                data_format="channels_last", dtype=cfg["dtype"])
layer.build((B, T, H, W, V))
layer.set_weights([wx, wh, bias])
keras_h = np.asarray(layer(x))                       # [B, T, H, W, Ch]

ours = np.fromfile(os.path.join(case, "swift", "hidden_l0.bin"), dtype=dtype).reshape(T, Ch, B, H, W)
ours = ours.transpose(2, 0, 3, 4, 1)                 # -> [B, T, H, W, Ch]
diff = float(np.max(np.abs(keras_h.astype(np.float64) - ours.astype(np.float64))))
print(f"keras check ({cfg['dtype']}, backend {keras.backend.backend()}): max |H_keras - H_ours| = {diff:.3e} "
      f"over {ours.size} values (tolerance {tolerance:g})")


def numpy_convlstm():
    """MODEL.md's ConvLSTM2D in float64, straight from the equations."""
    xs = np.fromfile(os.path.join(case, "inputs.bin"), dtype=dtype).astype(np.float64).reshape(T, V, B, H, W)
    wx64, wh64 = param("layers.0.conv.wx").astype(np.float64), param("layers.0.conv.wh").astype(np.float64)
    b64 = param("layers.0.conv.b").astype(np.float64)
    pad = (k - 1) // 2

    def conv(inp, w):  # inp [C, B, H, W], w [O, C, k, k], cross-correlation, zero "same" padding
        p = np.pad(inp, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        out = np.zeros((w.shape[0], B, H, W))
        for a in range(k):
            for e in range(k):
                out += np.einsum("oc,cbhw->obhw", w[:, :, a, e], p[:, :, a:a + H, e:e + W])
        return out

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    h = np.zeros((Ch, B, H, W))
    c = np.zeros_like(h)
    hs = []
    for t in range(T):
        g = conv(xs[t], wx64) + conv(h, wh64) + b64[:, None, None, None]
        i, f, gg, o = g[:Ch], g[Ch:2 * Ch], g[2 * Ch:3 * Ch], g[3 * Ch:]
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(gg)
        h = sigmoid(o) * np.tanh(c)
        hs.append(h)
    return np.stack(hs).transpose(2, 0, 3, 4, 1)      # -> [B, T, H, W, Ch]


np_diff = float(np.max(np.abs(numpy_convlstm() - ours.astype(np.float64))))
print(f"numpy float64 check ({cfg['dtype']}): max |H_numpy - H_ours| = {np_diff:.3e} (tolerance {np_tolerance:g})")
sys.exit(0 if diff <= tolerance and np_diff <= np_tolerance else 1)
