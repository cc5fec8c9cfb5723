#!/usr/bin/env python3
"""Tests of tools/encodec-convert and tools/make-random-checkpoint (Python standard library only).

The golden .th files in tests/data were written by a real torch.save; converting them must give
exactly the tensors of the golden .safetensors files and their configuration.  Random checkpoints
with the real models' shapes must convert to exactly those keys and shapes.  Broken inputs must
fail with exit status 1, a one-line message naming the file (and key), and no output file.

Environment: ENCODEC_SOURCE_DIR (repository root) and ENCODEC_TEST_DATA (tests/data); both default
to paths relative to this script.
"""

import array
import collections
import importlib.machinery
import importlib.util
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("ENCODEC_SOURCE_DIR") or os.path.dirname(HERE)
DATA = os.environ.get("ENCODEC_TEST_DATA") or os.path.join(HERE, "data")
CONVERT = os.path.join(SOURCE_DIR, "tools", "encodec-convert")
MAKE_RANDOM = os.path.join(SOURCE_DIR, "tools", "make-random-checkpoint")

# Keys of the golden configs that only drive the golden generator / tests, not the model.
GOLDEN_ONLY = {"seed", "synth_len_s", "short_len", "ecdc_bandwidth", "lm_window_test", "ac_test",
               "lm"}


def load_tool(path, name):
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


conv_mod = load_tool(CONVERT, "encodec_convert")
rand_mod = load_tool(MAKE_RANDOM, "make_random_checkpoint")


def read_safetensors(path, with_data=True):
    """(header without __metadata__ as an ordered dict, metadata, data bytes)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hb = f.read(n)
        data = f.read() if with_data else None
    header = json.loads(hb, object_pairs_hook=collections.OrderedDict)
    meta = header.pop("__metadata__", None)
    return header, meta, data, n


def model_config(cfg):
    return {k: v for k, v in cfg.items() if k not in GOLDEN_ONLY and not k.startswith("excerpt_")}


def run(*args):
    p = subprocess.run([sys.executable] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    return p.returncode, p.stdout, p.stderr


class Base(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="test_convert.")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp, name)

    def convert_ok(self, src, dst, *opts):
        rc, out, err = run(CONVERT, *(list(opts) + [src, dst]))
        self.assertEqual(rc, 0, "encodec-convert %s failed: %s" % (src, err))
        return read_safetensors(dst)

    def check_layout(self, header, n_header):
        """Offsets contiguous and increasing, header padded to 8 bytes."""
        self.assertEqual(n_header % 8, 0)
        pos = 0
        for name, t in header.items():
            b, e = t["data_offsets"]
            self.assertEqual(b, pos, name)
            size = {"F32": 4, "F16": 2}[t["dtype"]]
            n = 1
            for s in t["shape"]:
                n *= s
            self.assertEqual(e - b, n * size, name)
            pos = e
        return pos


class GoldenTest(Base):
    def check_golden(self, stem, *opts):
        out = self.path(stem + ".safetensors")
        h1, m1, d1, n1 = self.convert_ok(os.path.join(DATA, stem + ".th"), out, *opts)
        h2, m2, d2, _ = read_safetensors(os.path.join(DATA, stem + ".safetensors"))
        self.assertEqual(list(h1), list(h2), "tensor names/order")
        for k in h2:
            self.assertEqual(h1[k]["dtype"], h2[k]["dtype"], k)
            self.assertEqual(h1[k]["shape"], h2[k]["shape"], k)
            b1, e1 = h1[k]["data_offsets"]
            b2, e2 = h2[k]["data_offsets"]
            self.assertEqual(d1[b1:e1], d2[b2:e2], "bytes of " + k)
        self.assertEqual(self.check_layout(h1, n1), len(d1))
        self.assertEqual(m1["format"], "pt")
        c1 = json.loads(m1["config"])
        c2 = model_config(json.loads(m2["config"]))
        self.assertEqual(c1, c2)
        self.assertEqual(list(c1), list(c2), "config key order")
        return c1

    def test_tiny24(self):
        c = self.check_golden("tiny24")
        self.assertEqual(c["name"], "tiny24")

    def test_tiny48(self):
        c = self.check_golden("tiny48")
        self.assertEqual(c["name"], "tiny48")

    def test_tiny24_lm(self):
        self.check_golden("tiny24_lm", "--num-heads", "4", "--past-context", "262")

    def test_tiny48_lm(self):
        self.check_golden("tiny48_lm", "--num-heads", "4", "--past-context", "525")

    def test_lm_past_context_from_sample_rate(self):
        src = os.path.join(DATA, "tiny48_lm.th")
        _, m, _, _ = self.convert_ok(src, self.path("a.safetensors"), "--num-heads", "4",
                                     "--sample-rate", "48000")
        self.assertEqual(json.loads(m["config"])["past_context"], 525)
        _, m, _, _ = self.convert_ok(src, self.path("b.safetensors"), "--num-heads", "4")
        self.assertEqual(json.loads(m["config"])["past_context"], 262)

    def test_name_override(self):
        _, m, _, _ = self.convert_ok(os.path.join(DATA, "tiny24.th"),
                                     self.path("x.safetensors"), "--name", "mycodec")
        self.assertEqual(json.loads(m["config"])["name"], "mycodec")

    def test_f16(self):
        out = self.path("tiny24_f16.safetensors")
        h1, _, d1, n1 = self.convert_ok(os.path.join(DATA, "tiny24.th"), out, "--f16")
        h2, _, d2, _ = read_safetensors(os.path.join(DATA, "tiny24.safetensors"))
        self.assertEqual(list(h1), list(h2))
        self.assertEqual(self.check_layout(h1, n1), len(d1))
        n_checked = 0
        for k in h2:
            self.assertEqual(h1[k]["dtype"], "F16", k)
            self.assertEqual(h1[k]["shape"], h2[k]["shape"], k)
            b1, e1 = h1[k]["data_offsets"]
            b2, e2 = h2[k]["data_offsets"]
            halves = array.array("H", d1[b1:e1])
            floats = array.array("f", d2[b2:e2])
            if sys.byteorder != "little":
                halves.byteswap()
                floats.byteswap()
            self.assertEqual(len(halves), len(floats), k)
            for h, f in zip(halves, floats):
                self.assertEqual(h, f32_to_f16_ref(f), "%s: %r" % (k, f))
                back = struct.unpack("<e", struct.pack("<H", h))[0]
                if abs(f) >= 6.103515625e-05:  # normal range: relative error <= 2^-11
                    self.assertLessEqual(abs(back - f), abs(f) * 2.0 ** -11, k)
                else:
                    self.assertLessEqual(abs(back - f), 2.0 ** -25, k)
                n_checked += 1
        self.assertGreater(n_checked, 100000)


def f32_to_f16_ref(f):
    """Reference float32 -> float16 bits, round to nearest even, by integer arithmetic."""
    bits = struct.unpack("<I", struct.pack("<f", f))[0]
    sign = (bits >> 16) & 0x8000
    e = (bits >> 23) & 0xFF
    m = bits & 0x7FFFFF
    if e == 0xFF:
        return sign | 0x7C00 | (0x200 if m else 0)
    ee = e - 127 + 15
    if ee >= 31:
        return sign | 0x7C00
    if ee <= 0:
        if ee < -10:
            return sign
        m |= 0x800000
        shift = 14 - ee
        h, rem, half = m >> shift, m & ((1 << shift) - 1), 1 << (shift - 1)
    else:
        h, rem, half = (ee << 10) | (m >> 13), m & 0x1FFF, 0x1000
    if rem > half or (rem == half and h & 1):
        h += 1
    return sign | h


class RealShapesTest(Base):
    """Random checkpoints with the released models' shapes (full size)."""

    def check_real(self, shapes_name, expect_name=None, expect_kind="codec"):
        shapes_file = os.path.join(DATA, "shapes-%s.json" % shapes_name)
        with open(shapes_file) as f:
            shapes = json.load(f, object_pairs_hook=collections.OrderedDict)
        th = self.path("random.th")
        t0 = time.time()
        rc, _, err = run(MAKE_RANDOM, shapes_file, th, "--seed", "7")
        t1 = time.time()
        self.assertEqual(rc, 0, err)
        out = self.path("random.safetensors")
        rc, _, err = run(CONVERT, th, out)
        t2 = time.time()
        self.assertEqual(rc, 0, err)
        sys.stderr.write("[%s: make-random-checkpoint %.1f s, encodec-convert %.1f s] "
                         % (shapes_name, t1 - t0, t2 - t1))
        h, m, d, n = read_safetensors(out)
        self.assertEqual(list(h), list(shapes))
        for k, s in shapes.items():
            self.assertEqual(h[k]["shape"], s, k)
            self.assertEqual(h[k]["dtype"], "F32", k)
        self.assertEqual(self.check_layout(h, n), len(d))
        cfg = json.loads(m["config"])
        if expect_kind == "codec":
            self.assertEqual(cfg["name"], expect_name)
            self.assertEqual(cfg["n_filters"], 32)
            self.assertEqual(cfg["dimension"], 128)
            self.assertEqual(cfg["ratios"], [8, 5, 4, 2])
        else:
            self.assertEqual((cfg["dim"], cfg["num_layers"], cfg["num_heads"], cfg["card"],
                              cfg["hidden_scale"]), (200, 5, 8, 1024, 4.0))
        return h, d, cfg

    def test_encodec_24khz(self):
        h, d, cfg = self.check_real("encodec_24khz", "encodec_24khz")
        self.assertEqual((cfg["sample_rate"], cfg["channels"], cfg["causal"], cfg["norm"],
                          cfg["n_q"], cfg["frame_rate"], cfg["segment"], cfg["normalize"]),
                         (24000, 1, True, "weight_norm", 32, 75, None, False))
        self.assertEqual(cfg["target_bandwidths"], [1.5, 3.0, 6.0, 12.0, 24.0])

        def tensor(k):
            b, e = h[k]["data_offsets"]
            a = array.array("f", d[b:e])
            if sys.byteorder != "little":
                a.byteswap()
            return a
        # weight_g is the norm of the weight_v rows (so the folded weight equals v).
        g = tensor("decoder.model.3.convtr.convtr.weight_g")
        v = tensor("decoder.model.3.convtr.convtr.weight_v")
        row = len(v) // len(g)
        for i in (0, 1, len(g) - 1):
            n = math.sqrt(math.fsum(x * x for x in v[i * row:(i + 1) * row]))
            self.assertAlmostEqual(g[i], n, delta=1e-6 * n)
        self.assertEqual(list(tensor("quantizer.vq.layers.5._codebook.inited")), [1.0])

    def test_encodec_48khz(self):
        _, _, cfg = self.check_real("encodec_48khz", "encodec_48khz")
        self.assertEqual((cfg["sample_rate"], cfg["channels"], cfg["causal"], cfg["norm"],
                          cfg["n_q"], cfg["frame_rate"], cfg["segment"], cfg["normalize"]),
                         (48000, 2, False, "time_group_norm", 16, 150, 1.0, True))

    def test_lm_24khz(self):
        _, _, cfg = self.check_real("lm_24khz", expect_kind="lm")
        self.assertEqual((cfg["n_q"], cfg["past_context"]), (32, 262))

    def test_expected_key_lists_match_shapes_files(self):
        for name in ("encodec_24khz", "encodec_48khz"):
            with open(os.path.join(DATA, "shapes-%s.json" % name)) as f:
                shapes = json.load(f, object_pairs_hook=collections.OrderedDict)
            got = conv_mod.codec_expected_shapes(conv_mod.RELEASED_CODECS[name])
            self.assertEqual(list(got.items()), list(shapes.items()), name)
        for name, n_q in (("lm_24khz", 32), ("lm_48khz", 16)):
            with open(os.path.join(DATA, "shapes-%s.json" % name)) as f:
                shapes = json.load(f, object_pairs_hook=collections.OrderedDict)
            got = conv_mod.lm_expected_shapes(
                conv_mod.lm_config(n_q, 1024, 200, 8, 5, 4.0, True, 1))
            self.assertEqual(list(got.items()), list(shapes.items()), name)


class ReaderTest(Base):
    """read_checkpoint on hand-made archives: views, float16, shared storages."""

    def write_zip(self, path, pkl, storages):
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("ck/data.pkl", pkl)
            for key, data in storages.items():
                zf.writestr("ck/data/" + key, data)
            zf.writestr("ck/version", "3\n")

    def test_views(self):
        w = rand_mod._PickleWriter()
        w.global_("collections", "OrderedDict")
        w.raw(b")R(")

        def tensor(name, stype, key, numel, offset, size, stride):
            w.str_(name)
            w.global_("torch._utils", "_rebuild_tensor_v2")
            w.raw(b"((")
            w.str_("storage")
            w.global_("torch", stype)
            w.str_(key)
            w.str_("cpu")
            w.int_(numel)
            w.raw(b"tQ")
            w.int_(offset)
            w.tuple_(size)
            w.tuple_(stride)
            w.raw(b"\x89")
            w.global_("collections", "OrderedDict")
            w.raw(b")RtR")
        # storage "0": 12 floats 0..11; a = [3,4] view, b = its transpose, c = a slice at offset 5
        tensor("a", "FloatStorage", "0", 12, 0, [3, 4], [4, 1])
        tensor("b", "FloatStorage", "0", 12, 0, [4, 3], [1, 4])
        tensor("c", "FloatStorage", "0", 12, 5, [2, 1, 3], [3, 100, 1])
        tensor("h", "HalfStorage", "1", 3, 1, [2], [1])
        w.raw(b"u.")
        path = self.path("views.th")
        self.write_zip(path, bytes(w.out), {
            "0": struct.pack("<12f", *range(12)),
            "1": struct.pack("<3e", 0.5, 1.5, -2.0)})
        t = conv_mod.read_checkpoint(path)
        self.assertEqual(list(t), ["a", "b", "c", "h"])
        self.assertEqual(t["a"][:2], ("F32", [3, 4]))
        self.assertEqual(struct.unpack("<12f", t["a"][2]), tuple(float(i) for i in range(12)))
        self.assertEqual(struct.unpack("<12f", t["b"][2]),
                         (0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.))
        self.assertEqual(struct.unpack("<6f", t["c"][2]), (5., 6., 7., 8., 9., 10.))
        self.assertEqual(t["h"][:2], ("F16", [2]))
        self.assertEqual(struct.unpack("<2e", t["h"][2]), (1.5, -2.0))

    def test_random_checkpoint_roundtrip(self):
        shapes = collections.OrderedDict([("x.weight", [3, 2, 5]), ("x.bias", [3]),
                                          ("y.weight_v", [4, 3]), ("y.weight_g", [4, 1])])
        vals = rand_mod.make_values(shapes, 3, False)
        path = self.path("r.th")
        rand_mod.write_checkpoint(path, shapes, vals)
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            self.assertEqual(names[0], "archive/data.pkl")
            self.assertIn("archive/version", names)
            self.assertEqual(zf.read("archive/version"), b"3\n")
            self.assertEqual(zf.read("archive/byteorder"), b"little")
        t = conv_mod.read_checkpoint(path)
        self.assertEqual(list(t), list(shapes))
        for k in shapes:
            self.assertEqual(t[k][1], shapes[k])
            a = array.array("f", vals[k])
            if sys.byteorder != "little":
                a.byteswap()
            self.assertEqual(t[k][2], a.tobytes())
        # Same seed, same values; another seed, other values.
        self.assertEqual(rand_mod.make_values(shapes, 3, False), vals)
        self.assertNotEqual(rand_mod.make_values(shapes, 4, False)["x.weight"], vals["x.weight"])


class ErrorTest(Base):
    def tiny_shapes(self, stem):
        h, _, _, _ = read_safetensors(os.path.join(DATA, stem + ".safetensors"), False)
        return collections.OrderedDict((k, v["shape"]) for k, v in h.items())

    def expect_error(self, src, *needles, opts=()):
        out = self.path("out.safetensors")
        before = set(os.listdir(self.tmp))
        rc, stdout, err = run(CONVERT, *(list(opts) + [src, out]))
        self.assertEqual(rc, 1, "stdout=%r stderr=%r" % (stdout, err))
        self.assertFalse(os.path.exists(out), "output left behind")
        self.assertEqual(set(os.listdir(self.tmp)), before, "temporary files left behind")
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("encodec-convert: %s: " % src), err)
        for n in needles:
            self.assertIn(n, lines[0])
        return lines[0]

    def random_th(self, name, shapes):
        path = self.path(name)
        rand_mod.write_checkpoint(path, shapes, rand_mod.make_values(shapes, 1, False))
        return path

    def test_not_a_zip(self):
        p = self.path("garbage.th")
        with open(p, "wb") as f:
            f.write(b"this is not a checkpoint\n" * 10)
        self.expect_error(p, "not a zip")

    def test_missing_input(self):
        self.expect_error(self.path("nonexistent.th"))

    def test_zip_without_data_pkl(self):
        p = self.path("nopkl.th")
        with zipfile.ZipFile(p, "w") as zf:
            zf.writestr("ck/version", "3\n")
            zf.writestr("ck/data/0", b"\0" * 16)
        self.expect_error(p, "data.pkl")

    def test_missing_key(self):
        shapes = self.tiny_shapes("tiny24")
        key = "decoder.model.7.block.3.conv.conv.bias"
        del shapes[key]
        self.expect_error(self.random_th("missing.th", shapes), "missing key " + key)

    def test_missing_key_lm(self):
        shapes = self.tiny_shapes("tiny48_lm")
        key = "transformer.layers.1.norm2.weight"
        del shapes[key]
        self.expect_error(self.random_th("missing_lm.th", shapes), "missing key " + key,
                          opts=("--num-heads", "4"))

    def test_wrong_shape(self):
        shapes = self.tiny_shapes("tiny48")
        key = "decoder.model.9.convtr.convtr.weight"
        shapes[key] = [shapes[key][0], shapes[key][1], shapes[key][2] + 1]
        self.expect_error(self.random_th("wrong.th", shapes), key, "shape")

    def test_unexpected_key(self):
        shapes = self.tiny_shapes("tiny24")
        shapes["decoder.model.15.conv.conv.extra"] = [3]
        self.expect_error(self.random_th("extra.th", shapes),
                          "unexpected key decoder.model.15.conv.conv.extra")

    def test_unknown_layout(self):
        shapes = collections.OrderedDict([("fc.weight", [4, 3]), ("fc.bias", [4])])
        self.expect_error(self.random_th("other.th", shapes), "unknown checkpoint layout")

    def test_bad_num_heads(self):
        self.expect_error(os.path.join(DATA, "tiny24_lm.th"), "--num-heads 3",
                          opts=("--num-heads", "3"))

    def patched_th(self, name, old, new):
        """tiny24_lm.th with data.pkl bytes `old` replaced by `new`."""
        src = os.path.join(DATA, "tiny24_lm.th")
        dst = self.path(name)
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
            for zi in zin.infolist():
                data = zin.read(zi.filename)
                if zi.filename.endswith("/data.pkl"):
                    self.assertIn(old, data)
                    data = data.replace(old, new)
                zout.writestr(zi.filename, data)
        return dst

    def test_unsupported_dtype(self):
        p = self.patched_th("double.th", b"torch\nFloatStorage\n", b"torch\nDoubleStorage\n")
        self.expect_error(p, "transformer.norm_in.weight", "unsupported dtype float64")

    def test_forbidden_global(self):
        p = self.patched_th("evil.th", b"collections\nOrderedDict\n", b"os\nsystem\n")
        self.expect_error(p, "forbidden global os.system")

    def test_output_not_replaced_on_error(self):
        out = self.path("keep.safetensors")
        with open(out, "wb") as f:
            f.write(b"old")
        p = self.path("garbage.th")
        with open(p, "wb") as f:
            f.write(b"xx")
        rc, _, _ = run(CONVERT, p, out)
        self.assertEqual(rc, 1)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"old")

    def test_help(self):
        rc, out, _ = run(CONVERT, "--help")
        self.assertEqual(rc, 0)
        self.assertIn("--num-heads", out)
        self.assertIn("--f16", out)
        rc, out, _ = run(MAKE_RANDOM, "--help")
        self.assertEqual(rc, 0)
        self.assertIn("--seed", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
