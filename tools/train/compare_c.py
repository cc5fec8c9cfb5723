#!/usr/bin/python3
"""Check the PyTorch training model against libencodec on the same weights and input.

  /usr/bin/python3 tools/train/compare_c.py CKPT_OR_EXPORT.th MODEL.safetensors C_CHECK [IN]

CKPT_OR_EXPORT: a train.py ckpt.pt or an export .th; MODEL.safetensors: the same weights after
tools/encodec-convert; C_CHECK: the binary built from tools/train/c_check.c; IN: optional raw
float32 mono 24 kHz file (default: 3 s cut from the training corpus' validation clips, or a
synthetic signal).  For each bandwidth it reports: the fraction of codes that differ between
the C encoder and PyTorch, the max |difference| between the C decoder and PyTorch decoding the
*same* (C's) codes, and between the two end-to-end outputs.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import build_model  # noqa: E402


def load(path):
    ck = torch.load(path, map_location="cpu")
    if "config" in ck:
        m = build_model(ck["config"])
        m.load_state_dict(ck["model"])
    else:  # an export: derive the sizes from shapes
        nf = ck["encoder.model.0.conv.conv.weight_v"].shape[0]
        dim = ck["quantizer.vq.layers.0._codebook.embed"].shape[1]
        bins = ck["quantizer.vq.layers.0._codebook.embed"].shape[0]
        n_q = len([k for k in ck if k.endswith("._codebook.embed")])
        m = build_model(dict(n_filters=nf, dimension=dim, n_q=n_q, bins=bins))
        m.load_state_dict(ck)
    return m.eval()


def main():
    torch.set_num_threads(1)
    model = load(sys.argv[1])
    st, cbin = sys.argv[2], sys.argv[3]
    if len(sys.argv) > 4:
        x = np.fromfile(sys.argv[4], dtype=np.float32)
    else:
        t = np.arange(3 * 24000 + 123) / 24000
        rng = np.random.default_rng(0)
        x = (0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 0.7 * t)
             + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    tmp = tempfile.mkdtemp()
    fin = os.path.join(tmp, "in.f32")
    x.tofile(fin)
    worst = 0.0
    for bw in (1.5, 3.0, 6.0, 12.0, 24.0):
        nq = model.n_q_for_bandwidth(bw)
        fc, fo = os.path.join(tmp, "c.i32"), os.path.join(tmp, "o.f32")
        subprocess.run([cbin, st, str(bw), fin, fc, fo], check=True, stdout=subprocess.DEVNULL)
        c_codes = np.fromfile(fc, dtype=np.int32).reshape(-1, nq).T  # [K, T]
        c_out = np.fromfile(fo, dtype=np.float32)
        xt = torch.from_numpy(x)[None, None]
        with torch.no_grad():
            t_codes = model.encode(xt, nq)[:, 0].numpy()
            t_dec_c = model.decode(torch.from_numpy(c_codes.astype(np.int64))[:, None])[0, 0]
            t_e2e = model.decode(torch.from_numpy(t_codes)[:, None])[0, 0].numpy()
        flips = float(np.mean(c_codes != t_codes))
        frames_diff = float(np.mean(np.any(c_codes != t_codes, axis=0)))
        d_dec = float(np.max(np.abs(c_out - t_dec_c.numpy())))
        d_e2e = float(np.max(np.abs(c_out - t_e2e))) if flips == 0 else float("nan")
        scale = float(np.max(np.abs(c_out)))
        worst = max(worst, d_dec)
        print("bw %4g K=%2d: codes differ %.4f (frames %.4f); decoder max|C-torch| %.2e "
              "(output peak %.3f); end-to-end %.2e" % (bw, nq, flips, frames_diff, d_dec,
                                                       scale, d_e2e))
    print("worst decoder difference %.2e -> %s" % (worst, "OK" if worst < 1e-4 else "FAIL"))
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
