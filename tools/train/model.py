"""EnCodec-style codec (24 kHz-style: causal, weight_norm) for training, written from
shared/spec/encodec-reference.md sections 1-6.

The module tree is laid out so that `state_dict()` has exactly the key names and shapes of the
released checkpoints (spec section 2), for any n_filters / dimension / n_q / bins:

    encoder.model.<i>.conv.conv.{bias,weight_g,weight_v}
    encoder.model.<i>.block.{1,3}.conv.conv.*, encoder.model.<i>.shortcut.conv.conv.*
    encoder.model.<i>.lstm.{weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ..._l1}
    decoder.model.<i>.convtr.convtr.*
    quantizer.vq.layers.<q>._codebook.{inited, cluster_size, embed, embed_avg}

so `torch.save(model.state_dict())` is a checkpoint that tools/encodec-convert accepts.

Training-time pieces (not in the spec, our own choices): EMA codebooks (decay 0.99, Laplace
smoothing), k-means initialisation from data, dead-code replacement from the current batch,
commitment loss, straight-through estimator, quantizer dropout (the caller picks the number of
codebooks per batch).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import weight_norm


# ---------------------------------------------------------------------------------------------
# Padding helpers (spec 3.3, 3.4)
# ---------------------------------------------------------------------------------------------

def reflect_pad(x, left, right):
    """PyTorch reflect padding with the spec's small-input rule (3.3)."""
    if left == 0 and right == 0:
        return x
    length = x.shape[-1]
    m = max(left, right)
    if length <= m:
        e = m - length + 1
        x = F.pad(x, (0, e))
        y = F.pad(x, (left, right), mode="reflect")
        return y[..., :y.shape[-1] - e]
    return F.pad(x, (left, right), mode="reflect")


class NormConv1d(nn.Module):
    """Holds the weight-normed nn.Conv1d as `.conv` (gives the key `...conv.conv.weight_g`)."""

    def __init__(self, cin, cout, k, stride=1, dilation=1):
        super().__init__()
        self.conv = weight_norm(nn.Conv1d(cin, cout, k, stride=stride, dilation=dilation))

    def forward(self, x):
        return self.conv(x)


class SConv1d(nn.Module):
    """Conv with causal reflect padding: padding_total left, the completing extra right."""

    def __init__(self, cin, cout, k, stride=1, dilation=1, causal=True):
        super().__init__()
        self.conv = NormConv1d(cin, cout, k, stride, dilation)
        self.k, self.stride, self.dilation, self.causal = k, stride, dilation, causal

    def forward(self, x):
        k_eff = (self.k - 1) * self.dilation + 1
        s = self.stride
        pad_total = k_eff - s
        length = x.shape[-1]
        extra = -(-length // s) * s - length
        if self.causal:
            left, right = pad_total, extra
        else:
            r = pad_total // 2
            left, right = pad_total - r, r + extra
        return self.conv(reflect_pad(x, left, right))


class NormConvTranspose1d(nn.Module):
    def __init__(self, cin, cout, k, stride):
        super().__init__()
        # weight_norm dim=0: one norm per *input* channel for the [in, out, k] weight (spec 3.1)
        self.convtr = weight_norm(nn.ConvTranspose1d(cin, cout, k, stride=stride))

    def forward(self, x):
        return self.convtr(x)


class SConvTranspose1d(nn.Module):
    def __init__(self, cin, cout, k, stride, causal=True):
        super().__init__()
        self.convtr = NormConvTranspose1d(cin, cout, k, stride)
        self.k, self.stride, self.causal = k, stride, causal

    def forward(self, x):
        y = self.convtr(x)
        pad_total = self.k - self.stride
        if self.causal:
            left, right = 0, pad_total          # trim_right_ratio = 1
        else:
            right = pad_total // 2
            left = pad_total - right
        return y[..., left:y.shape[-1] - right]


class ResBlock(nn.Module):
    """block = [ELU, conv k=3 (C->C/2), ELU, conv k=1 (C/2->C)], shortcut = conv k=1 (C->C)."""

    def __init__(self, c, kernel=3, dilation=1, compress=2, causal=True):
        super().__init__()
        h = c // compress
        self.block = nn.Sequential(
            nn.ELU(),
            SConv1d(c, h, kernel, dilation=dilation, causal=causal),
            nn.ELU(),
            SConv1d(h, c, 1, causal=causal),
        )
        self.shortcut = SConv1d(c, c, 1, causal=causal)

    def forward(self, x):
        return self.shortcut(x) + self.block(x)


class SLSTM(nn.Module):
    """2-layer LSTM over time with a skip connection; [B, C, T] in and out."""

    def __init__(self, c, layers=2):
        super().__init__()
        self.lstm = nn.LSTM(c, c, layers)

    def forward(self, x):
        seq = x.permute(2, 0, 1)  # [T, B, C]
        y, _ = self.lstm(seq)
        return (y + seq).permute(1, 2, 0)


# ---------------------------------------------------------------------------------------------
# Encoder / decoder (spec section 4)
# ---------------------------------------------------------------------------------------------

class Encoder(nn.Module):
    def __init__(self, channels=1, n_filters=32, dimension=128, ratios=(8, 5, 4, 2),
                 kernel_size=7, last_kernel_size=7, causal=True, lstm_layers=2):
        super().__init__()
        layers = [SConv1d(channels, n_filters, kernel_size, causal=causal)]
        mult = 1
        for s in reversed(ratios):
            c = mult * n_filters
            layers += [ResBlock(c, causal=causal), nn.ELU(),
                       SConv1d(c, 2 * c, 2 * s, stride=s, causal=causal)]
            mult *= 2
        layers += [SLSTM(mult * n_filters, lstm_layers), nn.ELU(),
                   SConv1d(mult * n_filters, dimension, last_kernel_size, causal=causal)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class Decoder(nn.Module):
    def __init__(self, channels=1, n_filters=32, dimension=128, ratios=(8, 5, 4, 2),
                 kernel_size=7, last_kernel_size=7, causal=True, lstm_layers=2):
        super().__init__()
        mult = 2 ** len(ratios)
        layers = [SConv1d(dimension, mult * n_filters, kernel_size, causal=causal),
                  SLSTM(mult * n_filters, lstm_layers)]
        for s in ratios:
            c = mult * n_filters
            layers += [nn.ELU(), SConvTranspose1d(c, c // 2, 2 * s, s, causal=causal),
                       ResBlock(c // 2, causal=causal)]
            mult //= 2
        layers += [nn.ELU(), SConv1d(n_filters, channels, last_kernel_size, causal=causal)]
        self.model = nn.Sequential(*layers)

    def forward(self, z):
        return self.model(z)


# ---------------------------------------------------------------------------------------------
# Residual vector quantiser with EMA codebooks (spec section 6 for inference)
# ---------------------------------------------------------------------------------------------

def nearest(x, embed):
    """x [N, D], embed [K, D] -> codes [N]: argmin |x|^2 - 2 x.e + |e|^2 (first on ties)."""
    dist = (x.pow(2).sum(1, keepdim=True) - 2 * x @ embed.t()) + embed.pow(2).sum(1)[None, :]
    return dist.argmin(dim=1)


def kmeans(x, k, iters=10, gen=None):
    """Plain k-means on x [N, D]; N may be smaller than k (then centres repeat with noise)."""
    n = x.shape[0]
    idx = torch.randint(0, n, (k,), generator=gen) if n < k else \
        torch.randperm(n, generator=gen)[:k]
    idx = idx.to(x.device)
    centres = x[idx].clone()
    if n < k:
        centres += 1e-3 * x.std() * torch.randn(centres.shape, generator=gen).to(x.device)
    for _ in range(iters):
        codes = nearest(x, centres)
        counts = torch.bincount(codes, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centres).index_add_(0, codes, x)
        used = counts > 0
        centres[used] = sums[used] / counts[used, None]
    return centres, torch.bincount(nearest(x, centres), minlength=k).to(x.dtype)


class Codebook(nn.Module):
    def __init__(self, dim, bins, decay=0.99, eps=1e-5):
        super().__init__()
        self.decay, self.eps, self.bins = decay, eps, bins
        self.register_buffer("inited", torch.zeros(1))
        self.register_buffer("cluster_size", torch.zeros(bins))
        embed = torch.randn(bins, dim) / math.sqrt(dim)
        self.register_buffer("embed", embed)
        self.register_buffer("embed_avg", embed.clone())

    @torch.no_grad()
    def init_from(self, x, gen=None, iters=10):
        centres, counts = kmeans(x, self.bins, iters, gen)
        self.embed.copy_(centres)
        self.embed_avg.copy_(centres * counts[:, None].clamp(min=1))
        self.cluster_size.copy_(counts.clamp(min=1))
        self.inited.fill_(1.0)

    @torch.no_grad()
    def ema_update(self, x, codes, dead_threshold, gen=None):
        onehot_counts = torch.bincount(codes, minlength=self.bins).to(x.dtype)
        sums = torch.zeros_like(self.embed).index_add_(0, codes, x)
        d = self.decay
        self.cluster_size.mul_(d).add_(onehot_counts, alpha=1 - d)
        self.embed_avg.mul_(d).add_(sums, alpha=1 - d)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.bins * self.eps) * n
        self.embed.copy_(self.embed_avg / smoothed[:, None])
        # dead codes: replace by random vectors of the current batch
        dead = self.cluster_size < dead_threshold
        nd = int(dead.sum())
        if nd:
            pick = torch.randint(0, x.shape[0], (nd,), generator=gen).to(x.device)
            self.embed[dead] = x[pick]
            self.embed_avg[dead] = x[pick] * dead_threshold
            self.cluster_size[dead] = dead_threshold
        return nd


class VQ(nn.Module):
    def __init__(self, dim, bins, decay=0.99):
        super().__init__()
        self._codebook = Codebook(dim, bins, decay)


class RVQ(nn.Module):
    def __init__(self, dim, bins, n_q, decay=0.99):
        super().__init__()
        self.layers = nn.ModuleList([VQ(dim, bins, decay) for _ in range(n_q)])


class ResidualVQ(nn.Module):
    """Holds `.vq.layers.<q>._codebook` (reference key layout)."""

    def __init__(self, dim=128, bins=1024, n_q=32, decay=0.99, dead_fraction=0.03):
        super().__init__()
        self.vq = RVQ(dim, bins, n_q, decay)
        self.dim, self.bins, self.n_q = dim, bins, n_q
        self.dead_fraction = dead_fraction
        self.gen = None  # torch.Generator for dead-code/k-means sampling (set by the trainer)

    def codebooks(self):
        return [layer._codebook for layer in self.vq.layers]

    @torch.no_grad()
    def init_codebooks(self, z, iters=10):
        """k-means initialisation of every stage from latents z [B, D, T], stage by stage."""
        r = z.permute(0, 2, 1).reshape(-1, self.dim).float()
        for cb in self.codebooks():
            cb.init_from(r, self.gen, iters)
            r = r - cb.embed[nearest(r, cb.embed)]

    def encode(self, z, n_q):
        r = z.permute(0, 2, 1).reshape(-1, self.dim)
        codes = []
        for cb in self.codebooks()[:n_q]:
            c = nearest(r, cb.embed)
            codes.append(c)
            r = r - cb.embed[c]
        B, _, T = z.shape
        return torch.stack(codes).view(n_q, B, T)

    def decode(self, codes):
        n_q, B, T = codes.shape
        out = torch.zeros(B * T, self.dim, device=codes.device)
        for q, cb in enumerate(self.codebooks()[:n_q]):
            out = out + cb.embed[codes[q].reshape(-1)]
        return out.view(B, T, self.dim).permute(0, 2, 1)

    def forward(self, z, n_q):
        """Training/eval forward with n_q stages. Returns (quantized with straight-through
        gradient, codes [n_q, B, T], commitment loss summed over the used stages, n dead codes
        replaced).  EMA updates happen only in training mode."""
        B, D, T = z.shape
        x = z.permute(0, 2, 1).reshape(-1, D)
        r = x
        qsum = torch.zeros_like(x)
        commit = x.new_zeros(())
        codes = []
        replaced = 0
        n_frames = x.shape[0]
        dead_threshold = self.dead_fraction * n_frames / self.bins
        for cb in self.codebooks()[:n_q]:
            rd = r.detach()
            c = nearest(rd, cb.embed)
            e = cb.embed[c]
            if self.training:
                replaced += cb.ema_update(rd, c, dead_threshold, self.gen)
            commit = commit + F.mse_loss(r, e.detach())
            codes.append(c)
            qsum = qsum + e
            r = r - e.detach()
        q = x + (qsum - x).detach()  # straight-through estimator
        return (q.view(B, T, D).permute(0, 2, 1), torch.stack(codes).view(n_q, B, T), commit,
                replaced)


# ---------------------------------------------------------------------------------------------
# The codec
# ---------------------------------------------------------------------------------------------

BANDWIDTHS = (1.5, 3.0, 6.0, 12.0, 24.0)


class EncodecModel(nn.Module):
    def __init__(self, n_filters=32, dimension=128, n_q=32, bins=1024, ratios=(8, 5, 4, 2),
                 channels=1, sample_rate=24000, causal=True, decay=0.99, dead_fraction=0.03,
                 init_gain=math.sqrt(3)):
        super().__init__()
        self.encoder = Encoder(channels, n_filters, dimension, ratios, causal=causal)
        self.quantizer = ResidualVQ(dimension, bins, n_q, decay, dead_fraction)
        self.decoder = Decoder(channels, n_filters, dimension, ratios, causal=causal)
        self.sample_rate = sample_rate
        self.hop = int(math.prod(ratios))
        self.frame_rate = -(-sample_rate // self.hop)
        self.bins = bins
        self.config = dict(n_filters=n_filters, dimension=dimension, n_q=n_q, bins=bins,
                           ratios=list(ratios), channels=channels, sample_rate=sample_rate,
                           causal=causal, decay=decay, dead_fraction=dead_fraction)
        self.rescale_init(init_gain)

    @torch.no_grad()
    def rescale_init(self, gain):
        """PyTorch's default conv init (std 1/sqrt(3 fan_in)) shrinks the signal at every layer:
        with it the encoder output of real audio is almost constant in time (temporal std ~1 %
        of the bias offsets), k-means finds one cluster and training collapses to a constant
        latent.  Multiplying every weight_g by `gain` (sqrt(3): unit-variance linear layers)
        and zeroing the conv biases keeps the latent's variation in time at the input's scale.
        gain <= 0 leaves PyTorch's default init."""
        if gain <= 0:
            return
        for mod in self.modules():
            if isinstance(mod, (nn.Conv1d, nn.ConvTranspose1d)):
                mod.weight_g.mul_(gain)
                mod.bias.zero_()

    def n_q_for_bandwidth(self, bw):
        per_q = math.log2(self.bins) * self.frame_rate
        return max(1, int(math.floor(bw * 1000 / per_q)))

    def forward(self, x, n_q):
        z = self.encoder(x)
        q, codes, commit, replaced = self.quantizer(z, n_q)
        y = self.decoder(q)
        return y[..., :x.shape[-1]], commit, codes, replaced

    @torch.no_grad()
    def encode(self, x, n_q):
        return self.quantizer.encode(self.encoder(x), n_q)

    @torch.no_grad()
    def decode(self, codes):
        return self.decoder(self.quantizer.decode(codes))

    def export_state_dict(self):
        """Plain float32 state dict in the reference layout (weight_g/weight_v kept)."""
        sd = self.state_dict()
        out = type(sd)()
        for k, v in sd.items():
            v = v.detach().to("cpu", torch.float32).contiguous().clone()
            if k.endswith("._codebook.inited"):
                v.fill_(1.0)
            out[k] = v
        return out
