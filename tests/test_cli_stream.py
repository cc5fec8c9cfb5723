#!/usr/bin/env python3
"""The `encodec` tool on pipes (issue #4, item 5): progressive compression of raw PCM on stdin
into live .ecdc streams, progressive decompression of .ecdc on stdin, raw PCM output, and the
errors of these paths; and files processed progressively (issue #8: memory bounded whatever
the length) with the same bytes as the whole-file path. Python standard library only; run by
ctest like test_cli.py."""
import array
import math
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import wave

SOURCE_DIR = os.environ.get("ENCODEC_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY_DIR = os.environ.get("ENCODEC_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
DATA = os.environ.get("ENCODEC_TEST_DATA", os.path.join(SOURCE_DIR, "tests", "data"))
TOOL = os.path.join(BINARY_DIR, "tools", "cli", "encodec")
TINY24 = os.path.join(DATA, "tiny24.safetensors")
REF_ECDC = os.path.join(DATA, "tiny24_excerpt_bw1.5_nolm.ecdc")
RATE = 24000


def tone_s16(n, rate=RATE):
    """A test signal as raw s16le bytes: two tones and a slow sweep of the level."""
    a = array.array("h", (int(9000 * math.sin(i * 0.031) * (0.5 + 0.5 * math.sin(i * 1e-4))
                              + 3000 * math.sin(i * 0.27)) for i in range(n)))
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


def s16(raw):
    a = array.array("h")
    a.frombytes(raw)
    if sys.byteorder != "little":
        a.byteswap()
    return a


def wav_frames(data):
    """(header fields, PCM bytes) of a WAV held in memory."""
    import io
    with wave.open(io.BytesIO(data), "rb") as w:
        return (w.getframerate(), w.getnchannels(), w.getsampwidth()), w.readframes(1 << 30)


class Piped:
    """A running encodec with stdin and stdout pipes; stdout is collected by a thread, which
    notes how much had arrived at each moment."""

    def __init__(self, args, env):
        self.proc = subprocess.Popen([TOOL, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.out = bytearray()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read)
        self.thread.start()

    def _read(self):
        while True:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return
            with self.lock:
                self.out += chunk

    def received(self):
        with self.lock:
            return len(self.out)

    def feed_slowly(self, data, piece, delay):
        for i in range(0, len(data), piece):
            self.proc.stdin.write(data[i:i + piece])
            self.proc.stdin.flush()
            time.sleep(delay)

    def finish(self):
        self.proc.stdin.close()
        err = self.proc.stderr.read()
        self.proc.wait(timeout=120)
        self.thread.join()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode, bytes(self.out), err.decode(errors="replace")


class StreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(TOOL):
            raise unittest.SkipTest(f"{TOOL} not built")

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="encodec-stream-")
        self.tmp = self._tmp.name
        self.env = dict(os.environ, ENCODEC_MODEL_PATH=DATA)

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp, name)

    def run_cli(self, *args, stdin=None, check=False):
        p = subprocess.run([TOOL, *args], input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.env, cwd=self.tmp, timeout=240)
        p.err = p.stderr.decode(errors="replace")
        if check:
            self.assertEqual(p.returncode, 0, f"{args}: {p.err}")
        return p

    def write_wav16(self, name, raw, rate=RATE, channels=1):
        path = self.path(name)
        with wave.open(path, "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(raw)
        return path

    # (a) live compression --------------------------------------------------------------

    def test_live_compress_is_progressive_and_decodes_like_a_file(self):
        raw = tone_s16(RATE * 2)  # 2 s
        p = Piped(["--raw", "-b", "1.5", "--model", TINY24, "-", "-"], self.env)
        p.feed_slowly(raw, 2 * RATE // 50, 0.01)  # 20 ms blocks
        time.sleep(0.2)
        early = p.received()
        rc, live, err = p.finish()
        self.assertEqual(rc, 0, err)
        self.assertGreater(early, 0, ".ecdc bytes came out before stdin was closed")
        self.assertLess(early, len(live))
        self.assertTrue(live.startswith(b"ECDC"))
        self.assertIn(b'"live": true', live[:100])

        # same samples as a WAV file, compressed with a known length
        src = self.write_wav16("same.wav", raw)
        self.run_cli("-b", "1.5", "--model", TINY24, src, "known.ecdc", check=True)
        self.run_cli("known.ecdc", "known.wav", check=True)
        with open(self.path("known.wav"), "rb") as f:
            known = f.read()
        d = self.run_cli("-", "live.wav", stdin=live, check=True)
        self.assertEqual(d.stdout, b"")
        with open(self.path("live.wav"), "rb") as f:
            self.assertEqual(f.read(), known, "a live stream in a file gets the true header")
        d = self.run_cli("-", "-", stdin=live, check=True)
        hdr, pcm = wav_frames(d.stdout[:44] + known[44:48] + d.stdout[48:])
        self.assertEqual(d.stdout[4:8], b"\xff\xff\xff\xff", "unknown length on a pipe")
        self.assertEqual(d.stdout[40:44], b"\xff\xff\xff\xff")
        self.assertEqual(d.stdout[44:], known[44:], "same codes, same samples")
        self.assertEqual(len(d.stdout[44:]), len(raw))
        # a live .ecdc file decodes too
        with open(self.path("live.ecdc"), "wb") as f:
            f.write(live)
        self.run_cli("live.ecdc", "lf.wav", check=True)
        with open(self.path("lf.wav"), "rb") as f:
            self.assertEqual(f.read(), known)
        # `info` reads a live file's length from its end, like the known-length file's header
        info = self.run_cli("info", "--model", TINY24, "live.ecdc", check=True).stdout.decode()
        self.assertIn("live stream", info)
        self.assertIn("samples: %d\n" % (RATE * 2), info)
        known_info = self.run_cli("info", "--model", TINY24, "known.ecdc",
                                  check=True).stdout.decode()
        pick = lambda text: [l for l in text.splitlines() if l.startswith(("samples", "codebooks"))]
        self.assertEqual(pick(info), pick(known_info))
        with open(self.path("cut.ecdc"), "wb") as f:
            f.write(live[:len(live) - 3])
        p = self.run_cli("info", "--model", TINY24, "cut.ecdc")
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"truncated", p.stderr)

    def test_live_compress_resampled_and_mixed(self):
        """16 kHz stereo f32le on a pipe gives the same audio as the whole-file path."""
        mono = s16(tone_s16(16000))
        st = array.array("f", [0.0]) * (2 * len(mono))
        st[0::2] = array.array("f", (v / 32768.0 for v in mono))
        st[1::2] = array.array("f", (v / 65536.0 for v in mono))
        if sys.byteorder != "little":
            st.byteswap()
        raw = st.tobytes()
        args = ["--raw", "--format", "f32le", "--rate", "16000", "--channels", "2", "-b", "1.5",
                "--model", TINY24]
        p = Piped([*args, "-", "-"], self.env)
        p.feed_slowly(raw, 4096, 0.002)
        rc, live, err = p.finish()
        self.assertEqual(rc, 0, err)
        with open(self.path("in.f32"), "wb") as f:
            f.write(raw)
        self.run_cli(*args, "in.f32", "known.raw", check=True)
        # --format applies to the decoded raw output too
        d = self.run_cli("--raw", "--format", "f32le", "-", "-", stdin=live, check=True)
        with open(self.path("known.raw"), "rb") as f:
            self.assertEqual(d.stdout, f.read())
        self.assertEqual(len(d.stdout), 4 * 24000)  # 1 s at 24 kHz, float mono

    # (b) progressive decompression -----------------------------------------------------

    def test_decompress_pipe_equals_file_and_is_progressive(self):
        with open(REF_ECDC, "rb") as f:
            ref = f.read()
        self.run_cli(REF_ECDC, "file.wav", check=True)
        with open(self.path("file.wav"), "rb") as f:
            want = f.read()
        cat = subprocess.Popen(["cat", REF_ECDC], stdout=subprocess.PIPE)
        d = subprocess.run([TOOL, "-", "-"], stdin=cat.stdout, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.env, timeout=120)
        cat.stdout.close()
        cat.wait()
        self.assertEqual(d.returncode, 0, d.stderr)
        self.assertEqual(d.stdout, want)

        p = Piped(["-", "-"], self.env)
        p.feed_slowly(ref[:len(ref) * 2 // 3], 16, 0.01)
        # wait for the audio of the bytes given so far (long under an emulator); the rest of
        # the input is held back until then
        deadline = time.monotonic() + 60
        while p.received() <= 44 + 2 * 4800 and time.monotonic() < deadline:
            time.sleep(0.05)
        early = p.received()
        p.feed_slowly(ref[len(ref) * 2 // 3:], 256, 0.001)
        rc, out, err = p.finish()
        self.assertEqual(rc, 0, err)
        self.assertGreater(early, 44 + 2 * 4800, "audio came out before the input ended")
        self.assertEqual(out, want)

    def test_decompress_lm_pipe_is_progressive(self):
        """An LM-coded stream on a pipe: audio comes out while the input is still coming, and
        it is the audio of the bit-packed stream of the same codes."""
        self.write_wav16("in.wav", tone_s16(RATE * 6))
        self.run_cli("-b", "1.5", "--model", TINY24, "--lm", "in.wav", "lm.ecdc", check=True)
        self.run_cli("-b", "1.5", "--model", TINY24, "in.wav", "plain.ecdc", check=True)
        self.run_cli("plain.ecdc", "plain.wav", "--model", TINY24, check=True)
        with open(self.path("plain.wav"), "rb") as f:
            want = f.read()
        with open(self.path("lm.ecdc"), "rb") as f:
            ref = f.read()
        p = Piped(["--model", TINY24, "-", "-"], self.env)
        p.feed_slowly(ref[:len(ref) * 2 // 3], 16, 0.01)
        deadline = time.monotonic() + 60
        while p.received() <= 44 + 2 * RATE and time.monotonic() < deadline:
            time.sleep(0.05)
        early = p.received()
        p.feed_slowly(ref[len(ref) * 2 // 3:], 256, 0.001)
        rc, out, err = p.finish()
        self.assertEqual(rc, 0, err)
        self.assertGreater(early, 44 + 2 * RATE, "audio came out before the input ended")
        self.assertEqual(out, want)

    # (d) files read and written progressively ------------------------------------------

    def peak_rss_kb(self, *args):
        """Run the tool; its peak resident memory in KB (exit status checked)."""
        p = subprocess.Popen([TOOL, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=self.env, cwd=self.tmp)
        _, status, usage = os.wait4(p.pid, 0)
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
        p.returncode = os.waitstatus_to_exitcode(status)
        self.assertEqual(p.returncode, 0, f"{args}: {err}")
        return usage.ru_maxrss

    def test_file_compress_streams_with_the_whole_file_bytes(self):
        """A WAV file is encoded as it is read; the .ecdc equals the whole-file path's (the
        same WAV on stdin, which is read whole), resampled and mixed or not, and also for a
        truncated WAV whose header announces more frames than it holds."""
        mono = s16(tone_s16(44100 * 3))
        st = array.array("h", [0]) * (2 * len(mono))
        st[0::2] = mono
        st[1::2] = array.array("h", (v // 3 for v in mono))
        if sys.byteorder != "little":
            st.byteswap()
        cases = [("st44.wav", st.tobytes(), 44100, 2), ("mono24.wav", tone_s16(RATE * 2), RATE, 1)]
        for name, raw, rate, ch in cases:
            path = self.write_wav16(name, raw, rate, ch)
            with open(path, "rb") as f:
                data = f.read()
            for label, wav, lm in (("whole", data, []), ("truncated", data[:len(data) - 1000], []),
                                   ("whole, --lm", data, ["--lm"])):
                with open(path, "wb") as f:
                    f.write(wav)
                self.run_cli("-f", "-b", "1.5", "--model", TINY24, *lm, name, "file.ecdc",
                             check=True)
                whole = self.run_cli("-b", "1.5", "--model", TINY24, *lm, "-", "-", stdin=wav,
                                     check=True)
                with open(self.path("file.ecdc"), "rb") as f:
                    self.assertEqual(f.read(), whole.stdout, f"{name} {label}")
        # a named pipe (as `encodec <(...)` gives) cannot be opened twice: read once, whole
        # (as the last case above: --lm)
        fifo = self.path("fifo.wav")
        os.mkfifo(fifo)

        def feed():
            with open(fifo, "wb") as f:
                f.write(wav)
        feeder = threading.Thread(target=feed)
        feeder.start()
        self.run_cli("-f", "-b", "1.5", "--model", TINY24, *lm, "fifo.wav", "fifo.ecdc",
                     check=True)
        feeder.join()
        with open(self.path("fifo.ecdc"), "rb") as f:
            self.assertEqual(f.read(), whole.stdout)

    def test_memory_does_not_grow_with_length(self):
        """Peak memory of compressing a WAV file and of decompressing its .ecdc to WAV does
        not grow with the length: whole files in memory would take at least 26 MB more for
        180 s more (8.6 MB of file, 17 MB of float samples); the bound leaves room for the
        sanitizers' allocator (about 8 MB of growth seen under ASan)."""
        rss = {}
        for seconds in (20, 200):
            self.write_wav16(f"in{seconds}.wav", tone_s16(RATE * 10) * (seconds // 10))
            rss[seconds] = (
                self.peak_rss_kb("-f", "-b", "1.5", "--model", TINY24, f"in{seconds}.wav",
                                 f"c{seconds}.ecdc"),
                self.peak_rss_kb("-f", "--model", TINY24, f"c{seconds}.ecdc",
                                 f"d{seconds}.wav"),
                self.peak_rss_kb("-f", "-b", "1.5", "--model", TINY24, "--lm",
                                 f"in{seconds}.wav", f"l{seconds}.ecdc"),
                self.peak_rss_kb("-f", "--model", TINY24, f"l{seconds}.ecdc",
                                 f"e{seconds}.wav"))
        for name in ("d200.wav", "e200.wav"):
            with wave.open(self.path(name), "rb") as w:
                self.assertEqual(w.getnframes(), RATE * 200)
        for i, job in enumerate(("compress", "decompress", "compress --lm", "decompress lm")):
            growth = rss[200][i] - rss[20][i]
            self.assertLess(growth, 16 * 1024, f"{job}: {rss[20][i]} KB for 20 s, "
                            f"{rss[200][i]} KB for 200 s")

    # (c) raw output ----------------------------------------------------------------------

    def test_raw_output_formats(self):
        self.run_cli(REF_ECDC, "file.wav", check=True)
        with open(self.path("file.wav"), "rb") as f:
            wav_pcm = f.read()[44:]
        a = self.run_cli("--raw", REF_ECDC, "-", check=True).stdout
        self.assertEqual(len(a), 36000 * 2)
        self.assertEqual(a, wav_pcm)
        with open(REF_ECDC, "rb") as f:
            self.assertEqual(self.run_cli("--raw", "-", "-", stdin=f.read(), check=True).stdout, a)
        b = self.run_cli("--raw", "--format", "f32le", REF_ECDC, "-", check=True).stdout
        self.assertEqual(len(b), 36000 * 4)
        fl = array.array("f")
        fl.frombytes(b)
        if sys.byteorder != "little":
            fl.byteswap()
        ints = s16(a)
        self.assertLessEqual(max(abs(x) for x in fl), 0.99 + 1e-6)
        self.assertTrue(all(abs(round(x * 32768) - v) <= 1 for x, v in zip(fl, ints)))
        self.assertGreater(max(abs(v) for v in ints), 1000)
        # by the output's name, and for the compress/decompress cycle
        self.run_cli(REF_ECDC, "named.raw", check=True)
        with open(self.path("named.raw"), "rb") as f:
            self.assertEqual(f.read(), a)
        raw = tone_s16(RATE)
        with open(self.path("in.raw"), "wb") as f:
            f.write(raw)
        self.run_cli("--raw", "-b", "1.5", "--model", TINY24, "in.raw", "cycle.pcm", check=True)
        self.run_cli("--raw", "-b", "1.5", "--model", TINY24, "in.raw", "cycle.wav", check=True)
        with open(self.path("cycle.pcm"), "rb") as f, open(self.path("cycle.wav"), "rb") as g:
            self.assertEqual(f.read(), g.read()[44:])

    # (d) errors --------------------------------------------------------------------------

    def test_usage_errors(self):
        for args in (["--raw", "--format", "s24le", "-", "-"], ["--raw", "--rate", "0", "-", "-"],
                     ["--raw", "--channels", "0", "-"], ["--format", "f32le", "-", "-"],
                     ["--raw", "--rate", "x", "-"]):
            p = self.run_cli(*args, stdin=b"")
            self.assertEqual(p.returncode, 2, f"{args}: {p.err}")
            self.assertTrue(p.err.startswith("encodec: "), p.err)
            self.assertEqual(p.stdout, b"")

    def test_stream_errors(self):
        with open(REF_ECDC, "rb") as f:
            ref = f.read()
        p = self.run_cli("-", "-", stdin=ref[:-20])
        self.assertEqual(p.returncode, 1)
        self.assertIn("<stdin>", p.err)
        self.assertIn("truncated", p.err.lower())
        p = self.run_cli("-", "out.wav", stdin=ref[:-20])
        self.assertEqual(p.returncode, 1)
        self.assertEqual(os.listdir(self.tmp), [], "no partial output file")
        p = self.run_cli("-", "-", stdin=b"ECDC" + os.urandom(300))
        self.assertEqual(p.returncode, 1)
        self.assertIn("corrupt", p.err)
        p = self.run_cli("-", "-", stdin=b"\x01garbage that is no audio at all" * 10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("<stdin>", p.err)
        self.assertEqual(p.stdout, b"")
        p = self.run_cli("--raw", "--model", TINY24, "-b", "1.5", "-", "-", stdin=b"\x01")
        self.assertEqual(p.returncode, 1)
        self.assertIn("empty", p.err)
        self.assertEqual(p.stdout, b"")
        p = self.run_cli("--raw", "--rate", "48000", REF_ECDC, "-")
        self.assertEqual(p.returncode, 1)
        self.assertIn("24000", p.err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
