#!/usr/bin/env python3
"""Tests of tools/eval (encodec-eval and its metrics).

The metrics are checked on synthetic signals with answers known in advance (SI-SDR at a chosen
SNR, scale invariance, alignment to a known delay, mel distance of a scaled signal), and the
tool runs once end to end on two short synthetic clips with the tiny test model and one Opus
bitrate. Needs numpy, scipy and matplotlib: ctest's Python may lack them, so the test re-runs
itself with Debian's /usr/bin/python3. Also needs opus-tools. Debian packages:
python3-numpy python3-scipy python3-matplotlib opus-tools.
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import unittest

DEBIAN_PYTHON = "/usr/bin/python3"


def _have_modules():
    try:
        import numpy  # noqa: F401
        import scipy.signal  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


if not _have_modules():
    if (os.path.exists(DEBIAN_PYTHON) and not os.environ.get("ENCODEC_TEST_EVAL_REEXEC")
            and os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON)):
        os.environ["ENCODEC_TEST_EVAL_REEXEC"] = "1"
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit("test_eval: numpy, scipy and matplotlib are needed (Debian: apt-get install "
             "python3-numpy python3-scipy python3-matplotlib; run with /usr/bin/python3)")

import numpy as np  # noqa: E402
from scipy import signal as sps  # noqa: E402
from scipy.io import wavfile  # noqa: E402

SOURCE_DIR = os.environ.get("ENCODEC_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY_DIR = os.environ.get("ENCODEC_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
DATA = os.environ.get("ENCODEC_TEST_DATA", os.path.join(SOURCE_DIR, "tests", "data"))
CLI = os.path.join(BINARY_DIR, "tools", "cli", "encodec")
EVAL = os.path.join(SOURCE_DIR, "tools", "eval", "encodec-eval")
TINY24 = os.path.join(DATA, "tiny24.safetensors")

sys.path.insert(0, os.path.join(SOURCE_DIR, "tools", "eval"))
import eval_metrics as em  # noqa: E402


def white(n, seed, std=1.0):
    return np.random.default_rng(seed).normal(0.0, std, n)


def with_snr(x, snr_db, seed):
    """x plus noise orthogonal to x (both zero-mean) at exactly snr_db."""
    x = x - x.mean()
    n = white(len(x), seed)
    n -= n.mean()
    n -= (n @ x) / (x @ x) * x
    n *= math.sqrt((x @ x) / (n @ n) / 10 ** (snr_db / 10))
    return x + n


class SiSdrTest(unittest.TestCase):
    def test_equals_snr_of_orthogonal_noise(self):
        x = white(48000, 1, 0.3)
        for snr in (-5.0, 0.0, 10.0, 20.0, 35.0):
            y = with_snr(x, snr, 2)
            val, lag = em.si_sdr(x, y, 1200)
            self.assertEqual(lag, 0)
            self.assertAlmostEqual(val, snr, delta=0.1, msg=f"SNR {snr}")

    def test_scale_and_offset_invariant(self):
        x = white(24000, 3)
        y = with_snr(x, 12.0, 4)
        ref, _ = em.si_sdr(x, y, 0)
        for g in (0.01, 0.5, 7.0, -2.0):
            self.assertAlmostEqual(em.si_sdr(x, g * y, 0)[0], ref, places=9)
        self.assertAlmostEqual(em.si_sdr(x, y + 0.25, 0)[0], ref, places=9)  # zero-mean
        self.assertAlmostEqual(em.si_sdr(x, y, 0)[0], 12.0, delta=0.1)

    def test_finds_the_delay(self):
        x = white(24000, 5)
        noisy = with_snr(x, 20.0, 6)
        for delay in (37, -21):
            # out[n] = noisy[n - delay]: late for a positive delay, early for a negative one
            y = np.roll(noisy, delay)
            val, lag = em.si_sdr(x, y, 1200)
            self.assertEqual(lag, delay)
            self.assertAlmostEqual(val, 20.0, delta=0.2)
            # without alignment the same pair is hopeless
            self.assertLess(em.si_sdr(x, y, 0)[0], 0.0)

    def test_channels_are_averaged(self):
        x = np.stack([white(12000, 7), white(12000, 8)])
        y = np.stack([with_snr(x[0], 10.0, 9), with_snr(x[1], 30.0, 10)])
        self.assertAlmostEqual(em.si_sdr(x, y, 100)[0], 20.0, delta=0.1)


def own_mel_distance(ref, out, sr):
    """Independent implementation for cross-checking: scipy.signal.stft (zero-padded edges,
    spectrum scaling) and a filter bank built differently."""
    total = 0.0
    sizes = [int(round(n * sr / 24000)) for n in (512, 1024, 2048)]
    for n_fft in sizes:
        f = np.fft.rfftfreq(n_fft, 1.0 / sr)
        top = 2595 * math.log10(1 + sr / 2 / 700)
        pts = [700 * (10 ** (m / 2595) - 1) for m in np.linspace(0, top, 82)]
        fb = np.zeros((80, len(f)))
        for b in range(80):
            for k, fk in enumerate(f):
                if pts[b] <= fk <= pts[b + 1]:
                    fb[b, k] = (fk - pts[b]) / (pts[b + 1] - pts[b])
                elif pts[b + 1] < fk <= pts[b + 2]:
                    fb[b, k] = (pts[b + 2] - fk) / (pts[b + 2] - pts[b + 1])

        def logmel(x):
            _, _, z = sps.stft(x, fs=sr, window="hann", nperseg=n_fft, noverlap=n_fft - n_fft // 4)
            return np.log10(np.einsum("bf,cft->cbt", fb, np.abs(z) ** 2) + 1e-5)

        total += np.mean(np.abs(logmel(np.atleast_2d(ref)) - logmel(np.atleast_2d(out))))
    return total / len(sizes)


class MelDistanceTest(unittest.TestCase):
    def setUp(self):
        t = np.arange(24000) / 24000
        self.x = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) \
            + 0.05 * white(24000, 11)

    def test_identical_is_zero(self):
        self.assertEqual(em.mel_distance(self.x, self.x, 24000), 0.0)

    def test_grows_with_noise(self):
        d = [em.mel_distance(self.x, with_snr(self.x, snr, 12), 24000) for snr in (40, 20, 10, 0)]
        self.assertGreater(d[0], 0.0)
        for a, b in zip(d, d[1:]):
            self.assertLess(a, b, d)

    def test_scaled_signal_is_log10_of_power_ratio(self):
        # a loud broadband signal keeps every mel band far above the 1e-5 floor, so doubling
        # it moves every log10 mel power by log10(4)
        x = white(24000, 13, 3.0)
        self.assertAlmostEqual(em.mel_distance(x, 2 * x, 24000), math.log10(4), delta=0.01)

    def test_matches_independent_implementation(self):
        y = with_snr(self.x, 15, 14)
        mine, own = em.mel_distance(self.x, y, 24000), own_mel_distance(self.x, y, 24000)
        self.assertAlmostEqual(mine, own, delta=0.03 * own)
        x2 = np.stack([self.x, 0.5 * self.x])
        y2 = np.stack([y, with_snr(0.5 * self.x, 5, 15)])
        mine, own = em.mel_distance(x2, y2, 48000), own_mel_distance(x2, y2, 48000)
        self.assertAlmostEqual(mine, own, delta=0.03 * own)
        self.assertEqual(em.mel_fft_sizes(48000), (1024, 2048, 4096))


class ReferenceTest(unittest.TestCase):
    def test_48k_stereo_to_24k_mono(self):
        t48 = np.arange(48000) / 48000
        left, right = np.sin(2 * np.pi * 1000 * t48), 0.5 * np.sin(2 * np.pi * 1000 * t48)
        ref = em.to_reference(np.stack([left, right]), 48000, 24000, 1)
        self.assertEqual(ref.shape, (1, 24000))
        want = 0.75 * np.sin(2 * np.pi * 1000 * np.arange(24000) / 24000)
        self.assertLess(np.max(np.abs(ref[0, 1000:-1000] - want[1000:-1000])), 1e-3)

    def test_pcm_scaling(self):
        self.assertEqual(em.pcm_to_float(np.array([-32768, 16384], np.int16)).tolist(),
                         [[-1.0, 0.5]])
        self.assertEqual(em.pcm_to_float(np.array([[0, 255]], np.uint8)).tolist(),
                         [[-1.0], [127 / 128]])


class GroupTest(unittest.TestCase):
    def test_groups(self):
        import importlib.machinery
        import importlib.util
        loader = importlib.machinery.SourceFileLoader("encodec_eval", EVAL)
        spec = importlib.util.spec_from_loader("encodec_eval", loader)
        tool = importlib.util.module_from_spec(spec)
        loader.exec_module(tool)
        for path, group in (("/a/speech_en_f_x_24k_mono.wav", "speech"),
                            ("/a/music_jazz_24k_mono.wav", "music"),
                            ("/a/sound_bird_robin_24k_mono.wav", "other"),
                            ("/a/musical_box.wav", "other"),
                            ("/clips/music/speech_over_band.wav", "music"),
                            ("/clips/Speech/x.flac", "speech"),
                            ("/clips/other/music_x.wav", "other")):
            self.assertEqual(tool.group_of(path), group, path)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


class EndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for what, path in (("encodec CLI (build the project)", CLI), ("tiny model", TINY24)):
            if not os.path.exists(path):
                raise AssertionError(f"{what} missing: {path}")
        for tool in ("opusenc", "opusdec"):
            if not any(os.access(os.path.join(d, tool), os.X_OK)
                       for d in os.environ.get("PATH", "").split(os.pathsep)):
                raise AssertionError(f"{tool} missing: apt-get install opus-tools")
        cls.tmp = tempfile.TemporaryDirectory(prefix="test-eval-")
        d = cls.tmp.name
        os.makedirs(os.path.join(d, "clips", "speech"))
        os.makedirs(os.path.join(d, "clips", "music"))
        os.makedirs(os.path.join(d, "scratch"))
        # "speech": 2 s at 16 kHz mono, voiced harmonics with a gliding pitch and syllables
        t = np.arange(32000) / 16000
        f0 = 120 + 60 * t
        phase = 2 * np.pi * np.cumsum(f0) / 16000
        voice = sum(np.sin(k * phase) / k for k in range(1, 12))
        speech = 0.15 * voice * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)) + 0.003 * white(32000, 20)
        cls.speech = os.path.join(d, "clips", "speech", "talk.wav")
        wavfile.write(cls.speech, 16000, (speech * 32767).astype(np.int16))
        # "music": 1.5 s at 44.1 kHz stereo, a decaying chord, different in each channel
        t = np.arange(66150) / 44100
        env = np.exp(-2 * t)
        left = 0.2 * env * (np.sin(2 * np.pi * 261.6 * t) + np.sin(2 * np.pi * 329.6 * t))
        right = 0.2 * env * (np.sin(2 * np.pi * 392.0 * t) + np.sin(2 * np.pi * 523.3 * t))
        cls.music = os.path.join(d, "clips", "music", "chord.wav")
        wavfile.write(cls.music, 44100, np.stack([left, right], 1).astype(np.float32))
        cls.json = os.path.join(d, "out.json")
        cls.png = os.path.join(d, "out.png")
        env = dict(os.environ, TMPDIR=os.path.join(d, "scratch"))
        cls.proc = subprocess.run(
            [sys.executable, EVAL, "--encodec", CLI, "-m", TINY24, "--lm", "-b", "1.5,6",
             "--opus-bitrates", "24", "-t", "1", "--json", cls.json, "--plot", cls.png,
             os.path.join(d, "clips")], capture_output=True, text=True, env=env, timeout=240)
        cls.scratch = os.path.join(d, "scratch")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_runs_and_prints_tables(self):
        p = self.proc
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        self.assertIn("| file ", out)
        self.assertIn("Means per group", out)
        for row in ("| talk.wav ", "| chord.wav "):
            self.assertEqual(sum(1 for line in out.splitlines() if line.startswith(row)), 3, out)
        for group in ("speech", "music", "all"):
            self.assertTrue(any(line.startswith(f"| {group} ") and "opus 24" in line
                                for line in out.splitlines()), out)
        self.assertEqual(os.listdir(self.scratch), [], "temporary files left behind")

    def test_json(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        with open(self.json) as f:
            doc = json.load(f)
        files = {os.path.basename(f["path"]): f for f in doc["files"]}
        self.assertEqual(set(files), {"talk.wav", "chord.wav"})
        self.assertEqual(files["talk.wav"]["group"], "speech")
        self.assertEqual(files["chord.wav"]["group"], "music")
        self.assertAlmostEqual(files["talk.wav"]["duration_s"], 2.0, places=6)
        self.assertAlmostEqual(files["chord.wav"]["duration_s"], 1.5, places=6)
        for name, f in files.items():
            by = {(r["codec"], r["target_kbps"]): r for r in f["results"]}
            self.assertEqual(set(by), {("encodec", 1.5), ("encodec", 6.0), ("opus", 24.0)})
            for r in f["results"]:
                for key in ("kbps", "size_bytes", "mel_distance", "si_sdr", "encode_rtf",
                            "decode_rtf"):
                    self.assertIsInstance(r[key], (int, float), (name, r))
                self.assertAlmostEqual(r["kbps"], r["size_bytes"] * 8 / f["duration_s"] / 1000)
                self.assertGreater(r["encode_rtf"], 0)
                self.assertGreater(r["decode_rtf"], 0)
                self.assertGreaterEqual(r["mel_distance"], 0)
                # the tiny model's output: 24 kHz mono, as long as the resampled input
                self.assertEqual((r["rate"], r["channels"]), (24000, 1))
                self.assertEqual(r["decoded_samples"], round(f["duration_s"] * 24000))
            opus = by[("opus", 24.0)]
            self.assertLess(abs(opus["kbps"] - 24) / 24, 0.15, opus)
            self.assertGreater(opus["si_sdr"], 8.0, opus)  # Opus at 24 kbps is a good codec
            self.assertLess(opus["mel_distance"], by[("encodec", 6.0)]["mel_distance"])
            self.assertLess(by[("encodec", 1.5)]["kbps"], by[("encodec", 6.0)]["kbps"])
            self.assertGreater(by[("encodec", 6.0)]["kbps"], 6.0 * 0.9)
            lm = by[("encodec", 1.5)]["lm"]  # the tiny LM covers 1.5 kbps
            self.assertTrue(lm["same_audio"], lm)
            self.assertGreater(lm["size_bytes"], 0)
        groups = {(s["group"], s["codec"], s["target_kbps"]): s for s in doc["summary"]}
        both = groups[("all", "opus", 24.0)]
        self.assertEqual(both["files"], 2)
        self.assertAlmostEqual(both["mel_distance"], np.mean(
            [f["results"][-1]["mel_distance"] for f in doc["files"]]))

    def test_png(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        size = png_size(self.png)
        self.assertIsNotNone(size, "not a PNG file")
        self.assertGreater(size[0], 100)
        self.assertGreater(size[1], 100)


class ErrorTest(unittest.TestCase):
    def run_eval(self, *args):
        return subprocess.run([sys.executable, EVAL, "--quiet", "--plot", ""] + list(args),
                              capture_output=True, text=True, timeout=60)

    def test_missing_things(self):
        clip = os.path.join(DATA, "cli_jazz_44k1_stereo.flac")
        for args, needle in ((["--encodec", "/nonexistent/encodec", clip], "/nonexistent/encodec"),
                             (["--encodec", CLI, "-m", "/nonexistent/m.safetensors", clip],
                              "/nonexistent/m.safetensors"),
                             (["--encodec", CLI, "-m", TINY24, "/nonexistent/x.wav"],
                              "/nonexistent/x.wav")):
            p = self.run_eval(*args)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(needle, p.stderr)
            self.assertTrue(p.stderr.startswith("encodec-eval: "), p.stderr)

    def test_missing_opus_tools(self):
        p = subprocess.run([sys.executable, EVAL, "--quiet", "--encodec", CLI, "-m", TINY24,
                            os.path.join(DATA, "cli_jazz_44k1_stereo.flac")],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PATH="/nonexistent"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("opus-tools", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
