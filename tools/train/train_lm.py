#!/usr/bin/python3
"""Train the entropy-coding language model (tools/train/lm_model.py) on the codes of one of our
codecs (tools/train/model.py), so that `encodec --lm` files get smaller.

1. Codes: every corpus clip (tools/train/make_corpus.py output) is encoded as one segment, as
   libencodec encodes a 24 kHz file, at the codec's full n_q codebooks (the codes of a lower
   bandwidth are the first K of these; RVQ is greedy).  They are cached in the run directory:
   codes.npy (int16 [frames, n_q], all clips one after the other), codes.json (clip table,
   split, codec identity) and codec.th (the codec weights they came from, in the export format:
   an LM is only valid together with exactly this codec).  A cache made from other codec weights
   is refused unless --recompute-codes.
2. Training: teacher forcing on random crops (the input of frame t is the codes of frame t-1
   plus one, 0 at the start of a clip; the target is the codes of frame t), cross-entropy
   averaged over the predicted codes.  Each batch uses K codebooks drawn from --codebooks
   (default 2,4,8,16,32 = 1.5..24 kbps): the input sums the first K embeddings and the first K
   heads are trained, exactly what the LM sees when coding a K-codebook stream.  Crops start at
   the clip start with probability --p-start, otherwise anywhere; a crop that starts at least
   past_context frames into the clip gets its absolute frame offset shifted by a random amount
   (--pos-jitter) so that the sinusoidal positions of long files are not unseen at coding time.
   Head biases start at the log unigram frequencies of each codebook (a unigram model from
   step 0).  Adam, warm-up, cosine decay to 10 % over the --minutes budget (or --max-steps).
3. Validation: every held-out clip (clip i of a category with i % --val-every == val-every-1,
   the same clips train.py holds out of codec training) from frame 0, as the coder runs it,
   for each K; reported in bits per code with the saving against the plain 10-bit packing, next
   to a unigram baseline.

Run directory: ckpt.pt (model, optimiser, step, elapsed, RNG states, config, args; resumable:
the same command continues it), lm_export.th (official-format state dict of the latest
checkpoint, for tools/encodec-convert), train.log, val.log, codes.*, codec.th.

  nice -n 10 /usr/bin/python3 tools/train/train_lm.py --codec /work/train-run/run1/ckpt.pt \
      --run-dir /work/train-run/lm1 --minutes 25 --threads 1
"""

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lm_model  # noqa: E402
from lm_model import LMModel, _mm_nt, teacher_forcing_inputs  # noqa: E402
from model import SConv1d, ResBlock, SLSTM  # noqa: E402
from train import DEFAULT_WEIGHTS, atomic_save, build_model  # noqa: E402

LN2 = math.log(2.0)


# ---------------------------------------------------------------------------------------------
# Codec and codes
# ---------------------------------------------------------------------------------------------

def load_codec(spec, corpus_root, seed):
    """spec: a train.py ckpt.pt, an export .th, or 'init' (train.py's default model, untrained,
    codebooks k-means-initialised on corpus audio exactly as a fresh train.py run does).
    Returns (model in eval mode, description)."""
    if spec == "init":
        from train import Corpus
        cfg = dict(n_filters=16, dimension=64, n_q=32, bins=1024, decay=0.99,
                   dead_fraction=0.03, init_gain=math.sqrt(3))
        pyrng = random.Random(seed)
        torch.manual_seed(seed)
        np.random.seed(seed)
        model = build_model(cfg)
        model.quantizer.gen = torch.Generator().manual_seed(seed + 1)
        corpus = Corpus(corpus_root, DEFAULT_WEIGHTS)
        xs = corpus.sample(48, 24000, pyrng)
        with torch.no_grad():
            z = torch.cat([model.encoder(xs[i:i + 8]) for i in range(0, len(xs), 8)])
        model.quantizer.init_codebooks(z)
        return model.eval(), "untrained init (seed %d, k-means codebooks)" % seed
    ck = torch.load(spec, map_location="cpu")
    if "config" in ck and "model" in ck:
        model = build_model(ck["config"])
        model.load_state_dict(ck["model"])
        return model.eval(), "%s (step %d, %.2f h)" % (spec, ck["step"], ck["elapsed"] / 3600)
    nf = ck["encoder.model.0.conv.conv.weight_v"].shape[0]
    emb = ck["quantizer.vq.layers.0._codebook.embed"]
    n_q = len([k for k in ck if k.endswith("._codebook.embed")])
    model = build_model(dict(n_filters=nf, dimension=emb.shape[1], n_q=n_q, bins=emb.shape[0]))
    model.load_state_dict(ck)
    return model.eval(), "%s (export)" % spec


def state_hash(sd):
    h = hashlib.sha256()
    for k, v in sd.items():
        h.update(k.encode())
        h.update(v.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# Fast inference path of the codec (same math as model.py's modules).  With Debian's generic
# BLAS the encoder's LSTM steps, its 1x1 convolutions and the RVQ distances run at ~2 GFLOP/s;
# here they go through oneDNN (lm_model._mm_nt) and the LSTM runs several clips at once.

def _conv(mod, x):
    conv = mod.conv.conv
    if mod.k == 1 and mod.stride == 1 and lm_model.FAST:      # 1x1: a matrix product
        w = torch._weight_norm(conv.weight_v, conv.weight_g, 0)[:, :, 0]
        B, C, T = x.shape
        y = _mm_nt(x.transpose(1, 2).reshape(B * T, C), w) + conv.bias
        return y.view(B, T, -1).transpose(1, 2)
    return mod(x)


def _lstm(mod, x):
    """SLSTM: 2-layer LSTM over time plus the skip; x [B, C, T]."""
    if not lm_model.FAST:
        return mod(x)
    lstm = mod.lstm
    seq = x.permute(2, 0, 1).contiguous()                     # [T, B, C]
    T, B, C = seq.shape
    h_in = seq
    for layer in range(lstm.num_layers):
        w_ih = getattr(lstm, "weight_ih_l%d" % layer)
        w_hh = getattr(lstm, "weight_hh_l%d" % layer)
        bias = getattr(lstm, "bias_ih_l%d" % layer) + getattr(lstm, "bias_hh_l%d" % layer)
        H = w_hh.shape[1]
        xp = (_mm_nt(h_in.reshape(T * B, -1), w_ih) + bias).view(T, B, 4 * H)
        h = x.new_zeros(B, H)
        c = x.new_zeros(B, H)
        out = torch.empty(T, B, H)
        for t in range(T):
            g = xp[t] + _mm_nt(h, w_hh)
            i, f, gg, o = g.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
            h = torch.sigmoid(o) * torch.tanh(c)
            out[t] = h
        h_in = out
    return (h_in + seq).permute(1, 2, 0)


def _run(mod, x):
    if isinstance(mod, SConv1d):
        return _conv(mod, x)
    if isinstance(mod, ResBlock):
        return _run(mod.shortcut, x) + _run(mod.block, x)
    if isinstance(mod, SLSTM):
        return _lstm(mod, x)
    if isinstance(mod, torch.nn.Sequential):
        for m in mod:
            x = _run(m, x)
        return x
    return mod(x)


@torch.no_grad()
def fast_encode(codec, x, n_q):
    """x [B, 1, L] -> codes [n_q, B, T] (model.EncodecModel.encode, faster on CPU)."""
    z = _run(codec.encoder.model, x)
    if not lm_model.FAST:
        return codec.quantizer.encode(z, n_q)
    B, D, T = z.shape
    r = z.permute(0, 2, 1).reshape(-1, D)
    codes = []
    for cb in codec.quantizer.codebooks()[:n_q]:
        e = cb.embed
        dist = (r.pow(2).sum(1, keepdim=True) - 2 * _mm_nt(r, e)) + e.pow(2).sum(1)[None, :]
        c = dist.argmin(dim=1)
        codes.append(c)
        r = r - e[c]
    return torch.stack(codes).view(n_q, B, T)


def extract_codes(codec, corpus_root, weights, val_every, log, batch=16):
    """Encode every clip of every category with weight > 0 as one segment at n_q codebooks.
    Clips of similar length are encoded together, zero-padded at the end: the encoder is
    causal, so only the last frame of a clip (whose reflect padding differs) can change."""
    n_q, hop = codec.quantizer.n_q, codec.hop
    clips, t0, done = [], time.time(), 0
    for cat, w in weights.items():
        p = os.path.join(corpus_root, cat + ".npy")
        if w <= 0 or not os.path.exists(p):
            continue
        arr = np.load(p, mmap_mode="r")
        index = json.load(open(os.path.join(corpus_root, cat + ".index.json")))
        items = [dict(cat=cat, clip=i, o=int(e[0]), n=int(e[1]),
                      split="val" if i % val_every == val_every - 1 else "train")
                 for i, e in enumerate(index)]
        order = sorted(range(len(items)), key=lambda j: items[j]["n"])
        for b0 in range(0, len(order), batch):
            group = [items[j] for j in order[b0:b0 + batch]]
            L = max(it["n"] for it in group)
            x = np.zeros((len(group), 1, L), np.float32)
            for g, it in enumerate(group):
                x[g, 0, :it["n"]] = arr[it["o"]:it["o"] + it["n"]] / 32768.0
            c = fast_encode(codec, torch.from_numpy(x), n_q)           # [n_q, B, T]
            for g, it in enumerate(group):
                T = -(-it["n"] // hop)
                it["codes"] = c[:, g, :T].t().numpy().astype(np.int16)
            done += sum(it["n"] for it in group)
        clips += items
        log("codes: %s done (%d clips), %.1f min of audio so far, %.0f s"
            % (cat, len(index), done / codec.sample_rate / 60, time.time() - t0))
    pos, chunks = 0, []
    for it in clips:
        chunks.append(it.pop("codes"))
        it.pop("o")
        it.pop("n")
        it["start"], it["frames"] = pos, int(chunks[-1].shape[0])
        pos += it["frames"]
    return np.concatenate(chunks), clips


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

class CodeData:
    def __init__(self, codes, clips, weights, card):
        self.codes = codes                       # int16 [frames, n_q]
        self.card = card
        self.train = [c for c in clips if c["split"] == "train"]
        self.val = [c for c in clips if c["split"] == "val"] or self.train[:1]
        cats = sorted(set(c["cat"] for c in self.train), key=list(weights).index)
        self.cats = []
        for cat in cats:
            cl = [c for c in self.train if c["cat"] == cat]
            self.cats.append(dict(name=cat, clips=cl, cum=np.cumsum([c["frames"] for c in cl])))
        tot = sum(weights[c["name"]] for c in self.cats)
        self.p = [weights[c["name"]] / tot for c in self.cats]

    def frames(self, split):
        return sum(c["frames"] for c in (self.train if split == "train" else self.val))

    def unigram_logp(self):
        """log p(code) per codebook from the training frames, add-one smoothed: [n_q, card]."""
        idx = np.concatenate([np.arange(c["start"], c["start"] + c["frames"])
                              for c in self.train])
        sub = self.codes[idx].astype(np.int64)
        n_q = sub.shape[1]
        counts = np.stack([np.bincount(sub[:, k], minlength=self.card) for k in range(n_q)])
        counts = counts.astype(np.float64) + 1.0
        return np.log(counts / counts.sum(1, keepdims=True))

    def batch(self, rng, B, L, K, past_context, p_start, pos_jitter):
        """-> prev [B, K, L], target [B, K, L] (-100 = padding), pos_start [B] (long)."""
        tgt = np.full((B, K, L), -100, np.int64)
        prev = np.zeros((B, K, L), np.int64)
        pos = np.zeros(B, np.int64)
        for b in range(B):
            cat = self.cats[rng.choices(range(len(self.cats)), self.p)[0]]
            j = int(np.searchsorted(cat["cum"], rng.random() * cat["cum"][-1], side="right"))
            clip = cat["clips"][min(j, len(cat["clips"]) - 1)]
            n = clip["frames"]
            s = 0 if (rng.random() < p_start or n <= L) else rng.randrange(1, n - L + 1)
            m = min(L, n - s)
            c = self.codes[clip["start"] + s:clip["start"] + s + m, :K].T.astype(np.int64)
            tgt[b, :, :m] = c
            prev[b, :, 1:m] = c[:, :m - 1] + 1
            if s > 0:
                prev[b, :, 0] = self.codes[clip["start"] + s - 1, :K].astype(np.int64) + 1
            pos[b] = s
            if s >= past_context and pos_jitter > 0:
                pos[b] = s + rng.randrange(pos_jitter)
        return torch.from_numpy(prev), torch.from_numpy(tgt), torch.from_numpy(pos)


@torch.no_grad()
def validate(model, data, ks, unigram, max_frames=0):
    """Bits per code of every validation clip coded from frame 0, for each K; and the unigram
    baseline.  max_frames > 0 truncates each clip (quick checks)."""
    model.eval()
    res = {}
    for K in ks:
        nats, n = 0.0, 0
        for clip in data.val:
            T = clip["frames"] if max_frames <= 0 else min(max_frames, clip["frames"])
            c = torch.from_numpy(
                data.codes[clip["start"]:clip["start"] + T, :K].T.astype(np.int64))[None]
            logits = model(teacher_forcing_inputs(c))                       # [1, T, K, card]
            nats += float(F.cross_entropy(logits.reshape(-1, model.card),
                                          c[0].t().reshape(-1), reduction="sum"))
            n += T * K
        res["K%d" % K] = round(nats / n / LN2, 4)
    for K in ks:  # baseline: each codebook's code frequencies alone (no context)
        uni_bits, n = 0.0, 0
        for clip in data.val:
            T = clip["frames"] if max_frames <= 0 else min(max_frames, clip["frames"])
            c = data.codes[clip["start"]:clip["start"] + T, :K].astype(np.int64)
            uni_bits -= float(sum(unigram[k, c[:, k]].sum() for k in range(K))) / LN2
            n += c.size
        res["unigram_K%d" % K] = round(uni_bits / n, 4)
    model.train()
    return res


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

def get_rng(pyrng):
    return dict(py=pyrng.getstate(), torch=torch.get_rng_state(), np=np.random.get_state())


def set_rng(st, pyrng):
    pyrng.setstate(st["py"])
    torch.set_rng_state(st["torch"])
    np.random.set_state(st["np"])


def build_lm(cfg):
    return LMModel(n_q=cfg["n_q"], card=cfg["card"], dim=cfg["dim"], num_heads=cfg["num_heads"],
                   num_layers=cfg["num_layers"], hidden_scale=cfg["hidden_scale"],
                   past_context=cfg["past_context"], dropout=cfg.get("dropout", 0.0))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codec", default="/work/train-run/run1/ckpt.pt",
                    help="codec: train.py ckpt.pt, export .th, or 'init' (untrained)")
    ap.add_argument("--corpus", default="/work/train-run/corpus")
    ap.add_argument("--run-dir", default="/work/train-run/lm1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--fresh", action="store_true", help="ignore an existing ckpt.pt")
    ap.add_argument("--recompute-codes", action="store_true",
                    help="re-encode the corpus even if codes.npy exists (other codec weights)")
    ap.add_argument("--codes-only", action="store_true", help="stop after extracting the codes")
    ap.add_argument("--weights", default=None,
                    help="category weights as JSON (default: train.py's %s)"
                    % json.dumps(DEFAULT_WEIGHTS))
    ap.add_argument("--val-every", type=int, default=50,
                    help="clip i is held out when i %% N == N-1 (train.py's codec split)")
    # model
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--hidden-scale", type=float, default=4.0)
    ap.add_argument("--past-context", type=int, default=262, help="int(3.5 * 75) as released")
    ap.add_argument("--n-q", type=int, default=0, help="heads/tables (0: the codec's n_q)")
    ap.add_argument("--dropout", type=float, default=0.0)
    # optimisation
    ap.add_argument("--codebooks", default="2,4,8,16,32", help="K drawn per batch")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--frames", type=int, default=400, help="crop length in frames")
    ap.add_argument("--p-start", type=float, default=0.25,
                    help="probability that a crop starts at its clip's first frame")
    ap.add_argument("--pos-jitter", type=int, default=75 * 600,
                    help="random shift of the offset of crops starting >= past_context "
                    "into a clip (frames)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0, help="gradient norm clip")
    ap.add_argument("--minutes", type=float, default=25.0,
                    help="training time budget (total over resumes); the LR schedule follows it")
    ap.add_argument("--max-steps", type=int, default=0,
                    help="stop after this many steps (and schedule by steps instead of time)")
    ap.add_argument("--steps-this-run", type=int, default=0,
                    help="stop this invocation after N steps (the schedule is unchanged; "
                    "resume later with the same command)")
    # bookkeeping
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--val-codebooks", default="2,4,8,16,32")
    ap.add_argument("--val-max-frames", type=int, default=0,
                    help="truncate validation clips (0: whole clips)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    os.makedirs(args.run_dir, exist_ok=True)
    logf = open(os.path.join(args.run_dir, "train.log"), "a")

    def log(s):
        print(s, file=logf, flush=True)
        print(s, file=sys.stderr, flush=True)

    weights = json.loads(args.weights) if args.weights else DEFAULT_WEIGHTS
    codes_p = os.path.join(args.run_dir, "codes.npy")
    meta_p = os.path.join(args.run_dir, "codes.json")
    codec_p = os.path.join(args.run_dir, "codec.th")

    # ---- codes ----
    meta = json.load(open(meta_p)) if os.path.exists(meta_p) and os.path.exists(codes_p) else None
    if meta is None or args.recompute_codes:
        codec, desc = load_codec(args.codec, args.corpus, args.seed)
        sd = codec.export_state_dict()
        log("# encoding the corpus with codec %s, hash %s, n_q %d"
            % (desc, state_hash(sd), codec.quantizer.n_q))
        codes, clips = extract_codes(codec, args.corpus, weights, args.val_every, log)
        meta = dict(codec=desc, codec_hash=state_hash(sd), n_q=codec.quantizer.n_q,
                    bins=codec.bins, frame_rate=codec.frame_rate, clips=clips,
                    val_every=args.val_every, weights=weights)
        atomic_save(sd, codec_p)
        np.save(codes_p + ".tmp.npy", codes)
        os.replace(codes_p + ".tmp.npy", codes_p)
        with open(meta_p + ".tmp", "w") as f:
            json.dump(meta, f)
        os.replace(meta_p + ".tmp", meta_p)
        del codec
    else:
        if args.codec != "init" and os.path.abspath(args.codec) != os.path.abspath(codec_p):
            h = state_hash(load_codec(args.codec, args.corpus, args.seed)[0].export_state_dict())
            if h != meta["codec_hash"]:
                raise SystemExit(
                    "%s holds codes of codec %s (hash %s) but --codec %s has hash %s: resume "
                    "with --codec %s, or retrain for the new codec with --recompute-codes "
                    "--fresh (or a new --run-dir)" % (codes_p, meta["codec"], meta["codec_hash"],
                                                      args.codec, h, codec_p))
        log("# codes from %s (codec %s, hash %s); codec weights in %s"
            % (codes_p, meta["codec"], meta["codec_hash"], codec_p))
    codes = np.load(codes_p)
    if args.codes_only:
        return 0

    ckpt_path = os.path.join(args.run_dir, "ckpt.pt")
    resume = os.path.exists(ckpt_path) and not args.fresh
    ck = torch.load(ckpt_path, map_location="cpu") if resume else None
    if ck and ck.get("codec_hash") != meta["codec_hash"]:
        raise SystemExit("%s was trained on codes of codec %s, the cached codes are from %s; "
                         "use --fresh" % (ckpt_path, ck.get("codec_hash"), meta["codec_hash"]))
    cfg = ck["config"] if ck else dict(
        n_q=args.n_q or meta["n_q"], card=meta["bins"], dim=args.dim, num_heads=args.heads,
        num_layers=args.layers, hidden_scale=args.hidden_scale, past_context=args.past_context,
        dropout=args.dropout)
    if cfg["n_q"] > meta["n_q"]:
        raise SystemExit("--n-q %d exceeds the codec's %d codebooks" % (cfg["n_q"], meta["n_q"]))
    pyrng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = build_lm(cfg)
    data = CodeData(codes, meta["clips"], weights, cfg["card"])
    unigram = data.unigram_logp()
    ks = sorted(set(min(int(k), cfg["n_q"]) for k in args.codebooks.split(",")))
    val_ks = sorted(set(min(int(k), cfg["n_q"]) for k in args.val_codebooks.split(",")))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-9)
    step, elapsed = 0, 0.0
    if ck:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
        set_rng(ck["rng"], pyrng)
        log("resumed from %s at step %d (%.1f min)" % (ckpt_path, step, elapsed / 60))
    else:
        with torch.no_grad():  # start as the unigram model of each codebook
            for k in range(cfg["n_q"]):
                lp = torch.from_numpy(unigram[k]).float()
                model.linears[k].bias.copy_(lp - lp.mean())
                model.linears[k].weight.mul_(0.1)
        log("# start %s args=%s" % (time.strftime("%Y-%m-%d %H:%M:%S"), json.dumps(vars(args))))
    n_params = sum(p.numel() for p in model.parameters())
    log("# LM %s, %.2f M parameters; codes: %d train frames (%d clips), %d val frames "
        "(%d clips), codec %s" % (json.dumps(cfg), n_params / 1e6, data.frames("train"),
                                  len(data.train), data.frames("val"), len(data.val),
                                  meta["codec"]))

    def save():
        st = dict(model=model.state_dict(), opt=opt.state_dict(), step=step, elapsed=elapsed,
                  rng=get_rng(pyrng), config=cfg, args=vars(args),
                  codec_hash=meta["codec_hash"], codec=meta["codec"])
        atomic_save(st, ckpt_path)
        atomic_save(model.export_state_dict(), os.path.join(args.run_dir, "lm_export.th"))

    def run_val():
        t = time.time()
        v = validate(model, data, val_ks, unigram, args.val_max_frames)
        v = dict(step=step, minutes=round(elapsed / 60, 2), **v)
        v["saving_pct"] = {k: round(100 * (1 - b / math.log2(cfg["card"])), 2)
                           for k, b in v.items() if k.startswith("K")}
        with open(os.path.join(args.run_dir, "val.log"), "a") as f:
            print(json.dumps(v), file=f)
        log("val " + json.dumps(v) + " (%.0f s)" % (time.time() - t))

    if not ck:
        run_val()
    model.train()
    budget = args.minutes * 60
    last_ckpt = time.time()
    t_start = time.time() - elapsed
    acc_nats = acc_n = acc_steps = 0
    acc_dt = 0.0
    first_step = step
    while True:
        if args.max_steps and step >= args.max_steps:
            break
        if args.steps_this_run and step - first_step >= args.steps_this_run:
            break
        if not args.max_steps and elapsed >= budget:
            break
        t0 = time.time()
        frac = step / args.max_steps if args.max_steps else elapsed / budget
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (
            args.min_lr_frac + (1 - args.min_lr_frac) * cosine)
        for g in opt.param_groups:
            g["lr"] = lr
        K = pyrng.choice(ks)
        prev, tgt, pos = data.batch(pyrng, args.batch, args.frames, K, cfg["past_context"],
                                    args.p_start, args.pos_jitter)
        logits = model(prev, pos)                                   # [B, L, K, card]
        tg = tgt.permute(0, 2, 1).reshape(-1)
        loss = F.cross_entropy(logits.reshape(-1, cfg["card"]), tg, ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip))
        if not (math.isfinite(float(loss)) and math.isfinite(gnorm)):
            log("step=%d\tnon-finite loss/gradient, update skipped" % step)
        else:
            opt.step()
        step += 1
        n = int((tg != -100).sum())
        acc_nats += float(loss) * n
        acc_n += n
        acc_steps += 1
        acc_dt += time.time() - t0
        elapsed = time.time() - t_start
        if step % args.log_every == 0:
            bits = acc_nats / acc_n / LN2
            log("step=%d\tmin=%.2f\tbits=%.4f\tsaving=%.1f%%\tlr=%.2e\tgnorm=%.3g\tdt=%.3f"
                % (step, elapsed / 60, bits, 100 * (1 - bits / math.log2(cfg["card"])), lr,
                   gnorm, acc_dt / acc_steps))
            acc_nats = acc_n = acc_steps = 0
            acc_dt = 0.0
        if time.time() - last_ckpt >= args.ckpt_minutes * 60:
            save()
            run_val()
            last_ckpt = time.time()
            t_start = time.time() - elapsed  # validation time is not training time
    save()
    run_val()
    log("# done: step %d, %.1f min; export: %s" % (step, elapsed / 60,
                                                  os.path.join(args.run_dir, "lm_export.th")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
