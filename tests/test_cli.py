#!/usr/bin/env python3
"""End-to-end tests of the `encodec` command-line tool (Python standard library only).

Run by ctest with ENCODEC_BINARY_DIR (the tool is tools/cli/encodec there), ENCODEC_SOURCE_DIR
and ENCODEC_TEST_DATA. Models are the golden tiny ones of tests/data (tiny24: 24 kHz mono;
tiny48: 48 kHz stereo); real recordings come from ../shared/audio beside the repository.
"""
import array
import json
import math
import os
import pty
import random
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import wave

SOURCE_DIR = os.environ.get("ENCODEC_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY_DIR = os.environ.get("ENCODEC_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
DATA = os.environ.get("ENCODEC_TEST_DATA", os.path.join(SOURCE_DIR, "tests", "data"))
AUDIO = os.path.join(os.path.dirname(os.path.abspath(SOURCE_DIR)), "shared", "audio")
TOOL = os.path.join(BINARY_DIR, "tools", "cli", "encodec")

TINY24 = os.path.join(DATA, "tiny24.safetensors")
TINY48 = os.path.join(DATA, "tiny48.safetensors")
REF_ECDC = os.path.join(DATA, "tiny24_excerpt_bw1.5_nolm.ecdc")
REF_ECDC_LM = os.path.join(DATA, "tiny24_excerpt_bw1.5_lm.ecdc")
GOLDEN = os.path.join(DATA, "tiny24.golden.safetensors")
GOLDEN48 = os.path.join(DATA, "tiny48.golden.safetensors")
REF_ECDC48 = os.path.join(DATA, "tiny48_excerpt_bw3_nolm.ecdc")

SPEECH_24K = os.path.join(AUDIO, "speech_en_f_cmuarctic_axb0004_24k_mono.wav")
JAZZ_48K = os.path.join(AUDIO, "music_jazz_vibeace_48k_stereo.wav")
FLAC_44K = os.path.join(DATA, "cli_jazz_44k1_stereo.flac")
OGG_44K = os.path.join(DATA, "cli_jazz_44k1_stereo.ogg")


# ---- file helpers ------------------------------------------------------------------------

def golden_tensor(name, path=GOLDEN):
    """Raw bytes and shape of a tensor in a golden safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    start, end = header[name]["data_offsets"]
    return blob[8 + n + start:8 + n + end], header[name]["shape"]


def golden_floats(name, path=GOLDEN):
    raw, shape = golden_tensor(name, path)
    a = array.array("f")
    a.frombytes(raw)
    if sys.byteorder != "little":
        a.byteswap()
    return a, shape


def interleave(planar, channels):
    """[channels, n] row-major floats -> interleaved little-endian float32 bytes."""
    n = len(planar) // channels
    out = array.array("f", [0.0]) * (n * channels)
    for c in range(channels):
        out[c::channels] = planar[c * n:(c + 1) * n]
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


def riff(fmt_chunk, data):
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def write_wav_float(path, data, rate, channels):
    """32-bit float WAV (format 3) from raw little-endian float32 bytes."""
    fmt = struct.pack("<HHIIHH", 3, channels, rate, rate * channels * 4, channels * 4, 32)
    with open(path, "wb") as f:
        f.write(riff(fmt, data))


def write_wav_pcm(path, samples, rate, channels, width):
    """Integer PCM WAV from interleaved floats in [-1, 1]; width in bytes (2, 3 or 4)."""
    scale = float(1 << (8 * width - 1))
    top = (1 << (8 * width - 1)) - 1
    out = bytearray()
    for x in samples:
        v = max(-top - 1, min(top, int(round(x * scale))))
        out += v.to_bytes(width, "little", signed=True)
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(bytes(out))


def write_aiff16(path, samples, rate, channels):
    """16-bit AIFF (big-endian PCM; the rate is an 80-bit extended float)."""
    frames = len(samples) // channels
    exponent = int(math.floor(math.log2(rate)))
    mantissa = int(rate * 2 ** (63 - exponent))
    ext = struct.pack(">HQ", 16383 + exponent, mantissa)
    comm = struct.pack(">hIh", channels, frames, 16) + ext
    data = b"".join(struct.pack(">h", max(-32768, min(32767, int(round(x * 32768)))))
                    for x in samples)
    ssnd = struct.pack(">II", 0, 0) + data
    body = b"AIFF" + b"COMM" + struct.pack(">I", len(comm)) + comm
    body += b"SSND" + struct.pack(">I", len(ssnd)) + ssnd
    with open(path, "wb") as f:
        f.write(b"FORM" + struct.pack(">I", len(body)) + body)


def read_wav(path):
    """(rate, channels, sample width, frames, samples as a list of ints)."""
    with wave.open(path, "rb") as w:
        raw = w.readframes(w.getnframes())
        info = (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes())
    samples = array.array("h")
    samples.frombytes(raw)
    if sys.byteorder != "little":
        samples.byteswap()
    return info + (samples,)


def read_wav_floats(path, seconds=None, start=0.0):
    """Interleaved floats of a 16-bit WAV, optionally a part of it; also rate and channels."""
    with wave.open(path, "rb") as w:
        rate, ch = w.getframerate(), w.getnchannels()
        w.setpos(int(start * rate))
        n = w.getnframes() - int(start * rate) if seconds is None else int(seconds * rate)
        raw = w.readframes(n)
    a = array.array("h")
    a.frombytes(raw)
    if sys.byteorder != "little":
        a.byteswap()
    return [v / 32768.0 for v in a], rate, ch


def resample_linear(samples, channels, rate_in, rate_out):
    """Crude linear interpolation: only makes test inputs at other rates."""
    n_in = len(samples) // channels
    n_out = n_in * rate_out // rate_in
    out = []
    for i in range(n_out):
        pos = i * rate_in / rate_out
        j = int(pos)
        frac = pos - j
        k = min(j + 1, n_in - 1)
        for c in range(channels):
            out.append(samples[j * channels + c] * (1 - frac) + samples[k * channels + c] * frac)
    return out


def ecdc_header(path):
    with open(path, "rb") as f:
        blob = f.read()
    magic, version, length = struct.unpack(">4sBI", blob[:9])
    return json.loads(blob[9:9 + length]), blob[9 + length:]


def make_ecdc(meta, payload):
    text = json.dumps(meta).encode()
    return struct.pack(">4sBI", b"ECDC", 0, len(text)) + text + payload


# ---- base class --------------------------------------------------------------------------

class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(TOOL):
            raise unittest.SkipTest(f"{TOOL} not built (ENCODEC_BUILD_CLI off?)")

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="encodec-cli-")
        self.tmp = self._tmp.name
        self.env = dict(os.environ, ENCODEC_MODEL_PATH=DATA)
        self.env.pop("COLUMNS", None)

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp, name)

    def run_cli(self, *args, stdin=None, env=None, check=None):
        p = subprocess.run([TOOL, *args], input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env or self.env, cwd=self.tmp,
                           timeout=240)
        p.err = p.stderr.decode(errors="replace")
        if check is True:
            self.assertEqual(p.returncode, 0, f"{args}: {p.err}")
        return p

    def excerpt_wav(self, name="excerpt.wav"):
        """The golden excerpt (tiny24's reference input) as a 24 kHz float WAV, bit exact."""
        data, shape = golden_tensor("excerpt.audio")
        self.assertEqual(shape, [1, 36000])
        path = self.path(name)
        write_wav_float(path, data, 24000, 1)
        return path

    def assert_no_leftovers(self, allowed=()):
        """Only the files the test made itself: no outputs, no temporary files."""
        extra = sorted(set(os.listdir(self.tmp)) - set(allowed))
        self.assertEqual(extra, [], "unexpected files left behind")

    def assert_error(self, p, file_fragment, *words):
        """Failure with one line 'encodec: FILE: problem' naming the file and the problem."""
        self.assertEqual(p.returncode, 1, p.err)
        lines = p.err.strip().splitlines()
        self.assertEqual(len(lines), 1, f"expected one line, got: {p.err!r}")
        line = lines[0]
        self.assertTrue(line.startswith("encodec: "), line)
        if file_fragment is not None:
            self.assertIn(file_fragment, line)
        for w in words:
            self.assertIn(w.lower(), line.lower())
        self.assertEqual(p.stdout, b"")


# ---- basics ------------------------------------------------------------------------------

class TestBasics(CliTest):
    def test_help(self):
        p = self.run_cli("--help", check=True)
        out = p.stdout.decode()
        for opt in ("--bandwidth", "--hq", "--lm", "--force", "--rescale", "--model", "--quiet",
                    "info", "ENCODEC_MODEL_PATH"):
            self.assertIn(opt, out)
        self.assertEqual(self.run_cli("-h").returncode, 0)

    def test_version(self):
        p = self.run_cli("--version", check=True)
        self.assertRegex(p.stdout.decode(), r"^encodec \d+\.\d+\.\d+ \(libencodec \d+\.\d+\.\d+")
        self.assertEqual(self.run_cli("-V").stdout, p.stdout)

    def test_usage_errors(self):
        for args in ([], ["--bogus", "x.wav"], ["-b"], ["-b", "abc", "x.wav"], ["-b", "-3", "x"],
                     ["a", "b", "c"], ["info"], ["--hq=1", "x"], ["-x", "y"]):
            p = self.run_cli(*args)
            self.assertEqual(p.returncode, 2, f"{args}: {p.err}")
            self.assertTrue(p.err.startswith("encodec: "), p.err)
        self.assert_no_leftovers()


# ---- reference files ---------------------------------------------------------------------

class TestReference(CliTest):
    def test_compress_is_byte_identical(self):
        src = self.excerpt_wav()
        p = self.run_cli("-b", "1.5", "--model", TINY24, src, check=True)
        self.assertEqual(p.stderr, b"", "nothing on stderr when it is not a terminal")
        with open(self.path("excerpt.ecdc"), "rb") as f, open(REF_ECDC, "rb") as g:
            self.assertEqual(f.read(), g.read())

    def test_compress_explicit_output_and_bundled_options(self):
        src = self.excerpt_wav()
        self.run_cli("-fb1.5", "-m", TINY24, src, "out.ecdc", check=True)
        self.run_cli("--bandwidth=1.5", "--model=" + TINY24, "-t", "1", src, "one.ecdc",
                     check=True)
        for name in ("out.ecdc", "one.ecdc"):
            with open(self.path(name), "rb") as f, open(REF_ECDC, "rb") as g:
                self.assertEqual(f.read(), g.read(), name)

    def test_decompress_reference(self):
        """Model found by the name in the header; WAV equals the golden decoding."""
        ecdc = self.path("ref.ecdc")
        with open(REF_ECDC, "rb") as f, open(ecdc, "wb") as g:
            g.write(f.read())
        p = self.run_cli(ecdc, check=True)
        self.assertEqual(p.stderr, b"")
        rate, ch, width, frames, got = read_wav(self.path("ref_decompressed.wav"))
        self.assertEqual((rate, ch, width, frames), (24000, 1, 2, 36000))
        raw, shape = golden_tensor("excerpt.bw1.5.decoded")
        ref = array.array("f")
        ref.frombytes(raw)
        if sys.byteorder != "little":
            ref.byteswap()
        worst = 0
        for i in range(36000):
            x = max(-0.99, min(0.99, ref[i]))
            worst = max(worst, abs(got[i] - round(x * 32768)))
        self.assertLessEqual(worst, 1)

    def test_tiny48_compress_is_byte_identical(self):
        """The segmented 48 kHz stereo model (two segments, each with its volume scale)."""
        planar, shape = golden_floats("excerpt.audio", GOLDEN48)
        self.assertEqual(shape, [2, 49440])
        src = self.path("ex48.wav")
        write_wav_float(src, interleave(planar, 2), 48000, 2)
        self.run_cli("--hq", "-b", "3", "--model", TINY48, src, check=True)
        with open(self.path("ex48.ecdc"), "rb") as f, open(REF_ECDC48, "rb") as g:
            got, ref = f.read(), g.read()
        diff = [i for i in range(min(len(got), len(ref))) if got[i] != ref[i]]
        self.assertEqual((len(got), diff), (len(ref), []), "bytes differ from the reference")

    def test_tiny48_decompress_reference(self):
        # the golden decoding peaks above 0.99, so check the warning and -r too
        p = self.run_cli(REF_ECDC48, "d.wav", check=True)
        self.assertIn("clipped", p.err)
        rate, ch, width, frames, got = read_wav(self.path("d.wav"))
        self.assertEqual((rate, ch, width, frames), (48000, 2, 2, 49440))
        ref, _ = golden_floats("excerpt.bw3.decoded", GOLDEN48)
        worst = 0
        for t in range(49440):
            for c in range(2):
                x = max(-0.99, min(0.99, ref[c * 49440 + t]))
                worst = max(worst, abs(got[2 * t + c] - round(x * 32768)))
        self.assertLessEqual(worst, 1)
        p = self.run_cli("-r", REF_ECDC48, "r.wav", check=True)
        self.assertEqual(p.stderr, b"")
        got = read_wav(self.path("r.wav"))[4]
        peak = max(abs(v) for v in ref)
        worst = 0
        for t in range(49440):
            for c in range(2):
                x = ref[c * 49440 + t] * (0.99 / peak)
                worst = max(worst, abs(got[2 * t + c] - round(x * 32768)))
        self.assertLessEqual(worst, 1)

    def test_cycle_equals_compress_then_decompress(self):
        src = self.excerpt_wav()
        self.run_cli("-b", "1.5", "--model", TINY24, src, "cycle.wav", check=True)
        self.run_cli("-b", "1.5", "--model", TINY24, src, check=True)
        self.run_cli("excerpt.ecdc", "two.wav", check=True)
        with open(self.path("cycle.wav"), "rb") as f, open(self.path("two.wav"), "rb") as g:
            self.assertEqual(f.read(), g.read())
        self.assertEqual(read_wav(self.path("cycle.wav"))[3], 36000)

    def test_stdin_stdout(self):
        src = self.excerpt_wav()
        with open(src, "rb") as f:
            wav = f.read()
        p = self.run_cli("-b", "1.5", "--model", TINY24, "-", "-", stdin=wav, check=True)
        with open(REF_ECDC, "rb") as g:
            ref = g.read()
        self.assertEqual(p.stdout, ref)
        # input "-" without OUTPUT writes to stdout too
        p = self.run_cli("-b", "1.5", "--model", TINY24, "-", stdin=wav, check=True)
        self.assertEqual(p.stdout, ref)
        # .ecdc on stdin is recognised by its magic and decompressed to a WAV on stdout
        p = self.run_cli("-", stdin=ref, check=True)
        self.run_cli(REF_ECDC, self.path("file.wav"), check=True)
        with open(self.path("file.wav"), "rb") as f:
            self.assertEqual(p.stdout, f.read())
        self.assert_no_leftovers({"excerpt.wav", "file.wav"})

    def test_suffix_and_inferred_names(self):
        ecdc = self.path("take.one.ecdc")
        with open(REF_ECDC, "rb") as f, open(ecdc, "wb") as g:
            g.write(f.read())
        self.run_cli("-s", "_x", ecdc, check=True)
        self.assertTrue(os.path.exists(self.path("take.one_x.wav")))
        src = self.excerpt_wav("take.two.WAV")
        self.run_cli("-b", "1.5", "--model", TINY24, src, check=True)
        self.assertTrue(os.path.exists(self.path("take.two.ecdc")))

    def test_force(self):
        src = self.excerpt_wav()
        out = self.path("out.ecdc")
        with open(out, "wb") as f:
            f.write(b"precious")
        p = self.run_cli("-b", "1.5", "--model", TINY24, src, out)
        self.assert_error(p, out, "exists", "-f")
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"precious")
        self.run_cli("-f", "-b", "1.5", "--model", TINY24, src, out, check=True)
        with open(out, "rb") as f, open(REF_ECDC, "rb") as g:
            self.assertEqual(f.read(), g.read())
        self.assert_no_leftovers({"excerpt.wav", "out.ecdc"})

    def test_output_mode(self):
        """Outputs get the usual permissions, not mkstemp's 0600."""
        src = self.excerpt_wav()
        old = os.umask(0o022)
        try:
            self.run_cli("-b", "1.5", "--model", TINY24, src, check=True)
        finally:
            os.umask(old)
        self.assertEqual(os.stat(self.path("excerpt.ecdc")).st_mode & 0o777, 0o644)

    def test_info_ecdc(self):
        p = self.run_cli("info", REF_ECDC, check=True)
        out = p.stdout.decode()
        for line in ("type: ecdc (version 0)", "model: tiny24", "sample_rate: 24000",
                     "channels: 1", "samples: 36000", "duration: 1.500 s",
                     "codebooks: 2", "bandwidth: 1.5 kbps", "lm: no",
                     f"size: {os.path.getsize(REF_ECDC)} bytes (header 59)",
                     "bitrate: 1.82 kbps"):
            self.assertIn(line + "\n", out)
        p = self.run_cli("info", REF_ECDC_LM, check=True)
        self.assertIn("lm: yes\n", p.stdout.decode())

    def test_info_without_model(self):
        env = dict(self.env, ENCODEC_MODEL_PATH=self.tmp)
        p = subprocess.run([TOOL, "info", REF_ECDC], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env)
        self.assertEqual(p.returncode, 0)
        out = p.stdout.decode()
        self.assertIn("model: tiny24 (not found", out)
        self.assertIn("samples: 36000", out)

    def test_info_audio_and_several_files(self):
        src = self.excerpt_wav()
        p = self.run_cli("info", src, FLAC_44K, check=True)
        out = p.stdout.decode()
        self.assertIn("type: audio (WAV", out)
        self.assertIn("samples: 36000\n", out)
        self.assertIn("type: audio (FLAC", out)
        self.assertIn("sample_rate: 44100\n", out)
        self.assertIn("channels: 2\n", out)
        p = self.run_cli("info", "missing.ecdc")
        self.assert_error(p, "missing.ecdc", "does not exist")


# ---- real audio --------------------------------------------------------------------------

class TestRealAudio(CliTest):
    def compress_and_check(self, src, expect_samples, name="out"):
        """Compress and decompress again; the lengths must be those of the resampled input."""
        ecdc = self.path(name + ".ecdc")
        self.run_cli("--model", TINY24, src, ecdc, check=True)
        meta, _ = ecdc_header(ecdc)
        self.assertEqual(meta["m"], "tiny24")
        self.assertEqual(meta["al"], expect_samples)
        self.assertEqual(meta["nc"], 8)  # default 6 kbps at 75 frames/s
        wav = self.path(name + ".wav")
        self.run_cli(ecdc, wav, check=True)
        rate, ch, width, frames, samples = read_wav(wav)
        self.assertEqual((rate, ch, width, frames), (24000, 1, 2, expect_samples))
        return samples

    def test_speech_24k_mono(self):
        with wave.open(SPEECH_24K) as w:
            n = w.getnframes()
        self.compress_and_check(SPEECH_24K, n)
        cycle = self.path("cycle.wav")
        self.run_cli("--model", TINY24, SPEECH_24K, cycle, check=True)
        self.assertEqual(read_wav(cycle)[3], n)

    def test_music_48k_stereo_mixed_and_resampled(self):
        with wave.open(JAZZ_48K) as w:
            n = w.getnframes()
        self.compress_and_check(JAZZ_48K, (n * 24000 + 47999) // 48000)

    def test_44k1_stereo_wav_integer_and_float(self):
        x, rate, ch = read_wav_floats(JAZZ_48K, seconds=1.0, start=3.0)
        y = resample_linear(x, ch, rate, 44100)
        n = len(y) // 2
        want = (n * 24000 + 44099) // 44100
        for width in (2, 3, 4):
            src = self.path(f"in{width}.wav")
            write_wav_pcm(src, y, 44100, 2, width)
            self.compress_and_check(src, want, f"pcm{width}")
        fl = array.array("f", y)
        if sys.byteorder != "little":
            fl.byteswap()
        src = self.path("in_float.wav")
        write_wav_float(src, fl.tobytes(), 44100, 2)
        self.compress_and_check(src, want, "float")

    def test_flac_ogg_aiff(self):
        self.compress_and_check(FLAC_44K, 12000, "flac")  # 22050 frames at 44.1 kHz
        self.compress_and_check(OGG_44K, 12000, "ogg")
        x, rate, ch = read_wav_floats(SPEECH_24K, seconds=0.5)
        y = resample_linear(x, 1, rate, 16000)
        src = self.path("speech.aiff")
        write_aiff16(src, y, 16000, 1)
        self.compress_and_check(src, (len(y) * 24000 + 15999) // 16000, "aiff")

    def test_bandwidths(self):
        sizes = []
        for bw, nc in (("1.5", 2), ("3", 4), ("6", 8), ("12", 16), ("24", 32)):
            out = self.path(f"bw{bw}.ecdc")
            self.run_cli("-b", bw, "--model", TINY24, SPEECH_24K, out, check=True)
            self.assertEqual(ecdc_header(out)[0]["nc"], nc)
            sizes.append(os.path.getsize(out))
        self.assertEqual(sizes, sorted(sizes))

    def test_rescale_and_clipping(self):
        """Full-scale noise decodes beyond 0.99 with tiny24: without -r the output is clipped at
        0.99 (32440) with a warning; with -r it is scaled so that its peak is 0.99."""
        rng = random.Random(1)
        noise = [rng.uniform(-1, 1) for _ in range(24000)]
        src = self.path("noise.wav")
        write_wav_pcm(src, noise, 24000, 1, 2)
        p = self.run_cli("-b", "24", "--model", TINY24, src, "c.wav", check=True)
        c = read_wav(self.path("c.wav"))[4]
        self.assertEqual(max(abs(v) for v in c), 32440)
        lines = p.err.strip().splitlines()
        self.assertEqual(len(lines), 1, p.err)
        self.assertRegex(lines[0], r"^encodec: c\.wav: warning: .*peaks at 1\.\d+.*clipped.*-r")
        p = self.run_cli("-r", "-b", "24", "--model", TINY24, src, "r.wav", check=True)
        self.assertEqual(p.stderr, b"")
        r = read_wav(self.path("r.wav"))[4]
        self.assertEqual(max(abs(v) for v in r), 32440)
        self.assertLess(sum(abs(v) for v in r), sum(abs(v) for v in c))
        p = self.run_cli("--quiet", "-b", "24", "--model", TINY24, src, "q.wav", check=True)
        self.assertEqual(p.stderr, b"")
        # quiet input: nothing to clip, -r changes nothing
        self.run_cli("--model", TINY24, SPEECH_24K, "s.wav", check=True)
        self.run_cli("-r", "--model", TINY24, SPEECH_24K, "sr.wav", check=True)
        self.assertEqual(read_wav(self.path("s.wav"))[4], read_wav(self.path("sr.wav"))[4])

    def test_hq(self):
        """--hq: the 48 kHz stereo model on a real stereo recording, and mono input."""
        self.run_cli("--hq", "-b", "3", "--model", TINY48, JAZZ_48K, "hq.ecdc", check=True)
        meta, _ = ecdc_header(self.path("hq.ecdc"))
        self.assertEqual((meta["m"], meta["al"]), ("tiny48", 480000))
        self.run_cli(self.path("hq.ecdc"), "hq.wav", "--model", TINY48, check=True)
        self.assertEqual(read_wav(self.path("hq.wav"))[:4], (48000, 2, 2, 480000))
        # mono input is resampled and repeated on both channels
        self.run_cli("-b", "3", "--model", TINY48, SPEECH_24K, "mono.ecdc", check=True)
        with wave.open(SPEECH_24K) as w:
            n = w.getnframes()
        self.assertEqual(ecdc_header(self.path("mono.ecdc"))[0]["al"], 2 * n)
        self.run_cli("--model", TINY48, "mono.ecdc", "mono.wav", check=True)
        rate, ch, width, frames, s = read_wav(self.path("mono.wav"))
        self.assertEqual((rate, ch, frames), (48000, 2, 2 * n))
        p = self.run_cli("--hq", SPEECH_24K, "x.ecdc")
        self.assert_error(p, SPEECH_24K, "--hq", "encodec_48khz", "not found")
        self.assert_no_leftovers({"hq.ecdc", "hq.wav", "mono.ecdc", "mono.wav"})


# ---- errors ------------------------------------------------------------------------------

class TestErrors(CliTest):
    def write(self, name, data):
        path = self.path(name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def ref_bytes(self):
        with open(REF_ECDC, "rb") as f:
            return f.read()

    def test_missing_input(self):
        p = self.run_cli("--model", TINY24, "nothere.wav")
        self.assert_error(p, "nothere.wav", "does not exist")
        p = self.run_cli("nothere.ecdc")
        self.assert_error(p, "nothere.ecdc", "does not exist")
        self.assert_no_leftovers()

    def test_unreadable_input(self):
        if os.geteuid() == 0:
            self.skipTest("root reads any file")
        src = self.excerpt_wav()
        os.chmod(src, 0)
        p = self.run_cli("--model", TINY24, src)
        self.assert_error(p, src, "permission denied")
        self.assert_no_leftovers({"excerpt.wav"})

    def test_directory_input(self):
        os.mkdir(self.path("d.wav"))
        p = self.run_cli("--model", TINY24, self.path("d.wav"), "x.ecdc")
        self.assert_error(p, "d.wav", "directory")
        self.assert_no_leftovers({"d.wav"})

    def test_not_audio(self):
        src = self.write("notes.wav", b"these are not the samples you are looking for\n" * 20)
        p = self.run_cli("--model", TINY24, src)
        self.assert_error(p, "notes.wav", "not a supported audio file")
        self.assert_no_leftovers({"notes.wav"})

    def test_empty_file_and_empty_audio(self):
        src = self.write("zero.wav", b"")
        p = self.run_cli("--model", TINY24, src)
        self.assert_error(p, "zero.wav", "empty")
        src = self.path("silence.wav")
        write_wav_pcm(src, [], 24000, 1, 2)
        p = self.run_cli("--model", TINY24, src, "x.wav")
        self.assert_error(p, "silence.wav", "empty")
        self.assert_no_leftovers({"zero.wav", "silence.wav"})

    def test_too_many_channels_for_stereo_model(self):
        src = self.path("quad.wav")
        write_wav_pcm(src, [0.1, 0.2, 0.3, 0.4] * 1000, 48000, 4, 2)
        p = self.run_cli("-b", "3", "--model", TINY48, src, "x.ecdc")
        self.assert_error(p, "quad.wav", "4 channels")
        self.assert_no_leftovers({"quad.wav"})

    def test_corrupt_ecdc(self):
        ref = self.ref_bytes()
        cases = {
            "magic.ecdc": (b"XCDC" + ref[4:], "not an .ecdc"),
            "version.ecdc": (ref[:4] + b"\x07" + ref[5:], "version"),
            "json.ecdc": (make_ecdc({"m": "tiny24"}, ref[59:]), "header"),
            "cut.ecdc": (ref[:len(ref) - 20], "truncated"),
            "header.ecdc": (ref[:30], "truncated"),
            "tiny.ecdc": (ref[:3], ""),
            "trailing.ecdc": (ref + b"\0" * 16, "trailing"),
        }
        for name, (data, word) in cases.items():
            src = self.write(name, data)
            p = self.run_cli(src)
            self.assert_error(p, name, "corrupt", word)
            self.assertFalse(os.path.exists(self.path(name[:-5] + "_decompressed.wav")), name)
        self.assert_no_leftovers(set(cases))

    def test_unknown_model_name(self):
        meta, payload = ecdc_header(REF_ECDC)
        meta["m"] = "no_such_model"
        src = self.write("unknown.ecdc", make_ecdc(meta, payload))
        p = self.run_cli(src)
        self.assert_error(p, "unknown.ecdc", "no_such_model", "not found")
        meta["m"] = "../tests/data/tiny24"  # names are not paths
        src = self.write("path.ecdc", make_ecdc(meta, payload))
        p = self.run_cli(src)
        self.assert_error(p, "path.ecdc", "invalid model name")
        self.assert_no_leftovers({"unknown.ecdc", "path.ecdc"})

    def test_wrong_model_for_stream(self):
        src = self.write("ref.ecdc", self.ref_bytes())
        p = self.run_cli("--model", TINY48, src, "x.wav")
        self.assert_error(p, "ref.ecdc", "tiny48")
        self.assert_no_leftovers({"ref.ecdc"})

    def test_default_model_choice(self):
        """Without --model: the official encodec_24khz when it is in the search path, else the
        bundled libencodec_24khz from weights/."""
        src = self.excerpt_wav()
        p = self.run_cli(src, "bundled.ecdc", check=True)  # no encodec_24khz in tests/data
        p = self.run_cli("info", "bundled.ecdc", check=True)
        self.assertIn(b"libencodec_24khz", p.stdout)
        models = self.path("models")
        os.mkdir(models)
        with open(TINY24, "rb") as f, open(os.path.join(models, "encodec_24khz.safetensors"),
                                             "wb") as g:
            g.write(f.read())
        env = dict(self.env, ENCODEC_MODEL_PATH=models)
        p = self.run_cli("-b", "1.5", src, "official.ecdc", env=env, check=True)
        p = self.run_cli("info", "official.ecdc", env=env, check=True)
        self.assertIn(b"model: tiny24", p.stdout)  # the file installed as encodec_24khz

    def test_model_file_missing_or_invalid(self):
        src = self.excerpt_wav()
        p = self.run_cli("--model", self.path("none.safetensors"), src)
        self.assert_error(p, "none.safetensors", "does not exist")
        bad = self.write("bad.safetensors", b"\x10\0\0\0\0\0\0\0{not json}......")
        p = self.run_cli("--model", bad, src)
        self.assert_error(p, "bad.safetensors", "invalid model")
        with open(TINY24, "rb") as f:
            cut = self.write("cut.safetensors", f.read()[:5000])
        p = self.run_cli("--model", cut, src)
        self.assert_error(p, "cut.safetensors", "invalid model")
        # a model in the search path that is broken
        os.mkdir(self.path("models"))
        self.write("models/tiny24.safetensors", b"junk")
        env = dict(self.env, ENCODEC_MODEL_PATH=self.path("models"))
        p = self.run_cli(REF_ECDC, "x.wav", env=env)
        self.assert_error(p, "tiny24.safetensors", "invalid model")
        self.assert_no_leftovers({"excerpt.wav", "bad.safetensors", "cut.safetensors", "models"})

    def test_bandwidth_not_offered(self):
        src = self.excerpt_wav()
        p = self.run_cli("-b", "5", "--model", TINY24, src)
        self.assert_error(p, "tiny24.safetensors", "5 kbps", "1.5, 3, 6, 12, 24")
        p = self.run_cli("-b", "1.5", "--model", TINY48, src)
        self.assert_error(p, "tiny48.safetensors", "1.5 kbps", "3, 6, 12, 24")
        self.assert_no_leftovers({"excerpt.wav"})

    def test_output_folder_missing(self):
        src = self.excerpt_wav()
        p = self.run_cli("--model", TINY24, src, "nodir/x.ecdc")
        self.assert_error(p, "nodir/x.ecdc", "folder", "does not exist")
        p = self.run_cli(REF_ECDC, self.path("nodir/x.wav"))
        self.assert_error(p, "nodir/x.wav", "folder", "does not exist")
        self.assert_no_leftovers({"excerpt.wav"})

    def test_existing_output(self):
        self.write("ref.ecdc", self.ref_bytes())
        self.write("ref_decompressed.wav", b"keep")
        p = self.run_cli("ref.ecdc")
        self.assert_error(p, "ref_decompressed.wav", "exists", "--force")
        with open(self.path("ref_decompressed.wav"), "rb") as f:
            self.assertEqual(f.read(), b"keep")
        self.assert_no_leftovers({"ref.ecdc", "ref_decompressed.wav"})

    def test_output_extension(self):
        src = self.excerpt_wav()
        p = self.run_cli("--model", TINY24, src, "x.mp3")
        self.assert_error(p, "x.mp3", ".ecdc")
        p = self.run_cli(REF_ECDC, self.path("x.ecdc"))
        self.assert_error(p, "x.ecdc", ".wav")
        self.assert_no_leftovers({"excerpt.wav"})

    def test_lm_missing_or_invalid(self):
        src = self.excerpt_wav()
        model = self.path("m.safetensors")  # a copy with no m_lm.safetensors beside it
        with open(TINY24, "rb") as f, open(model, "wb") as g:
            g.write(f.read())
        os.mkdir(self.path("empty"))
        env = dict(self.env, ENCODEC_MODEL_PATH=self.path("empty"))
        p = self.run_cli("--lm", "-b", "1.5", "--model", model, src, "x.ecdc", env=env)
        self.assert_error(p, "--lm", "tiny24_lm", "not found", "--lm-model")
        p = self.run_cli("--lm", "--model", model, "--lm-model", "nope.safetensors", src, "x.ecdc")
        self.assert_error(p, "nope.safetensors", "does not exist")
        junk = self.write("junk.safetensors", b"\x02\0\0\0\0\0\0\0{}")
        p = self.run_cli("--lm", "--model", model, "--lm-model", junk, src, "x.ecdc")
        self.assert_error(p, "junk.safetensors", "invalid language model")
        # an entropy-coded stream when no LM can be found
        p = self.run_cli("--model", model, REF_ECDC_LM, "x.wav", env=env)
        self.assert_error(p, "tiny24_excerpt_bw1.5_lm.ecdc", "tiny24_lm", "not found")
        self.assert_no_leftovers({"excerpt.wav", "m.safetensors", "empty", "junk.safetensors"})


class TestLanguageModel(CliTest):
    """Entropy coding is lossless: LM-coded streams decode to the same audio as plain ones."""

    def test_decompress_reference_lm(self):
        # The reference's float32 LM rounds differently from ours (golden README): its
        # entropy-coded streams do not decode here. That must be a clean error naming the
        # file, with no output, never silently wrong audio.
        p = self.run_cli(REF_ECDC_LM, "lm.wav")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(REF_ECDC_LM, p.err)
        self.assertFalse(os.path.exists(self.path("lm.wav")))

    def test_compress_with_lm(self):
        src = self.excerpt_wav()
        self.run_cli(REF_ECDC, "plain.wav", check=True)
        # LM beside --model FILE: tests/data/tiny24_lm.safetensors
        self.run_cli("--lm", "-b", "1.5", "--model", TINY24, src, "a.ecdc", check=True)
        meta, _ = ecdc_header(self.path("a.ecdc"))
        self.assertEqual((meta["m"], meta["al"], meta["nc"], meta["lm"]),
                         ("tiny24", 36000, 2, True))
        self.run_cli("a.ecdc", "a.wav", check=True)
        with open(self.path("plain.wav"), "rb") as f, open(self.path("a.wav"), "rb") as g:
            self.assertEqual(f.read(), g.read())
        # explicit --lm-model with a model copy that has no LM beside it
        model = self.path("m.safetensors")
        with open(TINY24, "rb") as f, open(model, "wb") as g:
            g.write(f.read())
        lm = os.path.join(DATA, "tiny24_lm.safetensors")
        self.run_cli("-l", "-b", "1.5", "--model", model, "--lm-model", lm, src, "b.ecdc",
                     check=True)
        with open(self.path("a.ecdc"), "rb") as f, open(self.path("b.ecdc"), "rb") as g:
            self.assertEqual(f.read(), g.read())
        # the cycle through an entropy-coded stream
        self.run_cli("--lm", "-b", "1.5", "--model", TINY24, src, "c.wav", check=True)
        with open(self.path("plain.wav"), "rb") as f, open(self.path("c.wav"), "rb") as g:
            self.assertEqual(f.read(), g.read())


# ---- terminal behaviour and interruption -------------------------------------------------

class TestTerminal(CliTest):
    def test_progress_on_terminal_only(self):
        src = self.excerpt_wav()
        p = self.run_cli("-b", "1.5", "--model", TINY24, src, "a.wav", check=True)
        self.assertEqual(p.stderr, b"")
        # stderr on a pseudo-terminal: progress line and a summary with the real-time factor
        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen([TOOL, "-b", "1.5", "--model", TINY24, src, "b.wav"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=slave, env=self.env, cwd=self.tmp)
            os.close(slave)
            slave = None
            out = b""
            while True:
                ready, _, _ = select.select([master], [], [], 30)
                if not ready:
                    break
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            self.assertEqual(proc.wait(timeout=60), 0)
        finally:
            os.close(master)
            if slave is not None:
                os.close(slave)
        text = out.decode(errors="replace")
        self.assertIn("real time", text)
        self.assertIn("1.50 s of audio", text)
        # --quiet: nothing even on a terminal
        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen([TOOL, "--quiet", "-b", "1.5", "--model", TINY24, src,
                                     "c.wav"], stdout=subprocess.DEVNULL, stderr=slave,
                                    env=self.env, cwd=self.tmp)
            self.assertEqual(proc.wait(timeout=60), 0)
            os.close(slave)
            slave = None
            ready, _, _ = select.select([master], [], [], 0.2)
            data = b""
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    pass
            self.assertEqual(data, b"")
        finally:
            os.close(master)
            if slave is not None:
                os.close(slave)

    def test_refuses_binary_to_terminal(self):
        src = self.excerpt_wav()
        master, slave = pty.openpty()
        try:
            p = subprocess.run([TOOL, "-b", "1.5", "--model", TINY24, src, "-"],
                               stdout=slave, stderr=subprocess.PIPE, env=self.env, cwd=self.tmp)
        finally:
            os.close(master)
            os.close(slave)
        self.assertEqual(p.returncode, 1)
        self.assertIn("terminal", p.stderr.decode())

    def test_interrupt_leaves_no_output(self):
        """SIGINT/SIGTERM at various moments: either a complete output, or none at all."""
        x, rate, ch = read_wav_floats(SPEECH_24K)
        long_wav = self.path("long.wav")
        write_wav_pcm(long_wav, x * 40, rate, 1, 2)  # about 2 minutes
        for i, delay in enumerate((0.05, 0.2, 0.5, 1.0, 2.0)):
            sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
            out = self.path(f"o{i}.wav")
            proc = subprocess.Popen([TOOL, "--model", TINY24, long_wav, out],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    env=self.env, cwd=self.tmp)
            time.sleep(delay)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=240)
            if proc.returncode == 0:
                self.assertEqual(read_wav(out)[3], len(x) * 40)
                os.unlink(out)
            else:
                self.assertEqual(proc.returncode, -sig, err)
                self.assertFalse(os.path.exists(out))
            self.assert_no_leftovers({"long.wav"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
