"""The install step: `cmake --install` into a prefix puts calltree on PATH with its library where
the launcher finds it, and the installed calltree profiles a program found by name."""
import os
import shutil
import subprocess
import unittest

from callgrind_parse import parse
from helpers import CALLTREE, PYTHON, TempDirTest, example, run

BUILD = os.path.dirname(os.path.dirname(os.path.dirname(CALLTREE))) if CALLTREE else ""


@unittest.skipUnless(shutil.which("cmake"), "cmake is needed to install")
class Install(TempDirTest):
    def test_installed_calltree_runs_by_name(self):
        prefix = self.path("prefix")
        r = run(["cmake", "--install", BUILD, "--prefix", prefix])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.access(os.path.join(prefix, "bin", "calltree"), os.X_OK))
        env = dict(os.environ, PATH=os.path.join(prefix, "bin") + os.pathsep + os.environ.get("PATH", ""))
        out = self.path("hello.cg")
        r = run(["calltree", "-o", out, example("hello.py")], env=env, cwd=self.tmp)
        plain = run([PYTHON, example("hello.py")], cwd=self.tmp)
        self.assertEqual((r.returncode, r.stdout), (plain.returncode, plain.stdout), r.stderr)
        names = [name for name, _, _ in parse(out).functions]
        self.assertTrue(any(n.endswith("fib") for n in names), names)
        # Nothing points back into the build tree: the installed copy stands alone.
        moved = self.path("moved")
        shutil.copytree(prefix, moved, symlinks=True)
        shutil.rmtree(prefix)
        r = run([os.path.join(moved, "bin", "calltree"), "-o", out, example("hello.py")], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
