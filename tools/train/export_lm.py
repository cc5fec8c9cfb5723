#!/usr/bin/python3
"""Export an LM checkpoint (ckpt.pt from train_lm.py) as an official-format LM checkpoint:
torch.save of a plain float32 state dict (OrderedDict with torch's _metadata, like
encodec_lm_24khz-1608e3c0.th and shared/golden/tiny24_lm.th) with the keys

    transformer.norm_in.*, transformer.layers.<l>.*, emb.<k>.weight, linears.<k>.*

in that order.  tools/encodec-convert derives n_q, card, dim, layers and the FFN width from the
shapes; the head count and the attention window are not in the weights, so the converter
assumes 8 heads and past_context int(3.5 * 75) = 262: this script prints the convert command,
with --num-heads / --past-context only when the LM differs from those.

Usage: /usr/bin/python3 tools/train/export_lm.py /work/train-run/lm1/ckpt.pt OUT.th
       tools/encodec-convert OUT.th NAME_lm.safetensors [--num-heads H --past-context P]

The LM belongs to the codec whose codes it was trained on (train_lm.py keeps that codec's
weights as codec.th next to ckpt.pt); export and convert that one together with it and name
the LM file NAME_lm.safetensors beside NAME.safetensors so that `encodec --lm` finds it.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_lm import build_lm  # noqa: E402


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    ck = torch.load(sys.argv[1], map_location="cpu")
    if "config" not in ck or "model" not in ck:
        print("%s: not a train_lm.py checkpoint" % sys.argv[1], file=sys.stderr)
        return 1
    cfg = ck["config"]
    model = build_lm(cfg)
    model.load_state_dict(ck["model"])
    sd = model.export_state_dict()
    meta = getattr(model.state_dict(), "_metadata", None)
    if meta is not None:
        sd._metadata = meta
    torch.save(sd, sys.argv[2])
    flags = ""
    if cfg["num_heads"] != 8:
        flags += " --num-heads %d" % cfg["num_heads"]
    if cfg["past_context"] != 262:
        flags += " --past-context %d" % cfg["past_context"]
    print("step %d (%.1f min), config %s, codec %s -> %s\nconvert with: tools/encodec-convert %s "
          "NAME_lm.safetensors%s" % (ck["step"], ck["elapsed"] / 60, cfg, ck.get("codec"),
                                     sys.argv[2], sys.argv[2], flags), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
