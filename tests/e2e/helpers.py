"""Running calltree and python3 side by side."""
import functools
import os
import re
import subprocess
import tempfile
import unittest

CALLTREE = os.environ.get("CALLTREE", "")
SRC = os.environ.get("CALLTREE_SRC", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
EXAMPLES = os.path.join(SRC, "examples")
# The interpreter under test: Debian's, or another CPython that runs here (scripts/test-pythons.sh
# sets CALLTREE_TEST_PYTHON for a pyenv 3.12: its bin/python3, as PATH would find it).
PYTHON = os.environ.get("CALLTREE_TEST_PYTHON", "/usr/bin/python3")

# calltree runs the program in the python3 found on PATH (a pyenv shim on this machine). The
# suites compare it with PYTHON: PATH loses the entries that would give another python3, or
# starts with PYTHON's directory. The interpreter-choice suite (test_interpreters) works from the
# PATH the tests were started with.
ORIGINAL_PATH = os.environ.get("PATH", "")


def _system_python_path(path):
    kept = []
    for entry in path.split(os.pathsep):
        candidate = os.path.join(entry or ".", "python3")
        try:
            if os.path.exists(candidate) and not os.path.samefile(candidate, PYTHON):
                continue
        except OSError:
            continue
        kept.append(entry)
    return os.pathsep.join(kept)


if "CALLTREE_TEST_PYTHON" in os.environ:
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(PYTHON), ORIGINAL_PATH])
else:
    os.environ["PATH"] = _system_python_path(ORIGINAL_PATH)


@functools.cache
def _has_numpy():
    return subprocess.run([PYTHON, "-c", "import numpy"], capture_output=True).returncode == 0


def skip_unless_numpy(test, script):
    """Skips `test` (or its subtest) when `script` imports numpy and PYTHON has none: Debian's
    python3 and the roots of scripts/pythons.sh have python3-numpy, a pyenv build has none."""
    with open(script) as f:
        if re.search(r"^\s*(import|from) numpy", f.read(), re.M) and not _has_numpy():
            test.skipTest(f"{PYTHON} has no numpy")


def example(name):
    return os.path.join(EXAMPLES, name)


def run(cmd, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 120)
    return subprocess.run(cmd, **kwargs)


def profile(args, out, **kwargs):
    """Runs `calltree -o out args...`."""
    return run([CALLTREE, "-o", out, *args], **kwargs)


class TempDirTest(unittest.TestCase):
    def setUp(self):
        if not CALLTREE or not os.access(CALLTREE, os.X_OK):
            self.skipTest("CALLTREE does not name the calltree binary")
        self._tmp = tempfile.TemporaryDirectory(prefix="calltree_e2e_")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, text):
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        return p
