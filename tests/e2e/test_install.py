"""The install step: `cmake --install` into a prefix puts calltree on PATH with its library where
the launcher finds it, and the installed calltree profiles a program found by name."""
import os
import shutil
import unittest

from callgrind_parse import parse
from helpers import CALLTREE, PYTHON, TempDirTest, example, run

BUILD = os.path.dirname(os.path.dirname(os.path.dirname(CALLTREE))) if CALLTREE else ""


@unittest.skipUnless(shutil.which("cmake"), "cmake is needed to install")
class Install(TempDirTest):
    def test_installed_calltree_runs_by_name(self):
        prefix = self.path("prefix")
        # The package's .pth goes to a directory of the test's, not the system's site-packages.
        r = run(["cmake", "--install", BUILD, "--prefix", prefix], env=dict(os.environ, CALLTREE_PYTHON_SITE=self.path("site")))
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

    @unittest.skipIf(os.environ.get("CALLTREE_SANITIZED", "0") not in ("0", "", "OFF", "FALSE"),
                     "sanitizer builds have no Python package")
    def test_python_package_goes_to_the_interpreters_site_packages(self):
        # By default calltree.pth goes to the site-packages of each interpreter calltree is built
        # for that runs here (PYTHON: Debian's, or one of CALLTREE_EXTRA_PYTHONS); under DESTDIR
        # here, so that the test leaves the system alone.
        destdir = self.path("dest")
        r = run(["cmake", "--install", BUILD, "--prefix", "/opt/ct"],
                env={k: v for k, v in dict(os.environ, DESTDIR=destdir).items() if k != "CALLTREE_PYTHON_SITE"})
        self.assertEqual(r.returncode, 0, r.stderr)
        site = run([PYTHON, "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"]).stdout.strip()
        with open(destdir + os.path.join(site, "calltree.pth")) as f:
            self.assertEqual(f.read(), "/opt/ct/lib/calltree/python\n")
        package = os.path.join(destdir, "opt", "ct", "lib", "calltree", "python", "calltree")
        self.assertTrue(os.path.exists(os.path.join(package, "__init__.py")))
        # The extension of every version built (the main build's and each nested build's).
        built = sorted(n for n in os.listdir(os.path.join(BUILD, "python", "calltree")) if n.startswith("_calltree."))
        self.assertTrue(any(n.startswith("_calltree.cpython-311") for n in built), built)
        self.assertEqual(sorted(n for n in os.listdir(package) if n.startswith("_calltree.")), built)

    @unittest.skipIf(os.environ.get("CALLTREE_SANITIZED", "0") not in ("0", "", "OFF", "FALSE"),
                     "sanitizer builds have no Python package")
    def test_python_package_installed_into_a_virtualenv(self):
        # CALLTREE_PYTHON_SITE puts calltree.pth in the virtualenv's site-packages instead of the
        # interpreter's own (which an install into a real prefix uses).
        venv = self.path("venv")
        r = run([PYTHON, "-m", "venv", "--without-pip", venv])
        self.assertEqual(r.returncode, 0, r.stderr)
        vpython = os.path.join(venv, "bin", "python3")
        site = run([vpython, "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"]).stdout.strip()
        prefix = self.path("prefix")
        r = run(["cmake", "--install", BUILD, "--prefix", prefix], env=dict(os.environ, CALLTREE_PYTHON_SITE=site))
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(site, "calltree.pth")) as f:
            self.assertEqual(f.read().strip(), os.path.join(prefix, "lib", "calltree", "python"))
        out = self.path("api.cg")
        code = ("import calltree, sys; print(calltree.__file__)\n"
                "with calltree.profile(sys.argv[1]):\n    sorted(range(10))\n")
        r = run([vpython, "-c", code, out], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(prefix), r.stdout)
        self.assertIn("<built-in method builtins.sorted>", [n for n, _, _ in parse(out).functions])
        # python -m calltree execs the installed launcher, and runs the program in the venv.
        r = run([vpython, "-m", "calltree", "-o", self.path("m.cg"), "-c", "import sys; print(sys.prefix)"], cwd=self.tmp)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, venv), r.stderr)


if __name__ == "__main__":
    unittest.main()
