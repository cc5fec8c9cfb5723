#!/usr/bin/python3
"""Export a training checkpoint (ckpt.pt from train.py) as a plain float32 state dict (.th) in
the reference layout, which tools/encodec-convert turns into a libencodec safetensors file.

Usage: /usr/bin/python3 tools/train/export.py /work/train-run/run1/ckpt.pt out.th
       tools/encodec-convert out.th out.safetensors [--name NAME]
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import build_model  # noqa: E402


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    ck = torch.load(sys.argv[1], map_location="cpu")
    model = build_model(ck["config"])
    model.load_state_dict(ck["model"])
    torch.save(model.export_state_dict(), sys.argv[2])
    print("step %d (%.2f h), config %s -> %s" % (ck["step"], ck["elapsed"] / 3600, ck["config"],
                                                  sys.argv[2]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
