#!/usr/bin/python3
"""Check the PyTorch LM (tools/train/lm_model.py) against libencodec's LM on the same weights
and codes.

  /usr/bin/python3 tools/train/compare_lm_c.py LM_CKPT_OR_TH LM.safetensors LM_C_CHECK \
      [--codes RUN_DIR | --random] [--frames N] [--ks 2,8,32]
      [--cli ENCODEC --codec-model CODEC.safetensors --audio A.wav[,B.wav...]]

LM_CKPT_OR_TH: a train_lm.py ckpt.pt or an official-format LM .th (export_lm.py output, or
shared/golden/tiny24_lm.th); LM.safetensors: the same weights after tools/encodec-convert (its
configuration, heads and past_context included, is used for the PyTorch model too);
LM_C_CHECK: the binary built from tools/train/lm_c_check.c.  Codes: the first validation clips
of RUN_DIR/codes.npy (train_lm.py's cache), cut to N frames (default 600, beyond the 262-frame
window), or random codes.

For each K it reports, over all T x K distributions: max |p_C - p_torch|, the largest relative
difference among probabilities above 1e-6, the cross-entropy of the true codes under both
(bits/code), the fraction of quantised CDFs (spec 9.1) that are identical and the fraction of
coded symbols whose arithmetic-coder interval is identical.  PyTorch is evaluated both with the
streaming step (spec 10.3, one frame at a time, as the compress loop) and with the whole-crop
training forward.

With --golden DIR (shared/golden) it first checks lm_model.py itself against the reference
probabilities stored there (tiny24/tiny48 LMs: lm.probs, lm.window.probs with past_context 4,
lm.seg1.probs).

With --cli it also runs the encodec CLI on each audio file at 1.5/3/6/12/24 kbps with and
without --lm (--lm-model LM.safetensors, --model CODEC.safetensors), decodes both .ecdc files
and checks that the LM file is smaller and decodes to byte-identical audio.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lm_model import LMModel, teacher_forcing_inputs  # noqa: E402


def st_config(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(json.loads(f.read(n))["__metadata__"]["config"])


def quantized_cdf(p):
    """Spec 9.1 in float32: p [..., N] float32 -> int64 cdf [..., N]."""
    n = p.shape[-1]
    pr = np.floor(p / np.float32(1e-8)).astype(np.float32) * np.float32(1e-8)
    scale = np.float32(2 ** 24 - 2 * n)
    ranges = np.floor(scale * pr.astype(np.float32)).astype(np.int64) + 2
    return np.cumsum(ranges, axis=-1)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lm")
    ap.add_argument("safetensors")
    ap.add_argument("c_check")
    ap.add_argument("--codes", help="train_lm.py run directory with codes.npy/codes.json")
    ap.add_argument("--random", action="store_true")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--ks", default="2,8,32")
    ap.add_argument("--tol", type=float, default=1e-5, help="max |p_C - p_torch| to pass")
    ap.add_argument("--golden", help="shared/golden directory: check lm_model.py against the "
                    "reference LM probabilities first")
    ap.add_argument("--cli", help="encodec binary: also compare .ecdc sizes with/without --lm")
    ap.add_argument("--codec-model", help="codec .safetensors for --cli")
    ap.add_argument("--audio", help="comma-separated audio files for --cli")
    ap.add_argument("--bandwidths", default="1.5,3,6,12,24")
    args = ap.parse_args()
    torch.set_num_threads(1)

    ok = golden_check(args.golden) if args.golden else True
    cfg = st_config(args.safetensors)
    model = LMModel(n_q=cfg["n_q"], card=cfg["card"], dim=cfg["dim"], num_heads=cfg["num_heads"],
                    num_layers=cfg["num_layers"], hidden_scale=cfg["hidden_scale"],
                    past_context=cfg["past_context"])
    ck = torch.load(args.lm, map_location="cpu")
    model.load_state_dict(ck["model"] if "model" in ck else ck)
    model.eval()

    if args.codes:
        codes = np.load(os.path.join(args.codes, "codes.npy"))
        meta = json.load(open(os.path.join(args.codes, "codes.json")))
        parts, n = [], 0
        for c in meta["clips"]:
            if c["split"] != "val":
                continue
            # one clip = one segment: take the first clip long enough, else concatenate starts
            parts.append(codes[c["start"]:c["start"] + c["frames"]])
            n += c["frames"]
            if n >= args.frames:
                break
        seq = np.concatenate(parts)[:args.frames].T.astype(np.int64)  # [n_q, T]
        src = "validation clips of %s (%s)" % (args.codes, meta["codec"])
    else:
        rng = np.random.default_rng(0)
        seq = rng.integers(0, cfg["card"], (cfg["n_q"], args.frames))
        src = "random codes"
    print("LM %s\ncodes: %s, %d frames" % (json.dumps(cfg), src, seq.shape[1]))

    tmp = tempfile.mkdtemp()
    for K in [min(int(k), cfg["n_q"], seq.shape[0]) for k in args.ks.split(",")]:
        c = seq[:K]
        T = c.shape[1]
        fin, fout = os.path.join(tmp, "codes.i32"), os.path.join(tmp, "probs.f32")
        c.T.astype(np.int32).tofile(fin)
        subprocess.run([args.c_check, args.safetensors, str(K), fin, fout], check=True,
                       stdout=subprocess.DEVNULL)
        pc = np.fromfile(fout, dtype=np.float32).reshape(T, K, cfg["card"])
        ct = torch.from_numpy(c)
        ps = model.stream_probs(ct).numpy()
        with torch.no_grad():
            pf = torch.softmax(model(teacher_forcing_inputs(ct[None])), -1)[0].numpy()
        tgt = c.T  # [T, K]
        idx = (np.arange(T)[:, None], np.arange(K)[None, :], tgt)
        for name, pt in (("step", ps), ("forward", pf)):
            d = np.abs(pc - pt)
            big = pt > 1e-6
            rel = float(np.max(d[big] / pt[big]))
            ce_c = float(-np.mean(np.log2(pc[idx])))
            ce_t = float(-np.mean(np.log2(pt[idx])))
            cdf_c, cdf_t = quantized_cdf(pc), quantized_cdf(pt)
            same_cdf = float(np.mean(np.all(cdf_c == cdf_t, axis=-1)))
            lo_c = np.where(tgt > 0, np.take_along_axis(cdf_c, np.maximum(tgt - 1, 0)[..., None],
                                                        -1)[..., 0], 0)
            lo_t = np.where(tgt > 0, np.take_along_axis(cdf_t, np.maximum(tgt - 1, 0)[..., None],
                                                        -1)[..., 0], 0)
            hi_c = np.take_along_axis(cdf_c, tgt[..., None], -1)[..., 0]
            hi_t = np.take_along_axis(cdf_t, tgt[..., None], -1)[..., 0]
            same_iv = float(np.mean((lo_c == lo_t) & (hi_c == hi_t)))
            print("K=%2d torch %-7s: max|dp| %.2e, max rel (p>1e-6) %.2e, CE C %.5f / torch "
                  "%.5f bits/code, identical CDFs %.4f, identical intervals %.4f"
                  % (K, name, float(d.max()), rel, ce_c, ce_t, same_cdf, same_iv))
            ok = ok and float(d.max()) <= args.tol
    print("-> %s (tolerance %.0e on probabilities)" % ("OK" if ok else "FAIL", args.tol))
    if args.cli:
        ok = cli_check(args, tmp) and ok
    return 0 if ok else 1


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8:8 + n])
    types = {"F32": np.float32, "I32": np.int32, "U8": np.uint8, "I64": np.int64}
    out = {}
    for k, v in head.items():
        if k != "__metadata__":
            a, b = v["data_offsets"]
            out[k] = np.frombuffer(data[8 + n + a:8 + n + b],
                                   dtype=types[v["dtype"]]).reshape(v["shape"])
    return out, head.get("__metadata__", {})


def golden_check(gdir, tol=1e-6):
    ok = True
    for name, codes_key in (("tiny24", "excerpt.bw1.5.codes"),
                            ("tiny48", "excerpt.bw3.seg0.codes")):
        g, meta = read_safetensors(os.path.join(gdir, name + ".golden.safetensors"))
        cfg = st_config(os.path.join(gdir, name + "_lm.safetensors"))
        m = LMModel(n_q=cfg["n_q"], card=cfg["card"], dim=cfg["dim"], num_heads=cfg["num_heads"],
                    num_layers=cfg["num_layers"], hidden_scale=cfg["hidden_scale"],
                    past_context=cfg["past_context"])
        m.load_state_dict(torch.load(os.path.join(gdir, name + "_lm.th"), map_location="cpu"))
        m.eval()
        codes = torch.from_numpy(g[codes_key].astype(np.int64))
        checks = [("lm.probs", codes, cfg["past_context"])]
        if "lm.window.probs" in g:
            checks.append(("lm.window.probs", codes, int(meta["lm_window_past_context"])))
        if "lm.seg1.probs" in g:
            checks.append(("lm.seg1.probs", torch.from_numpy(
                g["excerpt.bw3.seg1.codes"].astype(np.int64)), cfg["past_context"]))
        for key, c, pc in checks:
            ref = g[key]
            m.past_context = pc
            n = ref.shape[0]
            ps = m.stream_probs(c[:, :n]).numpy()
            with torch.no_grad():
                pf = torch.softmax(m(teacher_forcing_inputs(c[None, :, :n])), -1)[0].numpy()
            e = max(float(np.abs(ps - ref).max()), float(np.abs(pf - ref).max()))
            ok = ok and e <= tol
            print("golden %s %s (%d frames, past_context %d): max |torch - reference| %.2e"
                  % (name, key, n, pc, e))
    print("-> golden %s" % ("OK" if ok else "FAIL"))
    return ok


def cli_check(args, tmp):
    ok = True
    tot = {}
    for audio in args.audio.split(","):
        for bw in args.bandwidths.split(","):
            files = {}
            for lm in (False, True):
                e = os.path.join(tmp, "x_lm.ecdc" if lm else "x.ecdc")
                w = os.path.join(tmp, "x_lm.wav" if lm else "x.wav")
                base = [args.cli, "--quiet", "-f", "-t", "1", "--model", args.codec_model,
                        "--lm-model", args.safetensors]
                subprocess.run(base + ["-b", bw] + (["--lm"] if lm else []) + [audio, e],
                               check=True)
                subprocess.run(base + [e, w], check=True)
                files[lm] = (os.path.getsize(e), open(w, "rb").read())
            (n0, a0), (n1, a1) = files[False], files[True]
            same = a0 == a1
            ok = ok and same and n1 < n0
            t = tot.setdefault(bw, [0, 0])
            t[0] += n0
            t[1] += n1
            print("%s @ %s kbps: %d -> %d bytes with --lm (%.1f %% smaller), decoded audio %s"
                  % (os.path.basename(audio), bw, n0, n1, 100 * (1 - n1 / n0),
                     "identical" if same else "DIFFERENT"))
    for bw, (n0, n1) in tot.items():
        print("all files @ %s kbps: %d -> %d bytes (%.1f %% smaller)" % (bw, n0, n1,
                                                                     100 * (1 - n1 / n0)))
    print("-> CLI %s" % ("OK" if ok else "FAIL"))
    return ok


if __name__ == "__main__":
    sys.exit(main())
