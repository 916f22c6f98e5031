"""FAConvLSTM in PyTorch: an independent reference of ../../shared/spec/MODEL.md (v1).

It cross-checks the Swift model number for number (crosscheck.py) and is the
speed peer the Swift trainer is measured against (torch_bench.py). Written to
be read next to MODEL.md, not to be fast.

Shape legend:
  T steps, B samples, V variables (channels), H x W tile, Ch hidden channels,
  r bottleneck, q SE squeeze channels, dk axial-attention key width, de embedding width.
Batch tensors use the Swift layout `[T, V, B, H, W]` (Sources/Model/Batch.swift);
inside the network one frame is `[B, C, H, W]`, torch's convolution layout.

Parameters are registered under exactly the spec names (`layers.0.bottleneck.wx`,
..., `decoder.b`), in the order of Sources/Model/ParameterLayout.swift, so
`named_parameters()` is the flat layout and `flat_params()` is `params.bin`.

Readings of MODEL.md where it leaves room (see README.md):
  * Forecast runs all T frames through the cells and the head (the `embed`
    output is [T, B, de]); the decoder is applied at steps 1..T-1 only.
  * The loss's targets are data: gradients w.r.t. the inputs are taken through
    the network only (targets detached), unless asked otherwise.
  * The loss numerator and denominator are summed in float64 whatever the model
    dtype (design.md: reductions that decide something are Double).
"""

import math
from dataclasses import dataclass, field, asdict
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

CELLS = ("faconvlstm", "convlstm")
OBJECTIVES = ("reconstruct", "forecast")


@dataclass
class ModelConfig:
    """Every option of MODEL.md with its default; names as in TOML and checkpoints."""
    cell: str = "faconvlstm"
    objective: str = "reconstruct"
    channels: int = 4                    # V
    layers: int = 2                      # L
    hidden: int = 32                     # Ch
    kernel: int = 3                      # k, odd
    bottleneck: Optional[int] = None     # r; None = max(1, Ch // 2)
    dilations: list = field(default_factory=lambda: [1, 2, 4])
    se_reduction: int = 4                # rho
    attn_stride: int = 4                 # s; 0 disables
    attn_dk: int = 8                     # dk
    embed_dim: int = 16                  # de, even
    season_period_days: Optional[float] = None  # P; None = 365.2425

    @property
    def r(self):
        return self.bottleneck if self.bottleneck is not None else max(1, self.hidden // 2)

    @property
    def q(self):
        return max(1, self.r // self.se_reduction)

    @property
    def period(self):
        return self.season_period_days if self.season_period_days is not None else 365.2425

    def validate(self):
        def bad(key, why):
            raise ValueError(f"model.{key}: {why}")
        if self.cell not in CELLS: bad("cell", f"must be one of {CELLS}, got {self.cell!r}")
        if self.objective not in OBJECTIVES: bad("objective", f"must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.channels < 1: bad("channels", f"must be at least 1, got {self.channels}")
        if self.layers < 1: bad("layers", f"must be at least 1, got {self.layers}")
        if self.hidden < 1: bad("hidden", f"must be at least 1, got {self.hidden}")
        if self.kernel < 1 or self.kernel % 2 == 0: bad("kernel", f"must be a positive odd number, got {self.kernel}")
        if self.bottleneck is not None and self.bottleneck < 1: bad("bottleneck", f"must be at least 1, got {self.bottleneck}")
        if not self.dilations or min(self.dilations) < 1: bad("dilations", f"need one or more dilations >= 1, got {self.dilations}")
        if self.se_reduction < 1: bad("se_reduction", f"must be at least 1, got {self.se_reduction}")
        if self.attn_stride < 0: bad("attn_stride", f"must be 0 (off) or positive, got {self.attn_stride}")
        if self.attn_dk < 1: bad("attn_dk", f"must be at least 1, got {self.attn_dk}")
        if self.embed_dim < 2 or self.embed_dim % 2: bad("embed_dim", f"must be a positive even number, got {self.embed_dim}")
        p = self.season_period_days
        if p is not None and not (p > 0 and math.isfinite(p)): bad("season_period_days", f"must be a positive number, got {p}")
        return self

    def to_dict(self):
        return asdict(self)

    @staticmethod
    def from_dict(d):
        return ModelConfig(**{**d, "dilations": list(d.get("dilations", [1, 2, 4]))}).validate()


# ----------------------------------------------------------------------------
# Parameter layout and initialization (MODEL.md tables)

def parameter_specs(c: ModelConfig):
    """[(name, shape, init)] in flat-buffer order; init is ("glorot", bound),
    ("zeros",) or ("forget_one", Ch) (zeros except the f slice [Ch, 2Ch) = 1)."""
    specs = []

    def add(name, shape, init):
        specs.append((name, tuple(shape), init))

    def glorot(fan_in, fan_out):
        return ("glorot", math.sqrt(6.0 / (fan_in + fan_out)))

    ch, k, zeros = c.hidden, c.kernel, ("zeros",)
    for l in range(c.layers):
        cin = c.channels if l == 0 else ch
        p = f"layers.{l}."
        if c.cell == "faconvlstm":
            r, q, dk = c.r, c.q, c.attn_dk
            add(p + "bottleneck.wx", (r, cin), glorot(cin + ch, r))
            add(p + "bottleneck.wh", (r, ch), glorot(cin + ch, r))   # same bound as wx
            add(p + "bottleneck.b", (r,), zeros)
            for j in range(len(c.dilations)):
                add(p + f"mix.dw{j}", (r, k, k), glorot(k * k, k * k))
            add(p + "mix.b", (r,), zeros)
            add(p + "se.w1", (q, r), glorot(r, q))
            add(p + "se.b1", (q,), zeros)
            add(p + "se.w2", (r, q), glorot(q, r))
            add(p + "se.b2", (r,), zeros)
            add(p + "gates.w", (4 * ch, r), glorot(r, 4 * ch))
            add(p + "gates.b", (4 * ch,), ("forget_one", ch))
            add(p + "peephole.i", (ch,), zeros)
            add(p + "peephole.f", (ch,), zeros)
            add(p + "peephole.o", (ch,), zeros)
            add(p + "attn.wq", (dk, ch), glorot(ch, dk))
            add(p + "attn.wk", (dk, ch), glorot(ch, dk))
            add(p + "attn.wv", (ch, ch), glorot(ch, ch))
            add(p + "attn.wo", (ch, ch), glorot(ch, ch))
            add(p + "attn.gamma", (1,), zeros)
        else:
            add(p + "conv.wx", (4 * ch, cin, k, k), glorot(cin * k * k, 4 * ch * k * k))
            add(p + "conv.wh", (4 * ch, ch, k, k), glorot(ch * k * k, 4 * ch * k * k))
            add(p + "conv.b", (4 * ch,), ("forget_one", ch))
    de = c.embed_dim
    add("head.embed.w", (de, ch), glorot(ch, de))
    add("head.embed.b", (de,), zeros)
    add("head.tattn.wq", (de, de), glorot(de, de))
    add("head.tattn.wk", (de, de), glorot(de, de))
    add("head.tattn.wv", (de, de), glorot(de, de))
    add("head.film.scale", (ch, de), zeros)
    add("head.film.shift", (ch, de), zeros)
    add("decoder.w", (c.channels, ch), glorot(ch, c.channels))
    add("decoder.b", (c.channels,), zeros)
    return specs


M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def _mix(z):
    """SplitMix64 finalizer on a uint64 array (wrapping arithmetic)."""
    z = z + np.uint64(GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _fnv1a(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def counter_uniform(seed, name, n, lo, hi):
    """The first n draws of Swift's CounterRNG(seed:, streamName: name).uniform(lo, hi)
    (Sources/Kernels/RNG.swift), bit for bit, so both implementations start from
    the same parameters for one seed."""
    with np.errstate(over="ignore"):
        seed_mix = _mix(np.uint64(seed) ^ _mix(np.array([_fnv1a(name)], dtype=np.uint64)))
        index = np.arange(n, dtype=np.uint64)
        v = _mix(seed_mix + index * np.uint64(GOLDEN))
    unit = (v >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return lo + (hi - lo) * unit


def initial_values(c: ModelConfig, seed: int):
    """{name: float64 array}: the spec initialization, drawn as the Swift model draws it."""
    out = {}
    for name, shape, init in parameter_specs(c):
        n = int(np.prod(shape))
        if init[0] == "glorot":
            a = init[1]
            v = counter_uniform(seed, name, n, -a, a)
        else:
            v = np.zeros(n)
            if init[0] == "forget_one":
                v[init[1]:2 * init[1]] = 1.0
        out[name] = v.reshape(shape)
    return out


# ----------------------------------------------------------------------------
# Building blocks; frames are [B, C, H, W]

def conv1x1(x, w, b=None):
    """out[b,o,y,x] = bias[o] + sum_i w[o,i] x[b,i,y,x]."""
    out = torch.einsum("oi,bihw->bohw", w, x)
    return out if b is None else out + b[None, :, None, None]


def depthwise(u, w, dilation):
    """DW(U; w, d)[c,y,x] = sum_{a,b} w[c,a,b] U[c, y + d(a-(k-1)/2), x + d(b-(k-1)/2)], zero padded."""
    k = w.shape[-1]
    return F.conv2d(u, w[:, None], padding=dilation * (k - 1) // 2, dilation=dilation, groups=w.shape[0])


def axial_attention(h, wq, wk, wv):
    """R + Cc of MODEL.md step 6: row and column softmax attention, each over its own axis."""
    dk = wq.shape[0]
    q, k, v = conv1x1(h, wq), conv1x1(h, wk), conv1x1(h, wv)      # [B,dk,H,W] [B,dk,H,W] [B,Ch,H,W]
    row = torch.softmax(torch.einsum("bdyx,bdyz->byxz", q, k) / math.sqrt(dk), dim=-1)  # over x'=z
    col = torch.softmax(torch.einsum("bdyx,bdzx->byxz", q, k) / math.sqrt(dk), dim=-1)  # over y'=z
    r = torch.einsum("byxz,bcyz->bcyx", row, v)
    cc = torch.einsum("byxz,bczx->bcyx", col, v)
    return r + cc


def faconvlstm_step(P, p, c: ModelConfig, x, h, cs, t):
    """One FAConvLSTM step (MODEL.md steps 1-6). t is 1-based. Returns (H_t, C_t)."""
    ch = c.hidden
    u = conv1x1(x, P[p + "bottleneck.wx"]) + conv1x1(h, P[p + "bottleneck.wh"], P[p + "bottleneck.b"])
    m = P[p + "mix.b"][None, :, None, None]
    for j, d in enumerate(c.dilations):
        m = m + depthwise(u, P[p + f"mix.dw{j}"], d)
    sq = m.mean(dim=(2, 3))                                                          # [B, r]
    ex = torch.sigmoid(F.linear(torch.relu(F.linear(sq, P[p + "se.w1"], P[p + "se.b1"])),
                                P[p + "se.w2"], P[p + "se.b2"]))                      # [B, r]
    g = conv1x1(ex[:, :, None, None] * m, P[p + "gates.w"], P[p + "gates.b"])        # [B, 4Ch, H, W]
    gi, gf, gg, go = g.split(ch, dim=1)
    pi, pf, po = (P[p + "peephole." + n][None, :, None, None] for n in "ifo")
    i = torch.sigmoid(gi + pi * cs)
    f = torch.sigmoid(gf + pf * cs)
    cs = f * cs + i * torch.tanh(gg)
    o = torch.sigmoid(go + po * cs)
    h = o * torch.tanh(cs)
    if c.attn_stride > 0 and t % c.attn_stride == 0:
        a = axial_attention(h, P[p + "attn.wq"], P[p + "attn.wk"], P[p + "attn.wv"])
        h = h + P[p + "attn.gamma"] * conv1x1(a, P[p + "attn.wo"])
    return h, cs


def convlstm_step(P, p, c: ModelConfig, x, h, cs, t):
    """One ConvLSTM2D step (Keras semantics, no peepholes)."""
    pad = (c.kernel - 1) // 2
    g = (F.conv2d(x, P[p + "conv.wx"], padding=pad) + F.conv2d(h, P[p + "conv.wh"], padding=pad)
         + P[p + "conv.b"][None, :, None, None])
    gi, gf, gg, go = g.split(c.hidden, dim=1)
    cs = torch.sigmoid(gf) * cs + torch.sigmoid(gi) * torch.tanh(gg)
    h = torch.sigmoid(go) * torch.tanh(cs)
    return h, cs


def seasonal_encoding(day_of_year, de, period):
    """PE(tau)[2j] = sin(2 pi (j+1) tau / P), [2j+1] = cos(...): [B, T] float64 -> [B, T, de] float64."""
    tau = torch.as_tensor(day_of_year, dtype=torch.float64)
    freq = torch.arange(1, de // 2 + 1, dtype=torch.float64)                       # j + 1
    angle = 2.0 * math.pi * tau[..., None] * freq / period                         # [B, T, de/2]
    return torch.stack((torch.sin(angle), torch.cos(angle)), dim=-1).flatten(-2)   # interleave sin, cos


# ----------------------------------------------------------------------------
# The network

class FAConvLSTM(torch.nn.Module):
    def __init__(self, config: ModelConfig, dtype=torch.float32):
        super().__init__()
        self.config = config.validate()
        self.specs = parameter_specs(config)
        # Nested modules only to give named_parameters() the dotted spec names.
        for name, shape, _ in self.specs:
            *path, leaf = name.split(".")
            mod = self
            for part in path:
                if part not in mod._modules:
                    mod.add_module(part, torch.nn.Module())
                mod = mod._modules[part]
            mod.register_parameter(leaf, torch.nn.Parameter(torch.zeros(shape, dtype=dtype)))
        assert [n for n, _ in self.named_parameters()] == [s[0] for s in self.specs]

    # -- flat buffer (params.bin / grads.bin order) --
    def layout(self):
        """[{"name", "shape", "offset"}] as in layout.json."""
        out, off = [], 0
        for name, shape, _ in self.specs:
            out.append({"name": name, "shape": list(shape), "offset": off})
            off += int(np.prod(shape))
        return out

    def flat_params(self):
        return torch.cat([p.detach().reshape(-1) for p in self.parameters()])

    def flat_grads(self):
        return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                          for p in self.parameters()])

    @torch.no_grad()
    def load_flat(self, flat):
        flat = torch.as_tensor(flat)
        n = sum(p.numel() for p in self.parameters())
        if flat.numel() != n:
            raise ValueError(f"flat parameter buffer has {flat.numel()} values, the layout needs {n}")
        off = 0
        for p in self.parameters():
            p.copy_(flat[off:off + p.numel()].reshape(p.shape))
            off += p.numel()

    @torch.no_grad()
    def initialize(self, seed):
        """Spec initialization, identical to the Swift model's for the same seed."""
        values = initial_values(self.config, seed)
        for name, p in self.named_parameters():
            p.copy_(torch.from_numpy(values[name]))

    # -- forward --
    def forward(self, inputs, mask, lat_weights, day_of_year, targets=None):
        """inputs, mask [T, V, B, H, W]; lat_weights [B, H]; day_of_year [B, T] (float64).
        targets defaults to the inputs, detached (targets are data).
        Returns a dict: prediction [Tt, V, B, H, W], embeddings [T, B, de],
        hidden (list over layers of [T, Ch, B, H, W]), numerator, denominator, loss
        (float64 scalars; loss = numerator / denominator, 0 if the denominator is 0)."""
        c = self.config
        P = dict(self.named_parameters())
        dtype = P["decoder.b"].dtype
        T, V, B, H, W = inputs.shape
        ch = c.hidden
        step = faconvlstm_step if c.cell == "faconvlstm" else convlstm_step

        # Recurrent layers; layer l > 0 reads layer l-1's output at the same step.
        frames = list(inputs.to(dtype).permute(0, 2, 1, 3, 4).unbind(0))        # T x [B, V, H, W]
        hidden = []
        for l in range(c.layers):
            h = inputs.new_zeros((B, ch, H, W), dtype=dtype)
            cs = torch.zeros_like(h)
            outs = []
            for t0 in range(T):
                h, cs = step(P, f"layers.{l}.", c, frames[t0], h, cs, t0 + 1)
                outs.append(h)
            frames = outs
            hidden.append(torch.stack(outs).permute(0, 2, 1, 3, 4))              # [T, Ch, B, H, W]

        # Subspace head: embedding of the spatial mean, seasonal PE, temporal attention.
        top = torch.stack(frames)                                               # [T, B, Ch, H, W]
        e = F.linear(top.mean(dim=(3, 4)), P["head.embed.w"], P["head.embed.b"])  # [T, B, de]
        pe = seasonal_encoding(day_of_year, c.embed_dim, c.period).to(dtype)    # [B, T, de], rounded once
        z = e + pe.transpose(0, 1)                                              # Z [T, B, de]
        q = F.linear(z, P["head.tattn.wq"])
        k = F.linear(z, P["head.tattn.wk"])
        v = F.linear(z, P["head.tattn.wv"])
        s = torch.einsum("tbd,ubd->btu", q, k) / math.sqrt(c.embed_dim)         # [B, T, T'] 
        if c.objective == "forecast":
            causal = torch.ones(T, T, dtype=torch.bool).triu(1)                 # t' > t masked
            s = s.masked_fill(causal, float("-inf"))
        z = z + torch.einsum("btu,ubd->tbd", torch.softmax(s, dim=-1), v)      # z [T, B, de]

        # FiLM decoder at the target steps: reconstruct t -> X_t, forecast t -> X_{t+1}.
        tt = T if c.objective == "reconstruct" else T - 1
        zt = z[:tt]
        scale = F.linear(zt, P["head.film.scale"])[..., None, None]             # [Tt, B, Ch, 1, 1]
        shift = F.linear(zt, P["head.film.shift"])[..., None, None]
        f = top[:tt] * (1 + scale) + shift                                      # [Tt, B, Ch, H, W]
        xhat = torch.einsum("vc,tbchw->tvbhw", P["decoder.w"], f) + P["decoder.b"][None, :, None, None, None]

        # Masked, latitude-weighted squared error, summed in float64.
        first = 0 if c.objective == "reconstruct" else 1
        y = (inputs.detach() if targets is None else targets)[first:first + tt].to(dtype)
        m = mask[first:first + tt].to(torch.float64)
        w = lat_weights.to(torch.float64)[None, None, :, :, None]               # w_y per sample row
        numerator = (w * m * (xhat - y).to(torch.float64) ** 2).sum()
        denominator = (w * m).sum()
        # A zero denominator means every m is 0, so the numerator is 0 too: 0 / tiny
        # gives loss 0 and zero gradients without a branch (no torch.compile graph break).
        loss = numerator / denominator.clamp_min(torch.finfo(torch.float64).tiny)
        return {"prediction": xhat, "embeddings": z, "hidden": hidden,
                "numerator": numerator, "denominator": denominator, "loss": loss}
