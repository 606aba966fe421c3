"""PyTorch model of the revspike network (SEMANTICS.md v1), float and integer-exact.

One module, two modes that share every parameter:

* float mode (training): real-valued activations and membranes. A membrane
  value u is the integer U / 2^F, an activation is a / 2^FA (FA = F - K), so
  the float network is the integer network without its roundings.
* integer mode (quantization-aware fine-tuning and export): the same forward
  pass in integer units on float64 tensors, with every rounding, floor, clamp
  and saturation of SEMANTICS.md applied exactly; gradients pass the roundings
  straight through (STE). Its logits equal intref.py's to the bit.

Pieces (ReverB-SNN + T-RevSNN):
* BinLayer: weights sign(W) (STE, clipped at |W| > 1) with a learnable
  per-channel amplitude `alpha` and bias `beta`; y = alpha * (sign(W) a) + beta.
  In integer mode alpha and beta become multiplier M and bias B at a per-layer
  shift R: U = (acc * M + B) >>> R. No BatchNorm: its per-call batch statistics
  would differ between timesteps that the model must share; the amplitude and
  bias get a data-dependent initialization instead (same effect at step 0).
* Spike: strict threshold, a fired neuron emits its (clamped) membrane value,
  a silent one 0; surrogate gradient for the threshold step.
* Turn-on stage output: c(t) = z + lambda * c(t-1) with lambda quantized to
  sign * 2^-h (STE) in both modes, so the trained leak is the exported leak.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as Fn

F = 8  # membrane fraction bits: U = u * 2^F (int16 covers u in [-128, 128))
K = 2  # spike shift of every spike point: a = U >>> K
FA = F - K  # activation fraction bits: a real activation is a / 64, at most 255/64
I16_MIN, I16_MAX = -32768, 32767
B_MAX = 1 << 24


def round_ste(x):
    return x + (torch.round(x) - x).detach()


def floor_ste(x):
    return x + (torch.floor(x) - x).detach()


class SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        return g * (w.abs() <= 1).to(g.dtype)


class Heaviside(torch.autograd.Function):
    """Strict step x > 0; triangular surrogate of half-width WIDTH (real units)."""

    WIDTH = 0.5

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        w = Heaviside.WIDTH
        return g * torch.clamp(1 - x.abs() / w, min=0) / w


class BinLayer(nn.Module):
    """Binary dense layer `in -> out` with per-channel amplitude and bias."""

    def __init__(self, n_in, n_out, init_std=1.0, head=False):
        super().__init__()
        self.n_in, self.n_out, self.head = n_in, n_out, head
        self.weight = nn.Parameter(torch.empty(n_out, n_in).uniform_(-0.1, 0.1))
        # amplitude = a0 * gain: a0 is fixed by the data-dependent init, the learnt gain
        # starts at 1, so Adam's steps are relative to the amplitude's own scale
        self.register_buffer("a0", torch.full((n_out,), 1.0 / math.sqrt(n_in)))
        self.gain = nn.Parameter(torch.ones(n_out))
        self.beta = nn.Parameter(torch.zeros(n_out))
        self.init_std = init_std
        self.register_buffer("R", torch.tensor(-1, dtype=torch.int64))  # set by choose_shift
        self.pending_init = False

    @property
    def alpha(self):
        return self.a0 * self.gain

    def acc(self, a):
        # Integer mode: every acc is an integer of magnitude <= 1024 * 255 < 2^24, so float32
        # sums it exactly, in any order, and far faster than float64 (the affine stays float64).
        w = SignSTE.apply(self.weight)
        if a.dtype == torch.float64:
            return (a.float() @ w.float().t()).double()
        return a @ w.to(a.dtype).t()

    def fold_scale(self):
        # integer U = u * 2^F, activation a = a_real * 2^FA:
        # U = alpha * 2^(F-FA) * acc_int + beta * 2^F
        return 2.0 ** (F - FA), 2.0**F

    def int_mb(self, ste=True):
        """Multiplier M and bias B at this layer's shift R (float tensors, integer-valued)."""
        r = int(self.R)
        if r < 0:
            raise RuntimeError("choose_shift() must run before integer mode")
        sm, sb = self.fold_scale()
        rnd = round_ste if ste else torch.round
        m = torch.clamp(rnd(self.alpha.double() * sm * 2.0**r), -128, 127)
        b = torch.clamp(rnd(self.beta.double() * sb * 2.0**r), -B_MAX, B_MAX)
        return m, b

    @torch.no_grad()
    def choose_shift(self, headroom=1.0):
        """Largest R in 0..=31 keeping |M| <= 127*headroom and |B| <= 2^24."""
        sm, sb = self.fold_scale()
        amax = float(self.alpha.abs().max()) * sm
        bmax = float(self.beta.abs().max()) * sb
        best = 0
        for r in range(32):
            if round(amax * 2.0**r) <= 127 * headroom and round(bmax * 2.0**r) <= B_MAX:
                best = r
        self.R.fill_(best)
        return best

    def forward(self, a, integer):
        acc = self.acc(a)
        if self.pending_init:
            self._data_init(acc)
        if not integer:
            y = self.alpha * acc + self.beta
            if not self.head:
                y = torch.clamp(y, I16_MIN / 2.0**F, I16_MAX / 2.0**F)
            return y
        m, b = self.int_mb()
        y = floor_ste((acc * m + b) / 2.0 ** int(self.R))
        if not self.head:
            y = torch.clamp(y, I16_MIN, I16_MAX)
        return y

    @torch.no_grad()
    def _data_init(self, acc):
        std = acc.std(0).clamp(min=1e-3)
        self.a0.copy_(self.init_std / std)
        self.gain.fill_(1.0)
        self.beta.copy_(-self.alpha * acc.mean(0))
        self.pending_init = False


class BinConv(BinLayer):
    """Binary convolution `Ci -> Co`, kernel k, stride s, zero padding p (a stem layer).

    Same folding as BinLayer (per output channel amplitude and bias, one shift R);
    its input and output are (N, C, H, W) maps of activations / membranes."""

    def __init__(self, ci, co, k, s, p, init_std=1.0):
        super().__init__(ci * k * k, co, init_std=init_std)
        self.ci, self.co, self.k, self.s, self.p = ci, co, k, s, p
        self.weight = nn.Parameter(torch.empty(co, ci, k, k).uniform_(-0.1, 0.1))

    def out_hw(self, h, w):
        return (h + 2 * self.p - self.k) // self.s + 1, (w + 2 * self.p - self.k) // self.s + 1

    def acc(self, a):
        w = SignSTE.apply(self.weight)
        if a.dtype == torch.float64:  # exact in float32, as BinLayer.acc
            return Fn.conv2d(a.float(), w.float(), stride=self.s, padding=self.p).double()
        return Fn.conv2d(a, w.to(a.dtype), stride=self.s, padding=self.p)

    def file_rows(self):
        """sign(W) as the file's rows: row o, bit (ky*k + kx)*Ci + ci (True = +1)."""
        return (self.weight.detach() >= 0).permute(0, 2, 3, 1).reshape(self.co, -1)

    def forward(self, a, integer):
        acc = self.acc(a)
        if self.pending_init:
            self._data_init(acc.permute(0, 2, 3, 1).reshape(-1, self.co))
        if not integer:
            y = self.alpha[:, None, None] * acc + self.beta[:, None, None]
            return torch.clamp(y, I16_MIN / 2.0**F, I16_MAX / 2.0**F)
        m, b = self.int_mb()
        y = floor_ste((acc * m[:, None, None] + b[:, None, None]) / 2.0 ** int(self.R))
        return torch.clamp(y, I16_MIN, I16_MAX)


class Spike(nn.Module):
    """Real-valued spike point: a = clamp(U >>> K, 0, 255) if U > theta else 0."""

    def __init__(self, width, theta=0.0):
        super().__init__()
        self.theta = nn.Parameter(torch.full((width,), float(theta)))

    def int_theta(self, ste=True):
        rnd = round_ste if ste else torch.round
        return torch.clamp(rnd(self.theta.double() * 2.0**F), I16_MIN, I16_MAX)

    def forward(self, u, integer, chan_dim=-1):
        """chan_dim=1 for (N, C, H, W) maps: the threshold is per channel."""
        th = self.theta if integer is False else self.int_theta()
        if chan_dim == 1:
            th = th[:, None, None]
        if not integer:
            return torch.clamp(u, 0, 255 / 2.0**FA) * Heaviside.apply(u - th)
        a = torch.clamp(floor_ste(u / 2.0**K), 0, 255)
        return a * Heaviside.apply((u - th) / 2.0**F)


class Leak(nn.Module):
    """Per-channel leak lambda, used as sign * 2^-h, h in 0..=15."""

    def __init__(self, width, init=0.5):
        super().__init__()
        self.lam = nn.Parameter(torch.full((width,), float(init)))

    def sign_shift(self):
        lam = self.lam.detach()
        sign = torch.where(lam >= 0, 1.0, -1.0).to(lam.dtype)
        h = torch.clamp(torch.round(-torch.log2(lam.abs().clamp(min=2.0**-16))), 0, 15)
        return sign, h

    def forward(self, c, integer):
        sign, h = self.sign_shift()
        mag = self.lam.abs()
        mag_q = mag + (2.0 ** (-h) - mag).detach()
        if not integer:
            return sign * mag_q * c
        return sign.double() * floor_ste(c * mag_q.double())


class Stage(nn.Module):
    def __init__(self, n_in, width, n_up, n_blocks):
        super().__init__()
        self.width = width
        self.down = BinLayer(n_in, width, init_std=1.0)
        self.up = BinLayer(n_up, width, init_std=0.5) if n_up else None
        self.block_spikes = nn.ModuleList([Spike(width) for _ in range(n_blocks)])
        self.block_layers = nn.ModuleList([BinLayer(width, width, init_std=0.5) for _ in range(n_blocks)])
        self.leak = Leak(width)
        self.out_spike = Spike(width)


class RevSpikeNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        T, G, widths, blocks = cfg["T"], cfg["G"], cfg["widths"], cfg["blocks"]
        S = len(widths)
        self.T, self.G, self.S = T, G, S
        self.grouping, self.readout = cfg["grouping"], cfg["readout"]
        self.shape = list(cfg.get("shape") or [])
        shapes = stem_shapes(cfg)
        self.stem = nn.ModuleList()
        self.stem_spikes = nn.ModuleList()
        for i, sl in enumerate(cfg.get("stem") or []):
            ci = shapes[i][2]
            self.stem.append(BinConv(ci, sl["out"], sl["k"], sl["s"], sl["p"], init_std=1.0))
            self.stem_spikes.append(Spike(sl["out"]))
        n0 = shapes[-1][0] * shapes[-1][1] * shapes[-1][2] if self.stem else G
        self.stages = nn.ModuleList(
            [
                Stage(n0 if l == 0 else widths[l - 1], widths[l], widths[l + 1] if l < S - 1 else 0, blocks[l])
                for l in range(S)
            ]
        )
        self.head = BinLayer(widths[-1], cfg["classes"], init_std=1.0, head=True)
        self.integer = False

    def layers(self):
        """(json path, layer) for every binary layer, in file order."""
        out = [(f"stem[{i}]", conv) for i, conv in enumerate(self.stem)]
        for l, st in enumerate(self.stages):
            out.append((f"stages[{l}].down", st.down))
            if st.up is not None:
                out.append((f"stages[{l}].up", st.up))
            for b, lay in enumerate(st.block_layers):
                out.append((f"stages[{l}].blocks[{b}].layer", lay))
        out.append(("head", self.head))
        return out

    @torch.no_grad()
    def data_init(self, x):
        """Set every amplitude/bias so that its output starts with a target std and zero mean."""
        was = self.training
        self.eval()
        for _, lay in self.layers():
            lay.pending_init = True
        self.forward(x)
        for p, lay in self.layers():
            if lay.pending_init:
                raise RuntimeError(f"{p}: never used during init")
        self.train(was)

    def to_integer(self, headroom=1.0):
        for _, lay in self.layers():
            lay.choose_shift(headroom)
        self.integer = True

    def forward(self, x_u8, trace=None):
        """x_u8: (N, T*G) or (N, G) raw u8 values. Returns logits in real units."""
        integer = self.integer
        dt = torch.float64 if integer else torch.float32
        x = x_u8.to(dt)
        if not integer:
            x = x / 2.0**FA
        N, T, G, S = x.shape[0], self.T, self.G, self.S
        st0 = self.stages[0]
        # the stem and stage 0's down layer have no dependence on the past: all timesteps
        # at once (with `repeat`, once for all of them)
        if self.grouping == "split":
            z0 = st0.down(self.stem_fwd(x.reshape(N * T, G), integer), integer).reshape(N, T, -1)
        else:
            z0 = st0.down(self.stem_fwd(x, integer), integer).unsqueeze(1).expand(N, T, -1)
        lo, hi = (I16_MIN, I16_MAX) if integer else (I16_MIN / 2.0**F, I16_MAX / 2.0**F)
        c = [torch.zeros(N, st.width, dtype=dt, device=x.device) for st in self.stages]
        s_prev = [None] * S
        logits = 0
        for t in range(T):
            s_cur = [None] * S
            for l, st in enumerate(self.stages):
                z = z0[:, t] if l == 0 else st.down(s_cur[l - 1], integer)
                if l < S - 1 and t > 0:
                    z = torch.clamp(z + st.up(s_prev[l + 1], integer), lo, hi)
                for sp, lay in zip(st.block_spikes, st.block_layers):
                    z = torch.clamp(z + lay(sp(z, integer), integer), lo, hi)
                # wrap16 in the hardware; the exporter proves that it never triggers,
                # so training can use the plain (differentiable) sum
                c[l] = z + st.leak(c[l], integer)
                s_cur[l] = st.out_spike(c[l], integer)
                if trace is not None:
                    trace.setdefault("c", []).append(c[l])
                    trace.setdefault("s", []).append(s_cur[l])
            lt = self.head(s_cur[S - 1], integer)
            logits = logits + lt if self.readout == "sum" else lt
            s_prev = s_cur
        if integer:
            logits = logits / 2.0**F
        return logits


    def stem_fwd(self, a, integer, trace=None):
        """Groups (N, G) in (y, x, c) order -> the stem output flattened in (y, x, c) order."""
        if not len(self.stem):
            return a
        h, w, c = self.shape
        m = a.reshape(a.shape[0], h, w, c).permute(0, 3, 1, 2)
        for conv, sp in zip(self.stem, self.stem_spikes):
            m = sp(conv(m, integer), integer, chan_dim=1)  # (N, Co, H', W')
            if trace is not None:
                trace.setdefault("stem", []).append(m)
        return m.permute(0, 2, 3, 1).reshape(a.shape[0], -1)


def stem_shapes(cfg):
    """[H, W, C] of the input and of each stem layer's output."""
    stem = cfg.get("stem") or []
    if not stem:
        return []
    h, w, c = cfg["shape"]
    out = [(h, w, c)]
    for sl in stem:
        h = (h + 2 * sl["p"] - sl["k"]) // sl["s"] + 1
        w = (w + 2 * sl["p"] - sl["k"]) // sl["s"] + 1
        c = sl["out"]
        out.append((h, w, c))
    return out


# The conv budget of issue 14, until the Cu's conv memory plan exists (the hardware issue).
STEM_WEIGHT_BITS = 60 * 1024  # stem + every layer + head
STEM_MAP_BYTES = 3136  # largest stem feature map, H' * W' * Co u8 values (e.g. 14 x 14 x 16)
STEM_STAGE0_IN = 1024  # stage 0's input, the last stem map flattened


def capacity(cfg):
    """Figures of the Alchitry Cu build (64 channels on 32 lanes) for a config, and the list
    of violations. `revspike info` / the build check in proto/src/build.rs are authoritative;
    this is the trainer's early warning, with a margin on the row count. A model with a stem
    is held to the conv budget above instead of the dense memory-row count."""
    T, G, widths, blocks = cfg["T"], cfg["G"], cfg["widths"], cfg["blocks"]
    S = len(widths)
    shapes = stem_shapes(cfg)
    n0 = shapes[-1][0] * shapes[-1][1] * shapes[-1][2] if shapes else G
    layers = []  # (in, out)
    for l in range(S):
        layers.append((n0 if l == 0 else widths[l - 1], widths[l]))
        if l < S - 1:
            layers.append((widths[l + 1], widths[l]))
        layers += [(widths[l], widths[l])] * blocks[l]
    layers.append((widths[-1], cfg["classes"]))
    # One descriptor per 32-channel tile of each layer evaluation, forward and rewind.
    tiles = sum(-(-o // 32) for _, o in layers)
    rows = sum(i for i, _ in layers) + sum(o for _, o in layers) + 2 * tiles
    inp = T * G if cfg["grouping"] == "split" else G
    buf = (T - 1) * sum(widths)
    stem_bits = sum(sl["out"] * sl["k"] ** 2 * shapes[i][2] for i, sl in enumerate(cfg.get("stem") or []))
    bits = stem_bits + sum(i * o for i, o in layers)
    fig = {"memory_rows": rows, "input_len": inp, "state_buffer": buf, "layers": len(layers), "weight_bits": bits}
    bad = []
    if shapes:
        maps = [h * w * c for h, w, c in shapes[1:]]
        fig.update({"stem_weight_bits": stem_bits, "stem_maps": [list(v) for v in shapes], "largest_map_bytes": max(maps),
                    "stage0_in": n0})
        if bits > STEM_WEIGHT_BITS:
            bad.append(f"weight bits {bits} > {STEM_WEIGHT_BITS}")
        if max(maps) > STEM_MAP_BYTES:
            bad.append(f"stem feature map of {max(maps)} bytes > {STEM_MAP_BYTES}")
        if n0 > STEM_STAGE0_IN:
            bad.append(f"stage 0 input {n0} > {STEM_STAGE0_IN}")
        if min(min(h, w) for h, w, _ in shapes) < 1:
            bad.append("a stem map is empty")
    elif rows > 1200:
        bad.append(f"memory rows {rows} > 1200")
    if max(widths) > 64:
        bad.append(f"stage width {max(widths)} > 64")
    if cfg["classes"] > 64:
        bad.append(f"classes {cfg['classes']} > 64")
    if S > 4:
        bad.append(f"stages {S} > 4")
    if max(blocks) > 4:
        bad.append(f"blocks per stage {max(blocks)} > 4")
    if T > 16:
        bad.append(f"timesteps {T} > 16")
    if inp > 1000:
        bad.append(f"input {inp} > 1000")
    if buf > 512:
        bad.append(f"reversible buffer (T-1)*sum(width) {buf} > 512")
    return fig, bad
