#!/usr/bin/env python3
"""The `encodec` tool when writing fails or the process dies (issue #9, item 4): a full disk
(simulated with RLIMIT_FSIZE, so write() fails with EFBIG, and /dev/full for ENOSPC on
standard output), a pipe whose reader goes away, and SIGKILL at various moments.

The promise under test (README: "Outputs are written to a temporary file and renamed, so an
error or Ctrl-C never leaves a partial file"): after any failure the output name holds either
nothing or the complete output, and an error leaves no temporary file behind. SIGKILL cannot
be caught, so a temporary file may remain; it must then be the CLI's hidden temporary
(".NAME.tmp-XXXXXX", tools/cli/atomic_output.c) and hold a prefix of the output.

Python standard library only; run by ctest like test_cli.py (ENCODEC_BINARY_DIR, ENCODEC_TEST_DATA).
"""
import array
import errno
import math
import os
import random
import re
import resource
import shutil
import signal
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
TOOL = os.path.abspath(os.path.join(BINARY_DIR, "tools", "cli", "encodec"))
TINY24 = os.path.join(DATA, "tiny24.safetensors")
RATE = 24000
EFBIG_TEXT = os.strerror(errno.EFBIG)    # "File too large"
EPIPE_TEXT = os.strerror(errno.EPIPE)    # "Broken pipe"
ENOSPC_TEXT = os.strerror(errno.ENOSPC)  # "No space left on device"


def temp_name_re(output_name):
    """The temporary files of atomic_output.c: ".NAME.tmp-XXXXXX" beside the output."""
    return re.compile(r"^\." + re.escape(output_name) + r"\.tmp-[A-Za-z0-9]{6}$")


def limit_file_size(n):
    """preexec_fn: files may grow to n bytes; beyond, write() fails with EFBIG (SIGXFSZ is
    ignored, and an ignored signal stays ignored across exec)."""
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return apply


def ignore_sigpipe():
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


# ---- shared inputs -----------------------------------------------------------------------

FIX = {}  # name -> path or bytes, made once in setUpModule


def make_signal(seconds):
    """16-bit mono PCM bytes at 24 kHz: two tones and a little noise, one second repeated."""
    r = random.Random(1)
    one = array.array("h", (int(8000 * math.sin(i * 0.031) + 2000 * math.sin(i * 0.27)
                                + r.randint(-500, 500)) for i in range(RATE)))
    if sys.byteorder != "little":
        one.byteswap()
    return one.tobytes() * seconds


def write_wav16(path, pcm):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)


def env():
    e = dict(os.environ, ENCODEC_MODEL_PATH=DATA)
    e.pop("COLUMNS", None)
    return e


def setUpModule():
    if not os.path.exists(TOOL):
        raise unittest.SkipTest(f"{TOOL} not built (ENCODEC_BUILD_CLI off?)")
    tmp = tempfile.mkdtemp(prefix="encodec-faults-in-")
    FIX["dir"] = tmp
    FIX["short_raw"] = make_signal(3)
    FIX["long_raw"] = make_signal(60)
    for name in ("short", "long"):
        wav = os.path.join(tmp, name + ".wav")
        write_wav16(wav, FIX[name + "_raw"])
        # Live streams are read from a regular file: a live stream closes a byte wherever a
        # read ends, so from a pipe its bytes would depend on how the data happened to arrive.
        raw = os.path.join(tmp, name + ".raw")
        with open(raw, "wb") as f:
            f.write(FIX[name + "_raw"])
        FIX[name + "_raw_file"] = raw
        FIX[name + "_wav"] = wav
        # the references every faulty run is compared with (made without any limit)
        ecdc = os.path.join(tmp, name + ".ecdc")
        cli_ok(["-b", "1.5", "-m", TINY24, wav, ecdc])
        FIX[name + "_ecdc"] = ecdc
        dec = os.path.join(tmp, name + "_dec.wav")
        cli_ok([ecdc, dec])
        FIX[name + "_dec"] = dec
        live = os.path.join(tmp, name + "_live.ecdc")
        cli_ok(["--raw", "-b", "1.5", "-m", TINY24, "-", live],
               stdin_path=FIX[name + "_raw_file"])
        FIX[name + "_live"] = live
        cyc = os.path.join(tmp, name + "_cycle.wav")
        cli_ok(["-b", "1.5", "-m", TINY24, wav, cyc])
        FIX[name + "_cycle"] = cyc


def tearDownModule():
    if "dir" in FIX:
        shutil.rmtree(FIX["dir"], ignore_errors=True)


def cli_ok(args, stdin_path=os.devnull):
    with open(stdin_path, "rb") as f:
        p = subprocess.run([TOOL, "--quiet", *args], stdin=f, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env(), timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"encodec {args} failed: {p.stderr.decode(errors='replace')}")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def spawn(args, stdin=None, stdout=subprocess.DEVNULL, preexec=None, cwd=None):
    """Start the CLI. stdin: None, a file path, or bytes fed into a pipe by a thread (which
    stops quietly when the CLI is gone)."""
    if isinstance(stdin, str):
        with open(stdin, "rb") as f:
            proc = subprocess.Popen([TOOL, "--quiet", *args], stdin=f, stdout=stdout,
                                    stderr=subprocess.PIPE, env=env(), cwd=cwd,
                                    preexec_fn=preexec)
        proc.feeder = None
        return proc
    proc = subprocess.Popen([TOOL, "--quiet", *args],
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=stdout, stderr=subprocess.PIPE, env=env(), cwd=cwd,
                            preexec_fn=preexec)
    proc.feeder = None
    if stdin:
        def feed():
            try:
                proc.stdin.write(stdin)
            except OSError:  # the CLI died or failed: the rest is not wanted
                pass
            try:
                proc.stdin.close()
            except OSError:
                pass
        proc.feeder = threading.Thread(target=feed)
        proc.feeder.start()
    return proc


def collect(proc, limit=60):
    """Wait for the CLI: (status, stderr text, hung). A CLI still running after limit seconds
    is killed and reported as hung."""
    hung = threading.Event()

    def watchdog():
        hung.set()
        proc.kill()
    timer = threading.Timer(limit, watchdog)
    timer.start()
    try:
        err = proc.stderr.read()
        status = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
        if proc.feeder:
            proc.feeder.join()
    return status, err.decode(errors="replace"), hung.is_set()


class FaultTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="encodec-faults-")
        self.out_dir = self._tmp.name  # outputs only: inputs live in FIX["dir"]
        self.env = env()

    def tearDown(self):
        self._tmp.cleanup()

    def out(self, name):
        return os.path.join(self.out_dir, name)

    def run_cli(self, args, stdin_bytes=None, stdin_file=None, preexec=None, stdout=None):
        """Run with stdin from bytes (a pipe), a file, or nothing; returns the process with
        .err decoded."""
        kw = dict(stdout=stdout if stdout is not None else subprocess.PIPE,
                  stderr=subprocess.PIPE, env=self.env, cwd=self.out_dir, timeout=120,
                  preexec_fn=preexec)
        if stdin_file is not None:
            with open(stdin_file, "rb") as f:
                p = subprocess.run([TOOL, "--quiet", *args], stdin=f, **kw)
        else:
            p = subprocess.run([TOOL, "--quiet", *args], input=stdin_bytes, **kw)
        p.err = p.stderr.decode(errors="replace")
        return p

    def assert_write_error(self, p, name, cause, what):
        """Exit status 1 and one line 'encodec: NAME: write failed: CAUSE'."""
        self.assertEqual(p.returncode, 1, f"{what}: {p.err!r}")
        lines = p.err.strip().splitlines()
        self.assertEqual(len(lines), 1, f"{what}: expected one line, got {p.err!r}")
        self.assertTrue(lines[0].startswith("encodec: "), lines[0])
        self.assertIn(name, lines[0], what)
        self.assertIn("write failed", lines[0], what)
        self.assertIn(cause, lines[0], what)


# ---- (a) full disk -----------------------------------------------------------------------

class TestDiskFull(FaultTest):
    """Each job runs under a range of file-size limits: nothing written at all, a cut in the
    header, in the payload and one byte short of the end; then with exactly enough room."""

    def check_limits(self, label, ext, args_for, ref, limits, stdin_bytes=None,
                     stdin_file=None):
        """Run args_for(output name) under each file-size limit (all below the size of ref,
        the complete output), then with exactly len(ref) bytes allowed."""
        size = len(ref)
        for i, limit in enumerate(sorted(set(limits))):
            self.assertLess(limit, size)
            out = self.out(f"f{i}" + ext)
            what = f"{label}, file size limit {limit} of {size}"
            p = self.run_cli(args_for(out), stdin_bytes=stdin_bytes, stdin_file=stdin_file,
                             preexec=limit_file_size(limit))
            self.assert_write_error(p, out, EFBIG_TEXT, what)
            self.assertFalse(os.path.lexists(out), f"{what}: output exists")
            self.assertEqual(os.listdir(self.out_dir), [], f"{what}: files left behind")
        # exactly enough room: the complete output
        out = self.out("exact" + ext)
        p = self.run_cli(args_for(out), stdin_bytes=stdin_bytes, stdin_file=stdin_file,
                         preexec=limit_file_size(size))
        self.assertEqual(p.returncode, 0, f"{label}, limit = size: {p.err}")
        self.assertEqual(read(out), ref, label)
        os.unlink(out)
        self.assertEqual(os.listdir(self.out_dir), [])

    def test_compress_whole_file(self):
        """wav -> .ecdc in one write: cut in the magic, the fixed header, the JSON, the codes."""
        ref = read(FIX["short_ecdc"])
        self.check_limits("compress", ".ecdc",
                          lambda o: ["-b", "1.5", "-m", TINY24, FIX["short_wav"], o],
                          ref, [0, 1, 4, 9, 30, len(ref) // 2, len(ref) - 1])

    def test_decompress_whole_file(self):
        """.ecdc -> wav in one write: cut in the RIFF header, the data, the last byte."""
        ref = read(FIX["short_dec"])
        self.check_limits("decompress", ".wav", lambda o: [FIX["short_ecdc"], o], ref,
                          [0, 3, 20, 44, len(ref) // 2, len(ref) - 1])

    def test_cycle(self):
        """wav -> wav (compress and decompress again)."""
        ref = read(FIX["short_cycle"])
        self.check_limits("cycle", ".wav",
                          lambda o: ["-b", "1.5", "-m", TINY24, FIX["short_wav"], o],
                          ref, [0, 44, len(ref) - 1])

    def test_decompress_streamed_from_stdin(self):
        """.ecdc on stdin -> wav written progressively: the 44-byte header is one write, the
        samples go in 16 KiB blocks, and the header is rewritten at the end."""
        ref = read(FIX["short_dec"])
        self.check_limits("decompress from stdin", ".wav", lambda o: ["-", o], ref,
                          [0, 10, 43, 44, 45, 44 + 16384, 44 + 16384 + 7, len(ref) // 2,
                           len(ref) - 1], stdin_file=FIX["short_ecdc"])

    def test_decompress_raw_streamed(self):
        """.ecdc on stdin -> raw PCM (no header): the first block and a later one."""
        ref = read(FIX["short_dec"])[44:]
        self.check_limits("decompress to raw", ".raw", lambda o: ["--raw", "-", o], ref,
                          [0, 1000, len(ref) - 1], stdin_file=FIX["short_ecdc"])

    def test_live_compress_from_stdin(self):
        """Raw PCM on stdin -> live .ecdc written as it is encoded (header, then frames)."""
        ref = read(FIX["short_live"])
        self.check_limits("live compress", ".ecdc",
                          lambda o: ["--raw", "-b", "1.5", "-m", TINY24, "-", o], ref,
                          [0, 5, 9, 30, len(ref) // 2, len(ref) - 1],
                          stdin_file=FIX["short_raw_file"])

    def test_stdout_to_a_limited_file(self):
        """'-' redirected to a file: the file is the caller's, but the error must be reported."""
        for args, ref in ((["-b", "1.5", "-m", TINY24, FIX["short_wav"], "-"], FIX["short_ecdc"]),
                          ([FIX["short_ecdc"], "-"], FIX["short_dec"])):
            size = len(read(ref))
            for limit in (0, size // 2):
                target = self.out("redirected")
                with open(target, "wb") as f:
                    p = self.run_cli(args, stdout=f, preexec=limit_file_size(limit))
                self.assert_write_error(p, "<stdout>", EFBIG_TEXT, f"{args} limit {limit}")
                os.unlink(target)
            self.assertEqual(os.listdir(self.out_dir), [])

    def test_file_size_limit_with_default_sigxfsz(self):
        """`ulimit -f` in a shell leaves SIGXFSZ at its default (die): the CLI ignores it, so
        the write fails with EFBIG and the usual error path removes the temporary file."""
        def limit():
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXFSZ would dump core
            resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        out = self.out("o.wav")
        p = self.run_cli([FIX["short_ecdc"], out], preexec=limit)
        self.assertFalse(os.path.lexists(out))
        self.assertEqual(p.returncode, 1, p.err)
        self.assert_write_error(p, out, EFBIG_TEXT, "default SIGXFSZ")
        self.assertEqual(os.listdir(self.out_dir), [])

    @unittest.skipUnless(os.path.exists("/dev/full"), "no /dev/full")
    def test_stdout_to_dev_full(self):
        """A real ENOSPC: standard output on /dev/full."""
        jobs = ((["-b", "1.5", "-m", TINY24, FIX["short_wav"], "-"], None),
                ([FIX["short_ecdc"], "-"], None),
                (["-", "-"], FIX["short_ecdc"]),
                (["--raw", "-b", "1.5", "-m", TINY24, "-", "-"], "pipe"))
        for args, stdin in jobs:
            with open("/dev/full", "wb") as full:
                if stdin == "pipe":
                    p = self.run_cli(args, stdout=full, stdin_bytes=FIX["short_raw"])
                else:
                    p = self.run_cli(args, stdout=full, stdin_file=stdin)
            self.assert_write_error(p, "<stdout>", ENOSPC_TEXT, str(args))
        self.assertEqual(os.listdir(self.out_dir), [])


# ---- (a) standard output on a pipe whose reader goes away --------------------------------

class TestClosedPipe(FaultTest):
    """The CLI leaves SIGPIPE alone (tools/cli installs no handler for it), as cat and gzip do:
    with the default disposition it dies by SIGPIPE at the first write into a pipe without a
    reader; with SIGPIPE ignored the write fails with EPIPE, reported as a write error (exit 1).
    Either way it never hangs and leaves no file."""

    JOBS = (
        # (label, args, stdin: None / file path / bytes for a pipe)
        ("compress to stdout", lambda: ["-b", "1.5", "-m", TINY24, FIX["short_wav"], "-"], None),
        ("decompress to stdout", lambda: [FIX["short_ecdc"], "-"], None),
        ("streamed decompress", lambda: ["-", "-"], "short_ecdc"),
        ("live compress", lambda: ["--raw", "-b", "1.5", "-m", TINY24, "-", "-"], "short_raw"),
    )

    def run_into_pipe(self, args, stdin, read_first, preexec):
        """Start the CLI with stdout on a pipe; the reader takes read_first bytes (None: it is
        gone before the CLI starts), then closes its end. Returns (status, stderr)."""
        r, w = os.pipe()
        if read_first is None:
            os.close(r)
        try:
            proc = spawn(args, stdin, stdout=w, preexec=preexec, cwd=self.out_dir)
        finally:
            os.close(w)
        try:
            if read_first is not None:
                got = 0
                while got < read_first:
                    chunk = os.read(r, read_first - got)
                    if not chunk:
                        break
                    got += len(chunk)
        finally:
            if read_first is not None:
                os.close(r)
            status, err, hung = collect(proc)
        self.assertFalse(hung, f"{args}: still running 60 s after its reader went away")
        return status, err

    def test_reader_gone(self):
        for label, args, stdin_key in self.JOBS:
            for read_first in (None, 4096):  # 144 kB of WAV: more than 4 kB + the pipe buffer
                if read_first and label in ("compress to stdout", "live compress"):
                    continue  # 622 bytes of codes fit the pipe buffer: nothing would fail
                what = f"{label}, reader read {read_first}"
                # default SIGPIPE (subprocess restores it in the child): death by SIGPIPE
                stdin = FIX[stdin_key] if stdin_key else None
                status, err = self.run_into_pipe(args(), stdin, read_first, None)
                self.assertEqual(status, -signal.SIGPIPE, f"{what}: {err!r}")
                # SIGPIPE ignored: EPIPE, one error line, exit status 1
                status, err = self.run_into_pipe(args(), stdin, read_first, ignore_sigpipe)
                self.assertEqual(status, 1, f"{what}, SIGPIPE ignored: {err!r}")
                lines = err.strip().splitlines()
                self.assertEqual(len(lines), 1, err)
                self.assertIn("<stdout>", lines[0])
                self.assertIn("write failed", lines[0])
                self.assertIn(EPIPE_TEXT, lines[0])
        self.assertEqual(os.listdir(self.out_dir), [])


# ---- (b) SIGKILL -------------------------------------------------------------------------

OUTCOMES = {}  # job -> {"complete": n, "nothing": n, "temp left": n}


class TestSigkill(FaultTest):
    """SIGKILL on 60 s of audio at fixed moments (20..200 ms) and at fractions of the job's
    own run time (to reach the final writes): the output name holds the complete output or
    nothing; a temporary file may survive (SIGKILL runs no handler), and it must then be the
    hidden ".NAME.tmp-XXXXXX" holding a prefix of the output."""

    def run_and_time(self, args, stdin):
        t = time.monotonic()
        status, err, _ = collect(spawn(args, stdin, cwd=self.out_dir))
        self.assertEqual(status, 0, f"{args}: {err}")
        return time.monotonic() - t

    def kill_at_moments(self, job, name, args_for, ref, stdin=None):
        stdin = FIX[stdin] if stdin else None
        out = self.out(name)
        # the job's own run time (warm caches), to aim kills at its end as well
        whole = self.run_and_time(args_for(out), stdin)
        self.assertEqual(read(out), ref, f"{job}: uninterrupted run")
        os.unlink(out)
        temp = temp_name_re(name)
        tally = OUTCOMES.setdefault(job, {"complete": 0, "nothing": 0, "temp left": 0})
        delays = [0.02, 0.05, 0.1, 0.2] + [whole * f for f in (0.5, 0.9, 1.0)]
        for delay in delays:
            what = f"{job}, SIGKILL after {delay * 1000:.0f} ms (run takes {whole * 1000:.0f} ms)"
            proc = spawn(args_for(out), stdin, cwd=self.out_dir)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            status, err, _ = collect(proc)
            if status == 0:
                self.assertEqual(read(out), ref, f"{what}: finished, but the output differs")
                self.assertEqual(os.listdir(self.out_dir), [name], f"{what}: files left")
                tally["complete"] += 1
            else:
                self.assertEqual(status, -signal.SIGKILL, f"{what}: {err!r}")
                if os.path.lexists(out):  # killed after the rename: it must be whole
                    self.assertEqual(read(out), ref, f"{what}: partial output after SIGKILL")
                    tally["complete"] += 1
                else:
                    tally["nothing"] += 1
            left = [f for f in os.listdir(self.out_dir) if f != name]
            for f in left:
                self.assertRegex(f, temp, f"{what}: unexpected file left behind")
                got = read(os.path.join(self.out_dir, f))
                self.assertEqual(got, ref[:len(got)],
                                 f"{what}: temporary file is not a prefix of the output")
                tally["temp left"] += 1
                os.unlink(os.path.join(self.out_dir, f))
            if os.path.lexists(out):
                os.unlink(out)

    def test_stale_temporary_file(self):
        """What a SIGKILL left (a temporary file of the same output) is not in the way of the
        next run, which leaves it alone: nothing but the user can know it is garbage."""
        stale = self.out(".o.ecdc.tmp-AAAAAA")
        with open(stale, "wb") as f:
            f.write(b"ECDC\0")
        out = self.out("o.ecdc")
        self.run_and_time(["-b", "1.5", "-m", TINY24, FIX["short_wav"], out], None)
        self.assertEqual(read(out), read(FIX["short_ecdc"]))
        self.assertEqual(sorted(os.listdir(self.out_dir)), [".o.ecdc.tmp-AAAAAA", "o.ecdc"])
        self.assertEqual(read(stale), b"ECDC\0")

    def test_compress_whole_file(self):
        """The temporary file exists only during the final write (one write_all)."""
        self.kill_at_moments("compress", "o.ecdc",
                             lambda o: ["-b", "1.5", "-m", TINY24, FIX["long_wav"], o],
                             read(FIX["long_ecdc"]))

    def test_cycle(self):
        self.kill_at_moments("cycle", "o.wav",
                             lambda o: ["-b", "1.5", "-m", TINY24, FIX["long_wav"], o],
                             read(FIX["long_cycle"]))

    def test_live_compress_from_stdin(self):
        """Written progressively: the temporary file exists for most of the run."""
        self.kill_at_moments("live compress", "o.ecdc",
                             lambda o: ["--raw", "-b", "1.5", "-m", TINY24, "-", o],
                             read(FIX["long_live"]), stdin="long_raw_file")

    def test_decompress_streamed_from_stdin(self):
        """WAV header, then 16 KiB blocks as the frames are decoded."""
        self.kill_at_moments("decompress from stdin", "o.wav", lambda o: ["-", o],
                             read(FIX["long_dec"]), stdin="long_ecdc")


if __name__ == "__main__":
    program = unittest.main(verbosity=2, exit=False)
    for job, t in OUTCOMES.items():  # what the kills met, for the log
        print(f"SIGKILL outcomes, {job}: {t}", file=sys.stderr)
    sys.exit(not program.result.wasSuccessful())
