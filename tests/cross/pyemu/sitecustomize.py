"""Run foreign-architecture programs started by Python tests under an emulator.

Used by .ci/cross-aarch64 for the cross build's ctest run: the tests' Python scripts start
build-aarch64's programs (tools/cli/encodec, encodec-bench, ...) with subprocess, which the
kernel cannot execute without a binfmt_misc handler (a container usually has none, and
registering one changes the whole host). With this directory on PYTHONPATH, Python imports
this module at start-up; it wraps subprocess.Popen so that a command whose program is an ELF
file for another machine than the interpreter's own gets ENCODEC_CROSS_EMULATOR (a command
prefix, words split on spaces, e.g. "qemu-aarch64") put in front of it. Everything else is
started as before. Without ENCODEC_CROSS_EMULATOR set this module does nothing.
"""

import os
import shlex
import subprocess
import sys

_EMULATOR = shlex.split(os.environ.get("ENCODEC_CROSS_EMULATOR", ""))


def _elf_machine(path):
    """e_machine of an ELF file, or None for anything else (little-endian ELF only)."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[5] != 1:
        return None
    return int.from_bytes(head[18:20], "little")


def _own_machine():
    return _elf_machine(os.path.realpath(sys.executable))


def _resolve(prog, env):
    if os.sep in prog:
        return prog
    path = (env or os.environ).get("PATH", os.defpath)
    for d in path.split(os.pathsep):
        cand = os.path.join(d or ".", prog)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


if _EMULATOR:
    _HOST = _own_machine()
    _Popen_init = subprocess.Popen.__init__

    def _init(self, args, *rest, **kw):
        if not kw.get("shell") and kw.get("executable") is None and \
                isinstance(args, (list, tuple)) and args:
            prog = os.fspath(args[0])
            where = _resolve(prog, kw.get("env"))
            if where is not None:
                if not os.path.isabs(where) and kw.get("cwd") is not None:
                    where = os.path.join(os.fspath(kw["cwd"]), where)
                machine = _elf_machine(where)
                if machine is not None and machine != _HOST:
                    args = _EMULATOR + [prog] + [os.fspath(a) for a in args[1:]]
        _Popen_init(self, args, *rest, **kw)

    subprocess.Popen.__init__ = _init
