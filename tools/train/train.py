#!/usr/bin/python3
"""Train an EnCodec-style 24 kHz codec (tools/train/model.py) on the corpus built by
tools/train/make_corpus.py.

Losses: time-domain L1 (weight --w-time), multi-scale mel (FFT 64..2048, log-mel L1 plus
spectral convergence of the mel magnitudes, weight --w-mel), RVQ commitment (--w-commit), and
optionally (--adv) a multi-scale STFT discriminator with hinge loss and feature matching.
Each batch uses a random bandwidth from 1.5/3/6/12/24 kbps (quantizer dropout).  Adam.

The run directory (--run-dir) receives:
  ckpt.pt            latest checkpoint (model, optimizer, step, RNG states, args); resumable
  ckpt-<step>.pt     kept copies every --keep-every-hours hours
  export.th          plain float32 state dict in the reference layout (for encodec-convert)
  train.log          one line per --log-every steps (tab-separated key=value)
  val.log            validation at each checkpoint (mel distance as the team's metric)

Starting again with the same --run-dir resumes from ckpt.pt (unless --fresh).
Example (CPU, one thread, low priority):
  nice -n 19 /usr/bin/python3 tools/train/train.py --run-dir /work/train-run/run1
"""

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import BANDWIDTHS, EncodecModel  # noqa: E402

SR = 24000


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

DEFAULT_WEIGHTS = {"music": 0.35, "mix": 0.12, "flite": 0.13, "festival": 0.10,
                   "speech_ru": 0.12, "speech_klettres": 0.10, "speech_ktuberling": 0.08}


class Corpus:
    """All categories in RAM (int16).  Every --val-every-th clip is held out for validation."""

    def __init__(self, root, weights, val_every=50):
        self.cats = []
        for cat, w in weights.items():
            p = os.path.join(root, cat + ".npy")
            if w <= 0 or not os.path.exists(p):
                continue
            arr = np.load(p, mmap_mode=None)
            index = json.load(open(os.path.join(root, cat + ".index.json")))
            train = [(o, n) for i, (o, n, _) in enumerate(index) if i % val_every != val_every - 1]
            val = [(o, n) for i, (o, n, _) in enumerate(index) if i % val_every == val_every - 1]
            if not train:
                train = val
            if not val:
                val = train[:1]
            self.cats.append(dict(name=cat, w=w, arr=arr, train=train, val=val,
                                  cum=np.cumsum([n for _, n in train])))
        if not self.cats:
            raise SystemExit("no corpus found under %s" % root)
        tot = sum(c["w"] for c in self.cats)
        self.p = [c["w"] / tot for c in self.cats]

    def describe(self):
        return ", ".join("%s %.1f min (w %.2f)" % (c["name"], len(c["arr"]) / SR / 60, p)
                         for c, p in zip(self.cats, self.p))

    def _crop(self, arr, o, n, length, rng):
        if n >= length:
            s = o + rng.randrange(n - length + 1)
            x = arr[s:s + length]
        else:
            x = np.zeros(length, np.int16)
            x[:n] = arr[o:o + n]
        return x.astype(np.float32) / 32768.0

    def sample(self, batch, length, rng):
        out = np.zeros((batch, 1, length), np.float32)
        for b in range(batch):
            c = self.cats[rng.choices(range(len(self.cats)), self.p)[0]]
            for _ in range(6):  # avoid near-silent crops
                k = int(np.searchsorted(c["cum"], rng.random() * c["cum"][-1], side="right"))
                o, n = c["train"][min(k, len(c["train"]) - 1)]
                x = self._crop(c["arr"], o, n, length, rng)
                if np.sqrt(np.mean(x ** 2)) > 3e-4:
                    break
            if rng.random() < 0.5:
                x = -x
            out[b, 0] = x * 10 ** (rng.uniform(-6, 6) / 20)
        return torch.from_numpy(np.clip(out, -1, 1))

    def val_set(self, per_cat, length, seed=0):
        rng = random.Random(seed)
        xs, names = [], []
        for c in self.cats:
            for i in range(per_cat):
                o, n = c["val"][i % len(c["val"])]
                xs.append(self._crop(c["arr"], o, n, length, rng))
                names.append(c["name"])
        return torch.from_numpy(np.stack(xs)[:, None]), names


# ---------------------------------------------------------------------------------------------
# Spectral losses
# ---------------------------------------------------------------------------------------------

def mel_filterbank(n_fft, n_mels, sr, fmin=0.0, fmax=None):
    """HTK-formula triangular mel filters [n_mels, n_fft//2+1] (no area normalisation)."""
    fmax = fmax or sr / 2

    def hz2mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel2hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    pts = mel2hz(np.linspace(hz2mel(fmin), hz2mel(fmax), n_mels + 2))
    fb = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, c, hi = pts[i], pts[i + 1], pts[i + 2]
        up = (freqs - lo) / max(c - lo, 1e-9)
        down = (hi - freqs) / max(hi - c, 1e-9)
        fb[i] = np.maximum(0, np.minimum(up, down))
    return torch.tensor(fb, dtype=torch.float32)


class MelSpec(nn.Module):
    def __init__(self, n_fft, n_mels, sr=SR, window_normalized=False):
        super().__init__()
        self.n_fft, self.hop = n_fft, n_fft // 4
        self.window_normalized = window_normalized
        self.register_buffer("window", torch.hann_window(n_fft))
        self.register_buffer("fb", mel_filterbank(n_fft, n_mels, sr))

    def forward(self, x):  # x [B, 1, T] -> mel power [B, n_mels, frames]
        X = torch.stft(x.squeeze(1), self.n_fft, self.hop, window=self.window, center=True,
                       pad_mode="reflect", return_complex=True)
        if self.window_normalized:
            X = X / self.window.sum()
        return self.fb @ (X.real ** 2 + X.imag ** 2)


class MultiScaleMelLoss(nn.Module):
    def __init__(self, sizes=(64, 128, 256, 512, 1024, 2048)):
        super().__init__()
        self.specs = nn.ModuleList([MelSpec(n, min(80, n // 8)) for n in sizes])

    def forward(self, y, x):
        total = 0.0
        for s in self.specs:
            my, mx = s(y), s(x)
            log_l1 = (torch.log10(my + 1e-5) - torch.log10(mx + 1e-5)).abs().mean()
            sc = torch.linalg.norm(my.sqrt() - mx.sqrt()) / (torch.linalg.norm(mx.sqrt()) + 1e-7)
            total = total + log_l1 + sc
        return total / len(self.specs)


class MelDistance(nn.Module):
    """The team's evaluation metric (TRAINING-DATA.md): FFT 512/1024/2048, 80 HTK mels,
    L1 of log10(mel power + 1e-5), mean over sizes; the STFT divided by the window sum, as
    tools/eval/eval_metrics.py (the scaling that reproduces the Opus table there)."""

    def __init__(self):
        super().__init__()
        self.specs = nn.ModuleList([MelSpec(n, 80, window_normalized=True)
                                    for n in (512, 1024, 2048)])

    def forward(self, y, x):
        return sum((torch.log10(s(y) + 1e-5) - torch.log10(s(x) + 1e-5)).abs().mean()
                   for s in self.specs) / len(self.specs)


def si_sdr(y, x):
    x = x - x.mean(-1, keepdim=True)
    y = y - y.mean(-1, keepdim=True)
    a = (y * x).sum(-1, keepdim=True) / ((x * x).sum(-1, keepdim=True) + 1e-9)
    t = a * x
    return 10 * torch.log10((t * t).sum(-1) / (((y - t) ** 2).sum(-1) + 1e-9) + 1e-9)


# ---------------------------------------------------------------------------------------------
# Optional adversarial part: multi-scale STFT discriminator (our own small version)
# ---------------------------------------------------------------------------------------------

class STFTDisc(nn.Module):
    def __init__(self, n_fft, ch=32):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft))
        wn = nn.utils.weight_norm
        self.convs = nn.ModuleList([
            wn(nn.Conv2d(2, ch, (3, 9), padding=(1, 4))),
            wn(nn.Conv2d(ch, ch, (3, 9), stride=(1, 2), padding=(1, 4), dilation=(1, 1))),
            wn(nn.Conv2d(ch, ch, (3, 9), stride=(1, 2), padding=(2, 4), dilation=(2, 1))),
            wn(nn.Conv2d(ch, ch, (3, 9), stride=(1, 2), padding=(4, 4), dilation=(4, 1))),
            wn(nn.Conv2d(ch, ch, (3, 3), padding=(1, 1))),
        ])
        self.out = wn(nn.Conv2d(ch, 1, (3, 3), padding=(1, 1)))

    def forward(self, x):
        X = torch.stft(x.squeeze(1), self.n_fft, self.n_fft // 4, window=self.window,
                       return_complex=True)
        h = torch.stack([X.real, X.imag], 1).transpose(2, 3)  # [B, 2, T, F]
        feats = []
        for c in self.convs:
            h = F.leaky_relu(c(h), 0.2)
            feats.append(h)
        return self.out(h), feats


class MSSTFTDisc(nn.Module):
    def __init__(self, sizes=(2048, 1024, 512, 256, 128)):
        super().__init__()
        self.discs = nn.ModuleList([STFTDisc(n) for n in sizes])

    def forward(self, x):
        return [d(x) for d in self.discs]


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

def get_rng_state(pyrng, model):
    return dict(py=pyrng.getstate(), torch=torch.get_rng_state(), np=np.random.get_state(),
                qgen=model.quantizer.gen.get_state())


def set_rng_state(st, pyrng, model):
    pyrng.setstate(st["py"])
    torch.set_rng_state(st["torch"])
    np.random.set_state(st["np"])
    model.quantizer.gen.set_state(st["qgen"])


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def build_model(cfg):
    return EncodecModel(n_filters=cfg["n_filters"], dimension=cfg["dimension"],
                        n_q=cfg["n_q"], bins=cfg["bins"], decay=cfg.get("decay", 0.99),
                        dead_fraction=cfg.get("dead_fraction", 0.03),
                        init_gain=cfg.get("init_gain", 0.0))


@torch.no_grad()
def validate(model, melloss, meldist, xv, device, bws=(1.5, 6.0, 24.0), batch=8):
    model.eval()
    res = {}
    for bw in bws:
        nq = model.n_q_for_bandwidth(bw)
        md, ml, sd = [], [], []
        for i in range(0, len(xv), batch):
            x = xv[i:i + batch].to(device)
            y, _, _, _ = model(x, nq)
            md.append(float(meldist(y, x)) * len(x))
            ml.append(float(melloss(y, x)) * len(x))
            sd.append(si_sdr(y, x).sum().item())
        n = len(xv)
        res["bw%g" % bw] = dict(meldist=sum(md) / n, melloss=sum(ml) / n, sisdr=sum(sd) / n)
    # collapse diagnostics: variation of the latent in time relative to its overall spread,
    # and how many distinct first-stage codes the validation clips use
    z = torch.cat([model.encoder(xv[i:i + batch].to(device)) for i in range(0, len(xv), batch)])
    res["latent_time_std_ratio"] = float(z.std(dim=2).mean() / (z.std() + 1e-12))
    res["codes0_used"] = int(torch.unique(model.quantizer.encode(z, 1)).numel())
    model.train()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="/work/train-run/corpus")
    ap.add_argument("--run-dir", default="/work/train-run/run1")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:0, ...")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--fresh", action="store_true", help="ignore an existing ckpt.pt")
    # model
    ap.add_argument("--n-filters", type=int, default=16)
    ap.add_argument("--dimension", type=int, default=64)
    ap.add_argument("--n-q", type=int, default=32)
    ap.add_argument("--bins", type=int, default=1024)
    ap.add_argument("--decay", type=float, default=0.99)
    ap.add_argument("--dead-fraction", type=float, default=0.03,
                    help="a code is dead when its EMA count < this x (frames per batch / bins)")
    ap.add_argument("--init-gain", type=float, default=math.sqrt(3),
                    help="multiply the default conv init by this and zero conv biases "
                    "(0: PyTorch default init, which collapses the latent)")
    # optimisation
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=1.0, help="crop length")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--beta1", type=float, default=0.5)
    ap.add_argument("--beta2", type=float, default=0.9)
    ap.add_argument("--clip", type=float, default=5.0, help="gradient norm clip (0: off)")
    ap.add_argument("--w-time", type=float, default=0.1)
    ap.add_argument("--w-mel", type=float, default=1.0)
    ap.add_argument("--w-commit", type=float, default=1.0)
    ap.add_argument("--bandwidths", default=",".join("%g" % b for b in BANDWIDTHS))
    ap.add_argument("--adv", action="store_true", help="add the MS-STFT discriminator")
    ap.add_argument("--w-adv", type=float, default=1.0)
    ap.add_argument("--w-feat", type=float, default=2.0)
    ap.add_argument("--adv-start", type=int, default=0, help="step at which --adv starts")
    ap.add_argument("--max-steps", type=int, default=0, help="0: run until killed")
    ap.add_argument("--max-hours", type=float, default=0)
    ap.add_argument("--init-seconds", type=float, default=48.0,
                    help="audio used for the k-means codebook initialisation")
    # bookkeeping
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--ckpt-minutes", type=float, default=15.0)
    ap.add_argument("--keep-every-hours", type=float, default=2.0)
    ap.add_argument("--val-per-cat", type=int, default=4)
    ap.add_argument("--weights", default=None,
                    help="category weights as JSON, default %s" % json.dumps(DEFAULT_WEIGHTS))
    ap.add_argument("--fixed-batch", action="store_true",
                    help="overfit test: reuse one batch forever")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    os.makedirs(args.run_dir, exist_ok=True)
    ckpt_path = os.path.join(args.run_dir, "ckpt.pt")
    resume = os.path.exists(ckpt_path) and not args.fresh
    ck = torch.load(ckpt_path, map_location="cpu") if resume else None

    cfg = ck["config"] if ck else dict(n_filters=args.n_filters, dimension=args.dimension,
                                       n_q=args.n_q, bins=args.bins, decay=args.decay,
                                       dead_fraction=args.dead_fraction,
                                       init_gain=args.init_gain)
    pyrng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = build_model(cfg)
    model.quantizer.gen = torch.Generator().manual_seed(args.seed + 1)
    model.to(device)
    melloss = MultiScaleMelLoss().to(device)
    meldist = MelDistance().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(args.beta1, args.beta2))
    disc = dopt = None
    if args.adv:
        disc = MSSTFTDisc().to(device)
        dopt = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=(args.beta1, args.beta2))

    weights = json.loads(args.weights) if args.weights else DEFAULT_WEIGHTS
    corpus = Corpus(args.corpus, weights)
    length = int(args.seconds * SR)
    xv, _ = corpus.val_set(args.val_per_cat, 2 * SR)
    bws = [float(b) for b in args.bandwidths.split(",")]

    logf = open(os.path.join(args.run_dir, "train.log"), "a")
    valf = open(os.path.join(args.run_dir, "val.log"), "a")
    step, elapsed = 0, 0.0
    if ck:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        if disc is not None and ck.get("disc"):
            disc.load_state_dict(ck["disc"])
            dopt.load_state_dict(ck["dopt"])
        step, elapsed = ck["step"], ck["elapsed"]
        set_rng_state(ck["rng"], pyrng, model)
        print("resumed from %s at step %d (%.2f h)" % (ckpt_path, step, elapsed / 3600),
              file=logf, flush=True)
    else:
        print("# start %s args=%s" % (time.strftime("%Y-%m-%d %H:%M:%S"), json.dumps(vars(args))),
              file=logf, flush=True)
    print("# corpus: %s" % corpus.describe(), file=logf, flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    print("# model %s, %.2f M parameters" % (json.dumps(cfg), n_params / 1e6), file=logf,
          flush=True)

    if not ck:
        # k-means initialisation of the codebooks on encoder outputs of real audio
        xs = corpus.sample(max(1, int(args.init_seconds / args.seconds)), length, pyrng)
        with torch.no_grad():
            z = torch.cat([model.encoder(xs[i:i + 8].to(device)) for i in range(0, len(xs), 8)])
        model.quantizer.init_codebooks(z.cpu() if device.type == "cpu" else z)
        print("# codebooks initialised by k-means on %d frames" % (z.shape[0] * z.shape[2]),
              file=logf, flush=True)

    def save(tag=None):
        st = dict(model=model.state_dict(), opt=opt.state_dict(), step=step, elapsed=elapsed,
                  rng=get_rng_state(pyrng, model), config=cfg, args=vars(args),
                  disc=disc.state_dict() if disc is not None else None,
                  dopt=dopt.state_dict() if dopt is not None else None)
        atomic_save(st, ckpt_path)
        if tag:
            atomic_save(st, os.path.join(args.run_dir, "ckpt-%s.pt" % tag))
        atomic_save(model.export_state_dict(), os.path.join(args.run_dir, "export.th"))

    fixed = corpus.sample(args.batch, length, pyrng) if args.fixed_batch else None
    model.train()
    last_ckpt = time.time()
    last_keep = elapsed
    acc = {}
    t_start = time.time() - elapsed
    while True:
        if args.max_steps and step >= args.max_steps:
            break
        if args.max_hours and elapsed >= args.max_hours * 3600:
            break
        t0 = time.time()
        x = (fixed if fixed is not None else corpus.sample(args.batch, length, pyrng)).to(device)
        bw = pyrng.choice(bws)
        nq = model.n_q_for_bandwidth(bw)
        y, commit, _, replaced = model(x, nq)
        l_time = (y - x).abs().mean()
        l_mel = melloss(y, x)
        l_commit = commit / nq
        loss = args.w_time * l_time + args.w_mel * l_mel + args.w_commit * l_commit
        use_adv = disc is not None and step >= args.adv_start
        if use_adv:
            outs_fake = disc(y)
            with torch.no_grad():
                outs_real = disc(x)
            l_adv = sum(F.relu(1 - lo).mean() for lo, _ in outs_fake) / len(outs_fake)
            l_feat = 0.0
            for (_, ff), (_, fr) in zip(outs_fake, outs_real):
                for a, b in zip(ff, fr):
                    l_feat = l_feat + (a - b).abs().mean() / (b.abs().mean() + 1e-6)
            l_feat = l_feat / (len(outs_fake) * len(outs_fake[0][1]))
            loss = loss + args.w_adv * l_adv + args.w_feat * l_feat
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = float(nn.utils.clip_grad_norm_(model.parameters(),
                                               args.clip if args.clip > 0 else 1e12))
        if not (math.isfinite(float(loss)) and math.isfinite(gnorm)):
            print("step=%d\tnon-finite loss/gradient, update skipped" % step, file=logf,
                  flush=True)
            step += 1
            continue
        opt.step()
        if use_adv:
            dl = 0.0
            for (lr_, _), (lf_, _) in zip(disc(x), disc(y.detach())):
                dl = dl + F.relu(1 - lr_).mean() + F.relu(1 + lf_).mean()
            dl = dl / len(disc.discs)
            dopt.zero_grad(set_to_none=True)
            dl.backward()
            dopt.step()
        step += 1
        dt = time.time() - t0
        elapsed = time.time() - t_start
        vals = dict(loss=float(loss), time=float(l_time), mel=float(l_mel),
                    commit=float(l_commit), gnorm=gnorm, dead=replaced, dt=dt)
        if use_adv:
            vals.update(adv=float(l_adv), feat=float(l_feat), disc=float(dl))
        for k, v in vals.items():
            acc[k] = acc.get(k, 0.0) + v
        acc["n"] = acc.get("n", 0) + 1
        if step % args.log_every == 0:
            n = acc.pop("n")
            line = "step=%d\th=%.3f\tbw=%g\t" % (step, elapsed / 3600, bw) + "\t".join(
                "%s=%.5g" % (k, v / n) for k, v in acc.items())
            print(line, file=logf, flush=True)
            acc = {}
        if time.time() - last_ckpt >= args.ckpt_minutes * 60 or \
                (args.max_steps and step >= args.max_steps):
            tag = None
            if elapsed - last_keep >= args.keep_every_hours * 3600:
                tag, last_keep = str(step), elapsed
            save(tag)
            v = validate(model, melloss, meldist, xv, device)
            print(json.dumps(dict(step=step, hours=round(elapsed / 3600, 3), **v)), file=valf,
                  flush=True)
            last_ckpt = time.time()
    if not (args.max_steps and step >= args.max_steps):  # otherwise just saved in the loop
        save()
        v = validate(model, melloss, meldist, xv, device)
        print(json.dumps(dict(step=step, hours=round(elapsed / 3600, 3), **v)), file=valf,
              flush=True)


if __name__ == "__main__":
    main()
