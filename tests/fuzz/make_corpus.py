#!/usr/bin/env python3
"""make_corpus.py: write the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

The seeds are derived from tests/data and kept small (well under 1 MB in all), so that the
fuzzers mutate short inputs that still reach deep into the code:
  fuzz_weights  tiny24 and tiny48 cut down to 16-entry codebooks, 2 codebooks and 1 LSTM layer
                (tiny24 in F16, tiny48 in F32, so both dtypes are seeded), the tiny24 LM cut
                down to 1 table and 1 layer (F16; card 1024, as the fuzzer attaches it to
                tiny24), and a header without its data;
  fuzz_ecdc     the four reference .ecdc files of tests/data, and one cut after its header;
  fuzz_stream   a few scripts (see fuzz_stream.c for the format).
Deterministic; Python 3 standard library only. Run from anywhere: python3 make_corpus.py
"""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
CORPUS = os.path.join(HERE, "corpus")


def read_st(path):
    """A safetensors file as (metadata dict, {name: (dtype, shape, bytes)}) in file order."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        tensors[name] = (t["dtype"], t["shape"], data[b:e])
    return meta, tensors


def write_st(path, meta, tensors):
    header = {"__metadata__": meta}
    blobs, off = [], 0
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def to_f16(dtype, shape, blob):
    vals = struct.unpack("<%df" % (len(blob) // 4), blob)
    return ("F16", shape, struct.pack("<%de" % len(vals), *vals))


def rows(blob, n_rows, row_bytes):
    return blob[: n_rows * row_bytes]


def shrink_codec(src, dst, f16):
    """16-entry codebooks, 2 codebooks (two bandwidths), 1 LSTM layer."""
    meta, tensors = read_st(os.path.join(DATA, src))
    cfg = json.loads(meta["config"])
    bins, dim = 16, cfg["dimension"]
    kbps_per_q = 4 * cfg["frame_rate"] / 1000.0  # log2(16) bits per codebook and frame
    keep = ("name sample_rate channels causal norm n_filters dimension ratios n_residual_layers "
            "kernel_size last_kernel_size residual_kernel_size dilation_base compress lstm "
            "pad_mode true_skip activation activation_alpha final_activation trim_right_ratio "
            "normalize segment overlap").split()
    cfg = {k: cfg[k] for k in keep if k in cfg}
    cfg.update(bins=bins, lstm=1, target_bandwidths=[kbps_per_q, 2 * kbps_per_q])
    out = {}
    for name, (dtype, shape, blob) in tensors.items():
        if "lstm" in name and name.endswith("_l1"):
            continue
        if name.startswith("quantizer."):
            layer = int(name.split(".")[3])
            if layer >= 2 or not (name.endswith(".embed") or name.endswith(".inited")):
                continue
            if name.endswith(".embed"):
                shape, blob = [bins, dim], rows(blob, bins, 4 * dim)
        t = (dtype, shape, blob)
        out[name] = to_f16(*t) if f16 and dtype == "F32" else t
    write_st(dst, {"format": "pt", "config": json.dumps(cfg)}, out)


def shrink_lm(src, dst):
    """1 table, 1 transformer layer, F16."""
    meta, tensors = read_st(os.path.join(DATA, src))
    cfg = json.loads(meta["config"])
    cfg.update(n_q=1, num_layers=1)
    out = {}
    for name, t in tensors.items():
        parts = name.split(".")
        if parts[0] in ("emb", "linears") and parts[1] != "0":
            continue
        if parts[0] == "transformer" and parts[1] == "layers" and parts[2] != "0":
            continue
        out[name] = to_f16(*t)
    write_st(dst, {"format": "pt", "config": json.dumps(cfg)}, out)


def script(head, length, seed, ops):
    """A fuzz_stream input: model/bandwidth byte, signal length, seed, operations."""
    return bytes([head]) + struct.pack("<H", length) + bytes([seed]) + bytes(ops)


def main():
    for t in ("fuzz_weights", "fuzz_ecdc", "fuzz_stream"):
        os.makedirs(os.path.join(CORPUS, t), exist_ok=True)

    w = os.path.join(CORPUS, "fuzz_weights")
    shrink_codec("tiny24.safetensors", os.path.join(w, "tiny24_small.safetensors"), f16=True)
    shrink_codec("tiny48.safetensors", os.path.join(w, "tiny48_small.safetensors"), f16=False)
    shrink_lm("tiny24_lm.safetensors", os.path.join(w, "lm_small.safetensors"))
    with open(os.path.join(w, "tiny24_small.safetensors"), "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    with open(os.path.join(w, "header_only.safetensors"), "wb") as f:
        f.write(raw[: 8 + n])

    e = os.path.join(CORPUS, "fuzz_ecdc")
    for name in ("tiny24_excerpt_bw1.5_nolm.ecdc", "tiny24_excerpt_bw1.5_lm.ecdc",
                 "tiny48_excerpt_bw3_nolm.ecdc", "tiny48_excerpt_bw3_lm.ecdc"):
        with open(os.path.join(DATA, name), "rb") as f:
            raw = f.read()
        with open(os.path.join(e, name), "wb") as f:
            f.write(raw)
    (n,) = struct.unpack(">I", raw[5:9])
    with open(os.path.join(e, "header_only.ecdc"), "wb") as f:
        f.write(raw[: 9 + n])
    # short streams (3 frames of 2 codebooks: 960 samples), cheap to decode: the reference
    # files with a smaller "al" and the payload cut to fit (bit-packed: 60 bits of codes in 8
    # bytes, after the 4-byte scale for tiny48; LM-coded: a guess the fuzzer refines)
    for name, short, payload in (("tiny24_excerpt_bw1.5_nolm.ecdc", "short24_nolm.ecdc", 8),
                                 ("tiny48_excerpt_bw3_nolm.ecdc", "short48_nolm.ecdc", 12),
                                 ("tiny24_excerpt_bw1.5_lm.ecdc", "short24_lm.ecdc", 8),
                                 ("tiny48_excerpt_bw3_lm.ecdc", "short48_lm.ecdc", 12)):
        with open(os.path.join(DATA, name), "rb") as f:
            raw = f.read()
        (n,) = struct.unpack(">I", raw[5:9])
        meta = json.loads(raw[9 : 9 + n])
        meta["al"] = 960
        text = json.dumps(meta).encode()
        body = raw[9 + n : 9 + n + payload]
        with open(os.path.join(e, short), "wb") as f:
            f.write(raw[:5] + struct.pack(">I", len(text)) + text + body)

    s = os.path.join(CORPUS, "fuzz_stream")
    seeds = {
        # tiny24, 8000 samples: pushes of every size class, a bandwidth change, flushes
        "tiny24_pushes": script(0x10, 40000, 3, [5, 70, 3, 150, 2, 112, 0x10, 0x02, 0,
                                                30, 130, 200, 170, 240]),
        # tiny24: refused pushes (too little room), reset, a second stream, decoder resets
        "tiny24_refused": script(0x20, 30000, 4, [121, 50, 10, 200, 225, 140, 60, 44, 248,
                                                 190, 130, 130, 1, 9]),
        # tiny48, 2 segments: large pushes, decoder pushes across segments, bandwidth changes
        "tiny48_segments": script(0x11, 65000, 5, [112, 0x50, 0xc3, 150, 1, 191, 191, 191,
                                                    112, 0x10, 0x27, 0x9f, 0x85, 130, 241]),
        # tiny48: short signal, everything at once at the end
        "tiny48_short": script(0x31, 7000, 6, [150, 3, 100, 20]),
    }
    for name, b in seeds.items():
        with open(os.path.join(s, name), "wb") as f:
            f.write(b)

    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(CORPUS) for f in fs)
    print("corpus: %d bytes in %s" % (total, CORPUS))


if __name__ == "__main__":
    main()
