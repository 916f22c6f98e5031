"""Self-checks of the PyTorch peer model.

    .venv-peer/bin/python -m pytest scripts/peers          (or)
    .venv-peer/bin/python scripts/peers/test_faconv_torch.py

Gradients: float64 autograd against central finite differences on a small
case with every path active (attention at t = 2, 4 with gamma != 0, FiLM,
peepholes, missing and halo targets, non-uniform latitude weights), for both
cells and both objectives; relative error < 1e-6. The index conventions of
MODEL.md (cross-correlation, dilation, row vs column attention, PE layout,
causal mask) are checked against naive loops written from the spec's formulas.
"""

import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faconv_torch as ft  # noqa: E402
from peer_testing import run_tests  # noqa: E402
from crosscheck import random_case  # noqa: E402

SMALL = dict(channels=2, layers=2, hidden=4, kernel=3, dilations=[1, 2], se_reduction=2,
             attn_stride=2, attn_dk=3, embed_dim=4, season_period_days=365.2425)
B, T, H, W = 2, 5, 5, 4          # H != W so a row/column mix-up shows
GRAD_TOL = 1e-6
torch.set_num_threads(1)          # tiny tensors: threads only add overhead on a shared machine


def make_case(cell, objective, seed=3, dtype=torch.float64, **over):
    cfg = ft.ModelConfig(cell=cell, objective=objective, **{**SMALL, **over})
    params, x, m, w, doy = random_case(cfg, B, T, H, W, seed)
    model = ft.FAConvLSTM(cfg, dtype=dtype)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(params[name]))
            # Sharper softmaxes and a strong residual, so the attention's
            # gradients are large enough for finite differences to resolve.
            if name.endswith(("attn.wq", "attn.wk")):
                p.mul_(4.0)
            if name.endswith("attn.gamma"):
                p.copy_(torch.sign(p) + p)
    t = lambda a: torch.from_numpy(np.asarray(a)).to(dtype)
    return model, t(x), t(m), t(w), torch.from_numpy(doy)


def loss_of(model, x, m, w, doy, y):
    return model(x, m, w, doy, targets=y)["loss"]


def check_gradients(cell, objective):
    """Returns the worst relative error of autograd vs central differences over:
    one random direction per parameter tensor, three single coordinates per
    tensor, and one random direction in the inputs."""
    model, x, m, w, doy = make_case(cell, objective)
    y = x.clone()
    assert float(model.get_parameter("layers.0.attn.gamma" if cell == "faconvlstm" else "decoder.b").detach().abs().sum()) > 0
    xg = x.clone().requires_grad_(True)
    loss = loss_of(model, xg, m, w, doy, y)
    loss.backward()
    rng = np.random.default_rng(0)
    h = 1e-3
    worst, where = 0.0, ""

    def central(perturb):
        """Fourth-order central difference: truncation O(h^4), so a step large
        enough to keep rounding (~1e-16 |loss| / h) far below 1e-6 of small gradients."""
        with torch.no_grad():
            f = {}
            done = 0.0
            for s in (1, -1, 2, -2):
                perturb(s * h - done)
                done = s * h
                f[s] = float(loss_of(model, x, m, w, doy, y))
            perturb(-done)
        return (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * h)

    def record(fd, ad, label):
        nonlocal worst, where
        err = abs(fd - ad) / max(abs(fd), abs(ad), 1e-10)
        if os.environ.get("GRADCHECK_VERBOSE"):
            print(f"  {label:<32} autograd {ad: .6e}  fd {fd: .6e}  rel {err:.1e}")
        if err > worst:
            worst, where = err, label

    for name, p in model.named_parameters():
        d = torch.from_numpy(rng.standard_normal(p.shape))
        d /= d.norm()
        record(central(lambda s: p.add_(s * d)), float((p.grad * d).sum()), name)
        # Single coordinates: the largest gradient of the tensor and a random one.
        # (A coordinate whose gradient is ~1e-9 of the loss is below what float64
        # differences resolve to 1e-6; the random direction covers it.)
        flat = p.view(-1)
        for i in {int(p.grad.abs().argmax()), int(rng.integers(flat.numel()))}:
            def bump(s, i=i):
                flat[i] += s
            record(central(bump), float(p.grad.view(-1)[i]), f"{name}[{i}]")
    d = torch.from_numpy(rng.standard_normal(x.shape))
    d /= d.norm()
    record(central(lambda s: x.add_(s * d)), float((xg.grad * d).sum()), "inputs")
    return worst, where


def test_gradients_faconvlstm_reconstruct():
    err, where = check_gradients("faconvlstm", "reconstruct")
    print(f"faconvlstm/reconstruct: max rel err {err:.2e} at {where}")
    assert err < GRAD_TOL, (err, where)


def test_gradients_faconvlstm_forecast():
    err, where = check_gradients("faconvlstm", "forecast")
    print(f"faconvlstm/forecast: max rel err {err:.2e} at {where}")
    assert err < GRAD_TOL, (err, where)


def test_gradients_convlstm_reconstruct():
    err, where = check_gradients("convlstm", "reconstruct")
    print(f"convlstm/reconstruct: max rel err {err:.2e} at {where}")
    assert err < GRAD_TOL, (err, where)


def test_gradients_convlstm_forecast():
    err, where = check_gradients("convlstm", "forecast")
    print(f"convlstm/forecast: max rel err {err:.2e} at {where}")
    assert err < GRAD_TOL, (err, where)


# ---------------------------------------------------------------------------
# Conventions, against naive loops written from MODEL.md's formulas

def test_depthwise_is_dilated_cross_correlation():
    rng = np.random.default_rng(1)
    r, k, d = 3, 3, 2
    u = rng.standard_normal((1, r, H, W))
    wt = rng.standard_normal((r, k, k))
    got = ft.depthwise(torch.from_numpy(u), torch.from_numpy(wt), d).numpy()[0]
    want = np.zeros((r, H, W))
    for c in range(r):
        for y in range(H):
            for x in range(W):
                for a in range(k):
                    for b in range(k):
                        yy, xx = y + d * (a - (k - 1) // 2), x + d * (b - (k - 1) // 2)
                        if 0 <= yy < H and 0 <= xx < W:
                            want[c, y, x] += wt[c, a, b] * u[0, c, yy, xx]
    assert np.abs(got - want).max() < 1e-12


def test_convlstm_conv_is_cross_correlation():
    """Gates of the ConvLSTM cell from a zero state equal the spec's Conv_k formula."""
    rng = np.random.default_rng(2)
    cfg = ft.ModelConfig(cell="convlstm", channels=2, hidden=1, layers=1)
    k = cfg.kernel
    P = {"layers.0.conv.wx": torch.from_numpy(rng.standard_normal((4, 2, k, k))),
         "layers.0.conv.wh": torch.from_numpy(rng.standard_normal((4, 1, k, k))),
         "layers.0.conv.b": torch.from_numpy(rng.standard_normal(4))}
    x = rng.standard_normal((1, 2, H, W))
    zero = torch.zeros(1, 1, H, W, dtype=torch.float64)
    h, c = ft.convlstm_step(P, "layers.0.", cfg, torch.from_numpy(x), zero, zero, 1)
    g = np.zeros((4, H, W))
    wx = P["layers.0.conv.wx"].numpy()
    for o in range(4):
        for y in range(H):
            for xx in range(W):
                g[o, y, xx] = P["layers.0.conv.b"][o]
                for i in range(2):
                    for a in range(k):
                        for b in range(k):
                            yy, x2 = y + a - (k - 1) // 2, xx + b - (k - 1) // 2
                            if 0 <= yy < H and 0 <= x2 < W:
                                g[o, y, xx] += wx[o, i, a, b] * x[0, i, yy, x2]
    sig = lambda v: 1 / (1 + np.exp(-v))
    c_want = sig(g[0]) * np.tanh(g[2])          # i, f, g, o order; C_{t-1} = 0
    h_want = sig(g[3]) * np.tanh(c_want)
    assert np.abs(c.numpy()[0, 0] - c_want).max() < 1e-12
    assert np.abs(h.numpy()[0, 0] - h_want).max() < 1e-12


def test_axial_attention_matches_loops():
    rng = np.random.default_rng(3)
    ch, dk = 3, 2
    hh = rng.standard_normal((1, ch, H, W))
    wq, wk, wv = rng.standard_normal((dk, ch)), rng.standard_normal((dk, ch)), rng.standard_normal((ch, ch))
    got = ft.axial_attention(*(torch.from_numpy(a) for a in (hh, wq, wk, wv))).numpy()[0]
    q = np.einsum("dc,cyx->dyx", wq, hh[0])
    k = np.einsum("dc,cyx->dyx", wk, hh[0])
    v = np.einsum("dc,cyx->dyx", wv, hh[0])
    want = np.zeros((ch, H, W))
    for y in range(H):
        for x in range(W):
            s = np.array([q[:, y, x] @ k[:, y, x2] for x2 in range(W)]) / math.sqrt(dk)
            a = np.exp(s - s.max()); a /= a.sum()
            want[:, y, x] += sum(a[x2] * v[:, y, x2] for x2 in range(W))
            s = np.array([q[:, y, x] @ k[:, y2, x] for y2 in range(H)]) / math.sqrt(dk)
            bb = np.exp(s - s.max()); bb /= bb.sum()
            want[:, y, x] += sum(bb[y2] * v[:, y2, x] for y2 in range(H))
    assert np.abs(got - want).max() < 1e-12


def test_attention_only_at_multiples_of_stride():
    """With s = 2 the attended steps are t = 2, 4 (1-based): changing gamma moves
    H_2 but not H_1, and H_3 only through the carried state."""
    model, x, m, w, doy = make_case("faconvlstm", "reconstruct")
    h0 = model(x, m, w, doy)["hidden"][0]
    with torch.no_grad():
        model.get_parameter("layers.0.attn.gamma").add_(0.3)
    h1 = model(x, m, w, doy)["hidden"][0]
    assert torch.equal(h0[0], h1[0])                       # t = 1: no attention
    assert not torch.allclose(h0[1], h1[1])                # t = 2: attended
    model2, *_ = make_case("faconvlstm", "reconstruct", attn_stride=0)
    with torch.no_grad():
        for (n, p), (_, p2) in zip(model.named_parameters(), model2.named_parameters()):
            p2.copy_(p)
        g = model2.get_parameter("layers.0.attn.gamma")
        h_a = model2(x, m, w, doy)["hidden"][0]
        g.add_(1.0)
        h_b = model2(x, m, w, doy)["hidden"][0]
    assert torch.equal(h_a, h_b)                           # s = 0: never attended


def test_seasonal_encoding_layout():
    pe = ft.seasonal_encoding(torch.tensor([[0.0, 91.3]], dtype=torch.float64), 6, 365.0)
    tau = 91.3
    want = [math.sin(2 * math.pi * tau / 365), math.cos(2 * math.pi * tau / 365),
            math.sin(4 * math.pi * tau / 365), math.cos(4 * math.pi * tau / 365),
            math.sin(6 * math.pi * tau / 365), math.cos(6 * math.pi * tau / 365)]
    assert pe.shape == (1, 2, 6)
    assert np.abs(pe[0, 1].numpy() - np.array(want)).max() < 1e-15
    assert np.abs(pe[0, 0].numpy() - np.array([0, 1, 0, 1, 0, 1])).max() == 0


def test_forecast_is_causal_and_reconstruct_is_not():
    for objective, causal in (("forecast", True), ("reconstruct", False)):
        model, x, m, w, doy = make_case("faconvlstm", objective)
        z0 = model(x, m, w, doy)["embeddings"]
        x2 = x.clone()
        x2[-1] += 1.0                                      # change only the last frame
        z1 = model(x2, m, w, doy)["embeddings"]
        assert torch.equal(z0[:-1], z1[:-1]) == causal, objective
        assert not torch.allclose(z0[-1], z1[-1])


def test_masked_targets_do_not_count_and_zero_denominator_gives_zero():
    model, x, m, w, doy = make_case("convlstm", "forecast")
    y = x.clone()
    with torch.no_grad():
        base = model(x, m, w, doy, targets=y)
        y2 = y + (1 - m) * 5.0                             # change only masked targets
        assert float(model(x, m, w, doy, targets=y2)["loss"]) == float(base["loss"])
        # Forecast ignores frame 1 as a target: its mask does not enter the denominator.
        m2 = m.clone(); m2[0] = 1 - m2[0]
        assert float(model(x, m2, w, doy, targets=y)["denominator"]) == float(base["denominator"])
    # numerator / denominator by hand
    want_den = float((w[None, None, :, :, None] * m[1:]).sum())
    assert abs(float(base["denominator"]) - want_den) < 1e-12 * want_den
    zero = model(x, torch.zeros_like(m), w, doy)
    zero["loss"].backward()
    assert float(zero["loss"].detach()) == 0.0 and float(zero["denominator"]) == 0.0
    assert float(model.flat_grads().abs().max()) == 0.0


# ---------------------------------------------------------------------------
# Layout and initialization

def test_parameter_counts_match_hand_count():
    """Defaults (V 4, L 2, Ch 32, k 3, r 16, q 4, dk 8, de 16), counted from MODEL.md's tables."""
    layer0 = 64 + 512 + 16 + 432 + 16 + 64 + 4 + 64 + 16 + 2048 + 128 + 96 + 256 + 256 + 1024 + 1024 + 1
    layer1 = layer0 - 64 + 16 * 32
    head = 512 + 16 + 768 + 1024 + 128 + 4
    fa = ft.FAConvLSTM(ft.ModelConfig())
    assert sum(p.numel() for p in fa.parameters()) == layer0 + layer1 + head
    cl = ft.FAConvLSTM(ft.ModelConfig(cell="convlstm"))
    conv = (128 * 4 * 9 + 128 * 32 * 9 + 128) + (128 * 32 * 9 * 2 + 128)
    assert sum(p.numel() for p in cl.parameters()) == conv + head
    names = [n for n, _ in fa.named_parameters()]
    assert names[:3] == ["layers.0.bottleneck.wx", "layers.0.bottleneck.wh", "layers.0.bottleneck.b"]
    assert names[-2:] == ["decoder.w", "decoder.b"]
    assert fa.get_parameter("layers.1.bottleneck.wx").shape == (16, 32)


def test_counter_rng_matches_swift():
    """Bit patterns printed by Swift's CounterRNG(seed:streamName:).uniform (Sources/Kernels/RNG.swift)."""
    v = ft.counter_uniform(1234567890123, "layers.0.bottleneck.wx", 4, -0.3, 0.3).view(np.uint64)
    assert [int(a) for a in v] == [0x3FB9DE54B0B0DB78, 0xBFCD95F457E43F72, 0x3FBF30C3A11897A8, 0xBFC9A03F1B81FCE0]
    assert int(ft.counter_uniform(0, "head.embed.w", 1, -1, 1).view(np.uint64)[0]) == 0x3FB4D34B2B621CE0


def test_spec_init():
    model = ft.FAConvLSTM(ft.ModelConfig(), dtype=torch.float32)
    model.initialize(7)
    P = {n: p.detach() for n, p in model.named_parameters()}
    assert float(P["layers.0.attn.gamma"]) == 0.0
    assert float(P["head.film.scale"].abs().max()) == 0.0
    gb = P["layers.0.gates.b"]
    assert float(gb[31]) == 0 and float(gb[32]) == 1 and float(gb[63]) == 1 and float(gb[64]) == 0
    bound = math.sqrt(6 / (4 + 32 + 16))
    wx = P["layers.0.bottleneck.wx"]
    assert float(wx.abs().max()) < bound and float(wx.abs().max()) > 0.5 * bound
    assert float(P["layers.0.bottleneck.wh"].abs().max()) < bound  # same bound as wx
    d64 = ft.FAConvLSTM(ft.ModelConfig(), dtype=torch.float64)
    d64.initialize(7)
    assert torch.equal(model.flat_params(), d64.flat_params().float())  # draw in double, then round


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
