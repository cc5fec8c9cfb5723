"""The benchmark and real-time example run on a model and print what they promise."""
import os
import subprocess
import unittest

SRC = os.environ.get("ENCODEC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("ENCODEC_BINARY_DIR", os.path.join(SRC, "build"))
DATA = os.environ.get("ENCODEC_TEST_DATA", os.path.join(SRC, "tests", "data"))


def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


class ToolsTest(unittest.TestCase):
    def test_bench(self):
        rc, out, err = run(os.path.join(BUILD, "tools", "bench", "encodec-bench"),
                           os.path.join(DATA, "tiny24.safetensors"), "-s", "1", "-r", "2",
                           "-t", "1,2")
        self.assertEqual(rc, 0, err)
        # default paths: portable and the machine's best, each with 1 and 2 threads
        for op in ("encode", "decode", "s-encode", "s-decode"):
            self.assertEqual(sum(1 for line in out.splitlines() if f" {op} " in line), 4, out)
        self.assertEqual(sum(1 for line in out.splitlines() if line.startswith("portable ")),
                         8, out)
        self.assertIn("peak resident memory", out)
        rc, out, err = run(os.path.join(BUILD, "tools", "bench", "encodec-bench"),
                           os.path.join(DATA, "tiny24.safetensors"), "-s", "1", "-r", "1",
                           "-t", "1", "-k", "portable")
        self.assertEqual(rc, 0, err)
        self.assertEqual(sum(1 for line in out.splitlines() if " encode " in line), 1, out)
        rc, out, err = run(os.path.join(BUILD, "tools", "bench", "encodec-bench"),
                           os.path.join(DATA, "tiny24.safetensors"), "-k", "sse9")
        self.assertEqual(rc, 2)
        self.assertIn("sse9", err)

    def test_bench_segmented_model(self):
        rc, out, err = run(os.path.join(BUILD, "tools", "bench", "encodec-bench"),
                           os.path.join(DATA, "tiny48.safetensors"), "-s", "2", "-r", "1",
                           "-b", "3", "-t", "1")
        self.assertEqual(rc, 0, err)
        self.assertIn("decode", out)

    def test_bench_errors(self):
        rc, _, err = run(os.path.join(BUILD, "tools", "bench", "encodec-bench"), "/nonexistent")
        self.assertEqual(rc, 1)
        self.assertIn("/nonexistent", err)

    def test_realtime(self):
        for block in ("10", "20"):
            rc, out, err = run(os.path.join(BUILD, "tools", "realtime", "encodec-realtime"),
                               os.path.join(DATA, "tiny24.safetensors"), "--block-ms", block,
                               "-s", "1")
            self.assertEqual(rc, 0, err)
            self.assertIn("per block: median", out)
            self.assertIn("start-up 100.0 ms", out)  # 7 frames of look-ahead, 10 blocks


    def test_soak_short(self):
        for model in ("tiny24.safetensors", "tiny48.safetensors"):
            rc, out, err = run(os.path.join(BUILD, "tools", "soak", "encodec-soak"),
                               os.path.join(DATA, model), "--minutes", "0.5")
            self.assertEqual(rc, 0, err)
            self.assertIn("identical to fixed-chunk processing", out)

    def test_soak_usage(self):
        rc, _, err = run(os.path.join(BUILD, "tools", "soak", "encodec-soak"))
        self.assertEqual(rc, 2)
        self.assertIn("usage", err)


if __name__ == "__main__":
    unittest.main()
