#!/usr/bin/env python3
"""Quality of the bundled default model (weights/libencodec_24khz.safetensors) end to end
through the CLI, found without flags as a new user runs it: a speech and a music clip
(tests/data, from ../shared/audio, licences in README) are compressed and decompressed at
1.5 and 6 kbps, and the mel distance to the input (tools/eval/eval_metrics.py, the team's
definition) must stay under ceilings set from the measured values with margin (see
weights/README.md); with --lm and the bundled LM the files must be smaller by the measured
saving (less a margin) and decode to the same audio. (The bundled model does not yet improve
with bandwidth: open work, not asserted here.) Needs numpy and scipy: re-runs itself with
Debian's /usr/bin/python3 when ctest's Python lacks them."""
import os
import subprocess
import sys
import tempfile
import unittest

DEBIAN_PYTHON = "/usr/bin/python3"
try:
    from scipy.io import wavfile
except ImportError:
    if (os.path.exists(DEBIAN_PYTHON) and not os.environ.get("ENCODEC_TEST_QUALITY_REEXEC")
            and os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON)):
        os.environ["ENCODEC_TEST_QUALITY_REEXEC"] = "1"
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit("test_quality: numpy and scipy are needed (Debian: python3-numpy python3-scipy)")

SOURCE_DIR = os.environ.get("ENCODEC_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY_DIR = os.environ.get("ENCODEC_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
DATA = os.environ.get("ENCODEC_TEST_DATA", os.path.join(SOURCE_DIR, "tests", "data"))
CLI = os.path.join(BINARY_DIR, "tools", "cli", "encodec")
MODEL = os.path.join(SOURCE_DIR, "weights", "libencodec_24khz.safetensors")
LM_MODEL = os.path.join(SOURCE_DIR, "weights", "libencodec_24khz_lm.safetensors")
sys.path.insert(0, os.path.join(SOURCE_DIR, "tools", "eval"))
import eval_metrics as em  # noqa: E402

# Mel distance ceilings per clip and bandwidth: measured value + margin (weights/README.md).
CEILINGS = {
    "speech_librispeech3436_24k.wav": {1.5: 0.17, 6: 0.17},  # measured 0.144, 0.144
    "music_vibeace_24k.wav": {1.5: 0.27, 6: 0.27},  # measured 0.231, 0.227
}

# Smallest --lm saving per clip and bandwidth: measured saving - margin (weights/README.md).
LM_MIN_SAVING = {
    "speech_librispeech3436_24k.wav": {1.5: 0.35, 6: 0.30, 24: 0.37},  # measured 45, 39, 47 %
    "music_vibeace_24k.wav": {1.5: 0.25, 6: 0.18, 24: 0.28},  # measured 35, 26, 38 %
}


def read_wav(path):
    rate, data = wavfile.read(path)
    return rate, em.pcm_to_float(data)


class QualityTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        # only the bundled weights: an official encodec_24khz elsewhere must not be picked
        self.env = dict(os.environ, ENCODEC_MODEL_PATH=os.path.join(SOURCE_DIR, "weights"))

    def tearDown(self):
        self.tmp.cleanup()

    def cli(self, *args):
        p = subprocess.run([CLI, "--quiet", "-f", "-t", "1", *args], env=self.env, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)

    def round_trip(self, clip, bw):
        src = os.path.join(DATA, clip)
        tag = "%s_%g" % (clip, bw)
        ecdc = os.path.join(self.tmp.name, tag + ".ecdc")
        out = os.path.join(self.tmp.name, tag + ".wav")
        self.cli("-b", "%g" % bw, src, ecdc)
        self.cli(ecdc, out)
        return os.path.getsize(ecdc), read_wav(src), read_wav(out)

    def test_default_model_is_found_and_named(self):
        self.assertTrue(os.path.exists(MODEL), MODEL)
        src = os.path.join(DATA, "speech_librispeech3436_24k.wav")
        ecdc = os.path.join(self.tmp.name, "x.ecdc")
        self.cli(src, ecdc)  # no --model: the bundled model is the default
        p = subprocess.run([CLI, "info", ecdc], env=self.env, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("libencodec_24khz", p.stdout)

    def test_mel_distance_under_measured_ceilings(self):
        for clip, ceilings in CEILINGS.items():
            dists = {}
            for bw, ceiling in ceilings.items():
                _, (rate, ref), (out_rate, out) = self.round_trip(clip, bw)
                self.assertEqual((rate, out_rate), (24000, 24000))
                self.assertEqual(out.shape, ref.shape)
                dists[bw] = em.mel_distance(ref, out, rate)
                print("%s %g kbps: mel distance %.4f (ceiling %s)" % (clip, bw, dists[bw],
                                                                       ceiling))
                self.assertLess(dists[bw], ceiling, (clip, bw))

    def test_lm_files_are_smaller_and_decode_identically(self):
        """--lm with the bundled LM (weights/libencodec_24khz_lm.safetensors, found beside the
        model without flags) shrinks the files by at least the measured saving less a margin,
        and the decoded audio is byte for byte that of the bit-packed file."""
        self.assertTrue(os.path.exists(LM_MODEL), LM_MODEL)
        for clip, floors in LM_MIN_SAVING.items():
            src = os.path.join(DATA, clip)
            for bw, floor in floors.items():
                tag = os.path.join(self.tmp.name, "%s_%g" % (clip, bw))
                self.cli("-b", "%g" % bw, src, tag + ".ecdc")
                self.cli("--lm", "-b", "%g" % bw, src, tag + "_lm.ecdc")
                self.cli(tag + ".ecdc", tag + ".wav")
                self.cli(tag + "_lm.ecdc", tag + "_lm.wav")
                plain, coded = os.path.getsize(tag + ".ecdc"), os.path.getsize(tag + "_lm.ecdc")
                saving = 1 - coded / plain
                print("%s %g kbps: %d -> %d bytes with --lm (%.1f%% smaller, floor %.0f%%)"
                      % (clip, bw, plain, coded, 100 * saving, 100 * floor))
                self.assertGreater(saving, floor, (clip, bw))
                with open(tag + ".wav", "rb") as f, open(tag + "_lm.wav", "rb") as g:
                    self.assertEqual(f.read(), g.read(), (clip, bw))


if __name__ == "__main__":
    unittest.main(verbosity=2)
