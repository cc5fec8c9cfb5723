"""EnCodec entropy-coding language model for training, written from
shared/spec/encodec-reference.md sections 1, 2 and 10 (no upstream code).

Same computation as the reference LM: for every frame, the previous frame's codes (code + 1, or 0
before the first frame of a segment) index one embedding table per codebook; the first K
embeddings are summed, LayerNorm'ed (norm_in), a sinusoidal embedding of the absolute frame
offset is added (cosines then sines, max_period 10000), then post-norm transformer encoder layers
(x = LN1(x + SA(x)); x = LN2(x + W2 gelu(W1 x))) whose attention sees the inputs of the last
past_context frames, the current one and, within past_context of the segment start, one zero
input vector standing for "before the start" (the reference's initial streaming state); one
linear head per codebook gives the logits of that codebook's code at the current frame.

`state_dict()` keys and shapes equal the official LM checkpoints (spec section 2):

    transformer.norm_in.{weight,bias}
    transformer.layers.<l>.self_attn.{in_proj_weight,in_proj_bias,out_proj.weight,out_proj.bias}
    transformer.layers.<l>.{linear1,linear2,norm1,norm2}.{weight,bias}
    emb.<k>.weight [card + 1, dim]        linears.<k>.{weight [card, dim], bias [card]}

so `torch.save(model.export_state_dict(), "x.th")` goes through tools/encodec-convert.
The number of heads and past_context are not visible in the weights: encodec-convert assumes 8
heads and int(3.5 * 75) = 262 frames unless told otherwise (--num-heads / --past-context).

Two evaluation paths: `forward` (whole crops at once, window masking; used for training) and
`step` (one frame with the explicit streaming state of spec 10.3, like libencodec and the
reference compress loop); `check_streaming` verifies they agree.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# Matrix products through oneDNN.  Debian's python3-torch uses the generic reference BLAS for
# F.linear (about 2 GFLOP/s on one core), while its bundled oneDNN (mkldnn) runs the same
# product ten times faster.  `linear` is F.linear with a hand-written backward on top of
# mkldnn_linear; set FAST = False to use plain F.linear.
# ---------------------------------------------------------------------------------------------

FAST = torch.backends.mkldnn.is_available()


def _mm_nt(a, b):
    """a [N, k] @ b [M, k]^T -> [N, M] (float32, CPU) via oneDNN."""
    return torch._C._nn.mkldnn_linear(a.contiguous().to_mkldnn(), b.contiguous(), None).to_dense()


class _FastLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b):
        x2 = x.reshape(-1, x.shape[-1])
        ctx.save_for_backward(x2, w)
        ctx.in_shape = x.shape
        y = _mm_nt(x2, w)
        if b is not None:
            y = y + b
        return y.view(*x.shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx, gy):
        x2, w = ctx.saved_tensors
        g2 = gy.reshape(-1, w.shape[0])
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = _mm_nt(g2, w.t()).view(ctx.in_shape)
        if ctx.needs_input_grad[1]:
            gw = _mm_nt(g2.t(), x2.t())
        if ctx.needs_input_grad[2]:
            gb = g2.sum(0)
        return gx, gw, gb


def linear(x, w, b=None):
    if FAST and x.device.type == "cpu" and x.dtype == torch.float32 and x.numel() and \
            x.dim() >= 2:
        return _FastLinear.apply(x, w, b)
    return F.linear(x, w, b)


def positional_embedding(positions, dim, max_period=10000.0):
    """positions: float tensor [...] -> [..., dim]: cos(p / f_j) for j < dim/2, then sin(p / f_j),
    f_j = max_period ^ (j / (dim/2 - 1)) (spec 10.2; float32 like the reference)."""
    half = dim // 2
    j = torch.arange(half, dtype=torch.float32, device=positions.device)
    freqs = torch.pow(torch.tensor(max_period, dtype=torch.float32, device=positions.device),
                      j / (half - 1))
    phase = positions.to(torch.float32)[..., None] / freqs
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)


class SelfAttention(nn.Module):
    """Parameter names of torch.nn.MultiheadAttention (in_proj_weight/bias, out_proj)."""

    def __init__(self, dim, num_heads):
        super().__init__()
        assert dim % num_heads == 0
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x, pos_start, past_context, chunk=512):
        """x [B, T, d]: the layer inputs of T consecutive frames at absolute offsets
        pos_start[b] + t.  Keys/values: the zero vector at absolute offset -1, then the T inputs.
        Key j is visible from query i iff 0 <= i - j <= past_context (spec 10.3)."""
        B, T, d = x.shape
        H, hd = self.num_heads, self.head_dim
        w, b = self.in_proj_weight, self.in_proj_bias
        q = linear(x, w[:d], b[:d])
        kv = linear(x, w[d:], b[d:])                       # [B, T, 2d]
        kv0 = b[d:].expand(B, 1, 2 * d)                       # projection of the zero vector
        kv = torch.cat([kv0, kv], dim=1)                      # [B, 1 + T, 2d]
        k, v = kv[..., :d], kv[..., d:]
        q = (q / math.sqrt(hd)).view(B, T, H, hd).transpose(1, 2)   # [B, H, T, hd], pre-scaled
        k = k.reshape(B, T + 1, H, hd).transpose(1, 2)
        v = v.reshape(B, T + 1, H, hd).transpose(1, 2)
        outs = []
        for c0 in range(0, T, chunk):
            c1 = min(T, c0 + chunk)
            k0 = max(0, c0 - past_context)                    # first crop key still visible
            kk = torch.cat([k[:, :, :1], k[:, :, 1 + k0:1 + c1]], dim=2)
            vv = torch.cat([v[:, :, :1], v[:, :, 1 + k0:1 + c1]], dim=2)
            ti = torch.arange(c0, c1, device=x.device)
            tj = torch.arange(k0, c1, device=x.device)
            rel = ti[:, None] - tj[None, :]
            crop_ok = (rel >= 0) & (rel <= past_context)                      # [Tc, Tk]
            # zero vector: absolute offset -1, visible iff pos_start + t + 1 <= past_context
            zero_ok = (pos_start[:, None] + ti[None, :] + 1) <= past_context  # [B, Tc]
            ok = torch.cat([zero_ok[:, :, None],
                            crop_ok[None].expand(B, -1, -1)], dim=2)          # [B, Tc, 1+Tk]
            scores = q[:, :, c0:c1] @ kk.transpose(-1, -2)                    # [B, H, Tc, 1+Tk]
            scores = scores.masked_fill(~ok[:, None], float("-inf"))
            outs.append(torch.softmax(scores, dim=-1) @ vv)
        o = torch.cat(outs, dim=2).transpose(1, 2).reshape(B, T, d)
        return linear(o, self.out_proj.weight, self.out_proj.bias)

    def step(self, x, past):
        """x [d]: current input; past [n, d]: stored inputs (oldest first) -> output [d]."""
        d, H, hd = self.dim, self.num_heads, self.head_dim
        w, b = self.in_proj_weight, self.in_proj_bias
        src = torch.cat([past, x[None]], dim=0)
        q = (F.linear(x, w[:d], b[:d]) / math.sqrt(hd)).view(H, hd)
        k = F.linear(src, w[d:2 * d], b[d:2 * d]).view(-1, H, hd).transpose(0, 1)
        v = F.linear(src, w[2 * d:], b[2 * d:]).view(-1, H, hd).transpose(0, 1)
        a = torch.softmax((k @ q[:, :, None])[..., 0], dim=-1)            # [H, n+1]
        o = (a[:, None, :] @ v)[:, 0].reshape(d)
        return self.out_proj(o)


class EncoderLayer(nn.Module):
    """Post-norm transformer layer (norm_first = false), GELU (erf form), dropout at training."""

    def __init__(self, dim, num_heads, ff_dim, dropout=0.0):
        super().__init__()
        self.self_attn = SelfAttention(dim, num_heads)
        self.linear1 = nn.Linear(dim, ff_dim)
        self.linear2 = nn.Linear(ff_dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.dropout = dropout

    def _ff(self, x):
        h = F.gelu(linear(x, self.linear1.weight, self.linear1.bias))
        h = F.dropout(h, self.dropout, self.training)
        return F.dropout(linear(h, self.linear2.weight, self.linear2.bias), self.dropout,
                         self.training)

    def forward(self, x, pos_start, past_context):
        sa = F.dropout(self.self_attn(x, pos_start, past_context), self.dropout, self.training)
        x = self.norm1(x + sa)
        return self.norm2(x + self._ff(x))

    def step(self, x, past):
        x = self.norm1(x + self.self_attn.step(x, past))
        return self.norm2(x + self._ff(x))


class Transformer(nn.Module):
    def __init__(self, dim, num_heads, num_layers, ff_dim, dropout=0.0):
        super().__init__()
        self.norm_in = nn.LayerNorm(dim, eps=1e-5)
        self.layers = nn.ModuleList([EncoderLayer(dim, num_heads, ff_dim, dropout)
                                     for _ in range(num_layers)])


class LMModel(nn.Module):
    def __init__(self, n_q=32, card=1024, dim=200, num_heads=8, num_layers=5, hidden_scale=4.0,
                 past_context=262, dropout=0.0, max_period=10000.0):
        super().__init__()
        assert dim % 2 == 0 and dim % num_heads == 0
        self.n_q, self.card, self.dim = n_q, card, dim
        self.num_heads, self.num_layers = num_heads, num_layers
        self.ff_dim = int(dim * hidden_scale)
        self.past_context, self.max_period = past_context, max_period
        self.transformer = Transformer(dim, num_heads, num_layers, self.ff_dim, dropout)
        self.emb = nn.ModuleList([nn.Embedding(card + 1, dim) for _ in range(n_q)])
        self.linears = nn.ModuleList([nn.Linear(dim, card) for _ in range(n_q)])
        self.config = dict(n_q=n_q, card=card, dim=dim, num_heads=num_heads,
                           num_layers=num_layers, hidden_scale=hidden_scale,
                           past_context=past_context, dropout=dropout, max_period=max_period)

    # -- whole crops (training / evaluation) ------------------------------------------------

    def embed(self, prev, pos_start):
        """prev [B, K, T] (code + 1, 0 = none) -> transformer input [B, T, d]."""
        B, K, T = prev.shape
        x = self.emb[0](prev[:, 0])
        for k in range(1, K):
            x = x + self.emb[k](prev[:, k])
        x = self.transformer.norm_in(x)
        pos = pos_start[:, None] + torch.arange(T, device=prev.device)[None, :]
        return x + positional_embedding(pos, self.dim, self.max_period)

    def hidden(self, prev, pos_start=None):
        B = prev.shape[0]
        if pos_start is None:
            pos_start = torch.zeros(B, dtype=torch.long, device=prev.device)
        x = self.embed(prev, pos_start)
        for layer in self.transformer.layers:
            x = layer(x, pos_start, self.past_context)
        return x

    def head_logits(self, x, K):
        """x [..., d] -> logits [..., K, card] of the first K heads (one matmul)."""
        w = torch.cat([self.linears[k].weight for k in range(K)], dim=0)
        b = torch.cat([self.linears[k].bias for k in range(K)], dim=0)
        return linear(x, w, b).unflatten(-1, (K, self.card))

    def forward(self, prev, pos_start=None):
        """prev [B, K, T] -> logits [B, T, K, card]: frame t's distribution of codebook k given
        the inputs of frames <= t (input of frame t = codes of frame t-1, plus one)."""
        return self.head_logits(self.hidden(prev, pos_start), prev.shape[1])

    # -- streaming, one frame at a time (spec 10.3) -----------------------------------------

    def initial_state(self):
        return [torch.zeros(1, self.dim) for _ in self.transformer.layers]

    @torch.no_grad()
    def step(self, prev, state, offset):
        """prev [K] long (code + 1 or 0) -> (probs [K, card], new state); offset = frames
        already processed in this segment."""
        K = prev.shape[0]
        x = self.emb[0].weight[prev[0]]
        for k in range(1, K):
            x = x + self.emb[k].weight[prev[k]]
        x = self.transformer.norm_in(x)
        x = x + positional_embedding(torch.tensor(float(offset)), self.dim, self.max_period)
        new_state = []
        for layer, past in zip(self.transformer.layers, state):
            new_state.append(torch.cat([past, x[None]], 0)[-self.past_context:])
            x = layer.step(x, past)
        return torch.softmax(self.head_logits(x, K), dim=-1), new_state

    @torch.no_grad()
    def stream_probs(self, codes):
        """codes [K, T] long -> probs [T, K, card] exactly as the compress loop computes them."""
        K, T = codes.shape
        state, prev, out = self.initial_state(), torch.zeros(K, dtype=torch.long), []
        for t in range(T):
            p, state = self.step(prev, state, t)
            out.append(p)
            prev = codes[:, t] + 1
        return torch.stack(out)

    # -- export ---------------------------------------------------------------------------------

    def export_state_dict(self):
        """Plain float32 state dict in the official key order."""
        sd = self.state_dict()
        out = type(sd)()
        for k, v in sd.items():
            out[k] = v.detach().to("cpu", torch.float32).contiguous().clone()
        return out


def teacher_forcing_inputs(codes, first_is_start=True, before=None):
    """codes [B, K, T] (0..card-1) -> LM inputs [B, K, T]: input of frame t = codes[t-1] + 1;
    the first frame's input is 0 (segment start) or before + 1 (the codes of the frame
    preceding the crop, [B, K])."""
    prev = torch.zeros_like(codes)
    prev[:, :, 1:] = codes[:, :, :-1] + 1
    if not first_is_start:
        prev[:, :, 0] = before + 1
    return prev


@torch.no_grad()
def check_streaming(model, codes, atol=1e-5):
    """Max |forward - step| over the probabilities of one sequence codes [K, T]."""
    model.eval()
    prev = teacher_forcing_inputs(codes[None])
    par = torch.softmax(model(prev), dim=-1)[0]
    seq = model.stream_probs(codes)
    err = float((par - seq).abs().max())
    return err, err <= atol
