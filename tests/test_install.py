"""Installs the built project into a temporary prefix and builds programs against it through
pkg-config (shared and static) and CMake's find_package, then runs them on the tiny model."""
import os
import shutil
import subprocess
import tempfile
import unittest

SRC = os.environ.get("ENCODEC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("ENCODEC_BINARY_DIR", os.path.join(SRC, "build"))
DATA = os.environ.get("ENCODEC_TEST_DATA", os.path.join(SRC, "tests", "data"))
MODEL = os.path.join(DATA, "tiny24.safetensors")


def run(cmd, **kw):
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise AssertionError(f"{cmd} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res.stdout


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="encodec-install-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        run(["cmake", "--install", BUILD, "--prefix", cls.prefix])
        libdirs = [d for d in ("lib", "lib64") if os.path.isdir(os.path.join(cls.prefix, d))]
        libdirs += [os.path.join("lib", d) for d in os.listdir(os.path.join(cls.prefix, "lib"))
                    if os.path.isdir(os.path.join(cls.prefix, "lib", d, "pkgconfig"))] \
            if os.path.isdir(os.path.join(cls.prefix, "lib")) else []
        cls.libdir = next(os.path.join(cls.prefix, d) for d in libdirs
                          if os.path.isdir(os.path.join(cls.prefix, d, "pkgconfig")))
        cls.env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(cls.libdir, "pkgconfig"),
                       LD_LIBRARY_PATH=cls.libdir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_installed_files(self):
        self.assertTrue(os.path.isfile(os.path.join(self.prefix, "include", "encodec.h")))
        self.assertTrue(os.path.isfile(os.path.join(self.prefix, "bin", "encodec-convert")))
        sonames = [f for f in os.listdir(self.libdir) if f.startswith("libencodec.so.")]
        self.assertIn("libencodec.so.0", sonames)
        self.assertTrue(os.path.isfile(os.path.join(self.libdir, "libencodec.a")))

    def test_exported_symbols_are_public_api_only(self):
        out = run(["nm", "-D", "--defined-only", os.path.join(self.libdir, "libencodec.so")])
        names = [line.split()[-1] for line in out.splitlines() if line.strip()]
        self.assertIn("encodec_model_load_file", names)
        others = [n for n in names if not n.startswith("encodec_")]
        self.assertEqual(others, [], f"non-API symbols exported: {others}")

    def test_pkg_config_shared_and_static(self):
        src = os.path.join(SRC, "tests", "consumer", "main.c")
        for static in (False, True):
            exe = os.path.join(self.tmp, "pc_static" if static else "pc_shared")
            flags = run(["pkg-config", "--cflags", "--libs"] + (["--static"] if static else [])
                        + ["encodec"], env=self.env).split()
            cmd = ["cc", "-std=c11", src, "-o", exe] + flags
            if static:
                cmd = ["cc", "-std=c11", src, "-o", exe, "-static-libgcc"] + \
                    [f for f in flags if f != "-lencodec"] + \
                    [os.path.join(self.libdir, "libencodec.a")] + flags
            run(cmd, env=self.env)
            self.assertIn("tiny24 24000 Hz", run([exe, MODEL], env=self.env))

    def test_find_package(self):
        build = os.path.join(self.tmp, "consumer-build")
        run(["cmake", "-S", os.path.join(SRC, "tests", "consumer"), "-B", build,
             f"-DCMAKE_PREFIX_PATH={self.prefix}"], env=self.env)
        run(["cmake", "--build", build], env=self.env)
        for exe in ("consumer", "consumer_static"):
            self.assertIn("tiny24 24000 Hz", run([os.path.join(build, exe), MODEL], env=self.env))


if __name__ == "__main__":
    unittest.main()
