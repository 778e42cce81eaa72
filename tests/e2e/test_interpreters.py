"""Which interpreter calltree runs the program in: the python3 a shell would start (a virtualenv's,
a pyenv shim's choice) or --python's, seen by the program exactly as when it runs unprofiled;
another Python version refused before anything runs; a shared-libpython build (pyenv's 3.11.7)
in every mode."""
import os
import re
import unittest

import callgrind_parse
from helpers import CALLTREE, ORIGINAL_PATH, PYTHON, TempDirTest, run

PYENV = "/root/.pyenv"
SHARED = f"{PYENV}/versions/3.11.7/bin/python3.11"  # --enable-shared: libpython3.11.so beside it
OTHER_VERSIONS = [f"{PYENV}/versions/3.12.1/bin/python3.12", f"{PYENV}/versions/3.10.13/bin/python3.10"]
SHIMS = f"{PYENV}/shims"

# What the program sees of its interpreter and environment.
PROBE = """\
import os, sys
import probe_pkg
print("executable", sys.executable)
print("prefix", sys.prefix, sys.base_prefix)
print("path", sys.path)
print("package", probe_pkg.__file__, probe_pkg.VALUE)
print("virtual_env", os.environ.get("VIRTUAL_ENV"))
print("environ", sorted(os.environ))
print("path_env", os.environ.get("PATH"))
print("exe", os.readlink("/proc/self/exe"))
"""

LOOP = """\
def spin(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total

def grow():
    return [bytearray(512) for _ in range(2000)]

print(spin(2_000_000), len(grow()))
"""


def site_packages(venv):
    out = run([os.path.join(venv, "bin", "python3"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
              env=dict(os.environ, PATH=ORIGINAL_PATH))
    return out.stdout.strip()


@unittest.skipIf(os.environ.get("CALLTREE_SANITIZED") == "1",
                 "the sanitizer build embeds its libpython: it has no launcher and no choice of interpreter")
class InterpreterTest(TempDirTest):
    def make_venv(self, name, base=PYTHON):
        if not os.access(base, os.X_OK):
            self.skipTest(f"{base} is not installed")
        venv = self.path(name)
        r = run([base, "-m", "venv", "--without-pip", venv])
        self.assertEqual(r.returncode, 0, r.stderr)
        pkg = os.path.join(site_packages(venv), "probe_pkg")
        os.makedirs(pkg)
        with open(os.path.join(pkg, "__init__.py"), "w") as f:
            f.write(f"VALUE = 'installed in {name}'\n")
        with open(os.path.join(pkg, "__main__.py"), "w") as f:
            f.write(PROBE.replace("import probe_pkg\n", "import probe_pkg\nprint('run as', __name__)\n"))
        return venv

    def activated(self, venv):
        """The environment `activate` gives: the venv's bin first on PATH, VIRTUAL_ENV set."""
        env = dict(os.environ, PATH=os.path.join(venv, "bin") + os.pathsep + ORIGINAL_PATH, VIRTUAL_ENV=venv)
        env.pop("PYTHONHOME", None)
        return env

    def compare(self, args, env, plain=None, calltree_args=()):
        """`calltree -o out ARGS` against `python3 ARGS` (or `plain`), same environment and cwd."""
        py = run(plain or ["python3", *args], env=env, cwd=self.tmp)
        self.assertEqual(py.returncode, 0, py.stderr)
        out = self.path("out.callgrind")
        ours = run([CALLTREE, *calltree_args, "-o", out, *args], env=env, cwd=self.tmp)
        self.assertEqual(ours.returncode, 0, ours.stderr)
        self.assertEqual(ours.stdout, py.stdout)
        self.assertIn(f"calltree: wrote {out}", ours.stderr)
        callgrind_parse.parse(out)
        return py.stdout

    def test_virtualenv_on_path(self):
        for name, base in (("venv", PYTHON), ("venv_shared", SHARED)):
            with self.subTest(base=base):
                venv = self.make_venv(name, base)
                self.write("prog.py", PROBE)
                seen = self.compare(["prog.py"], self.activated(venv))
                self.assertIn(f"executable {venv}/bin/python3\n", seen)
                self.assertIn(f"package {site_packages(venv)}/probe_pkg/__init__.py installed in {name}", seen)
                self.assertIn(f"virtual_env {venv}\n", seen)
                self.assertIn(f"exe {os.path.realpath(base)}\n", seen)
                for var in ("'CALLTREE_LAUNCHER'", "'CALLTREE_PYTHON'", "'CALLTREE_USER_LD_PRELOAD'", "'LD_PRELOAD'"):
                    self.assertNotIn(var, seen)

    def test_module_installed_in_the_virtualenv(self):
        venv = self.make_venv("venv")
        seen = self.compare(["-m", "probe_pkg"], self.activated(venv))
        self.assertIn("run as __main__", seen)
        self.assertIn(f"executable {venv}/bin/python3\n", seen)

    def test_python_option(self):
        venv = self.make_venv("venv_shared", SHARED)
        self.write("prog.py", PROBE)
        env = dict(os.environ, PATH=os.environ["PATH"])  # python3 on PATH: /usr/bin's
        python = os.path.join(venv, "bin", "python3")
        seen = self.compare(["prog.py"], env, plain=[python, "prog.py"], calltree_args=["--python", python])
        self.assertIn(f"executable {python}\n", seen)
        self.assertIn(f"exe {os.path.realpath(SHARED)}\n", seen)
        # A name without a slash is searched on PATH.
        env = dict(os.environ, PATH=os.path.join(venv, "bin") + os.pathsep + os.environ["PATH"])
        seen = self.compare(["prog.py"], env, plain=[python + ".11", "prog.py"], calltree_args=["--python", "python3.11"])
        self.assertIn(f"executable {venv}/bin/python3.11\n", seen)

    def test_pyenv_shim(self):
        shim = os.path.join(SHIMS, "python3")
        if not os.access(shim, os.X_OK) or not os.access(SHARED, os.X_OK):
            self.skipTest("no pyenv shims")
        env = dict(os.environ, PATH=SHIMS + os.pathsep + os.environ["PATH"], PYENV_VERSION="3.11.7")
        pkg = self.write("probe_pkg/__init__.py", "VALUE = 'beside the program'\n")
        self.write("prog.py", PROBE)
        seen = self.compare(["prog.py"], env, plain=[shim, "prog.py"])
        self.assertIn(f"executable {PYENV}/versions/3.11.7/bin/python3\n", seen)
        self.assertIn(f"package {pkg}", seen)
        self.assertIn(f"exe {SHARED}\n", seen)
        self.assertIn("'PYENV_VERSION'", seen)

    def test_other_version_refused(self):
        marker = self.path("ran")
        self.write("prog.py", f"open({marker!r}, 'w').close()\n")
        tried = 0
        # Versions this calltree has a library for are run, not refused (a pyenv 3.12 is built
        # for when scripts/build.sh finds one).
        built = {name[len("libcalltree-"):-len(".so")] for name in os.listdir(os.path.dirname(CALLTREE))
                 if re.fullmatch(r"libcalltree-3\.\d+\.so", name)}
        for python in OTHER_VERSIONS:
            version = ".".join(os.path.basename(python)[len("python"):].split(".")[:2])
            if not os.access(python, os.X_OK) or version in built:
                continue
            tried += 1
            with self.subTest(python=python):
                out = self.path("out.callgrind")
                r = run([CALLTREE, "--python", python, "-o", out, "prog.py"], cwd=self.tmp)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stdout, "")
                lines = r.stderr.splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn(f"Python {version}", lines[0])
                # Every version it has a library for (this suite's own interpreter may be any of
                # them: scripts/test-pythons.sh runs it on a pyenv 3.12 too).
                listed = lines[0].partition("built for Python ")[2]
                self.assertTrue(listed, lines[0])
                for v in built:
                    self.assertIn(v, listed)
                self.assertFalse(os.path.exists(marker))
                self.assertFalse(os.path.exists(out))
                # Found on PATH the same way (a virtualenv of that version).
                venv = self.path(f"venv{version}")
                self.assertEqual(run([python, "-m", "venv", "--without-pip", venv]).returncode, 0)
                r = run([CALLTREE, "-o", out, "prog.py"], cwd=self.tmp, env=self.activated(venv))
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertFalse(os.path.exists(marker))
        if not tried:
            self.skipTest("no other Python version installed")

    def test_bad_values_refused_by_the_launcher(self):
        # The interpreter is never started: --python names one that would fail loudly.
        fake = self.write("bin/python3", "#!/bin/sh\necho started >&2\nexit 9\n")
        os.chmod(fake, 0o755)
        for args, message in ((["--sample", "--interval", "5x"], "--interval: '5x' is not a duration"),
                              (["--memory", "--memory-rate", "0"], "--memory-rate: '0' is not a byte count")):
            with self.subTest(args=args):
                r = run([CALLTREE, "--python", fake, *args, "-c", "pass"], cwd=self.tmp)
                self.assertEqual(r.returncode, 2)
                self.assertTrue(r.stderr.startswith(f"calltree: {message}"), r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1)
                self.assertNotIn("started", r.stderr)

    def test_subprocesses_in_the_virtualenv(self):
        for name, base in (("venv", PYTHON), ("venv_shared", SHARED)):
            with self.subTest(base=base):
                venv = self.make_venv(name, base)
                self.write("child.py", "import sys\ndef child_work():\n    return sum(range(1000))\n"
                                       "child_work()\nprint('child', sys.executable, sys.prefix)\n")
                self.write("parent.py", "import subprocess, sys\nprint('parent', sys.executable, flush=True)\n"
                                        "subprocess.run([sys.executable, 'child.py'], check=True)\n")
                env = self.activated(venv)
                py = run(["python3", "parent.py"], env=env, cwd=self.tmp)
                out = self.path(f"{name}.callgrind")
                ours = run([CALLTREE, "--subprocesses", "-o", out, "parent.py"], env=env, cwd=self.tmp)
                self.assertEqual(ours.returncode, 0, ours.stderr)
                self.assertEqual(ours.stdout, py.stdout)
                self.assertIn(f"child {venv}/bin/python3 {venv}\n", ours.stdout)
                children = [f for f in os.listdir(self.tmp) if f.startswith(f"{name}.callgrind.")]
                self.assertEqual(len(children), 1, ours.stderr)
                child = callgrind_parse.parse(self.path(children[0]))
                self.assertTrue(child.by_name("child_work"), "the child was not profiled")

    def test_shared_libpython_every_mode(self):
        if not os.access(SHARED, os.X_OK):
            self.skipTest("pyenv's 3.11.7 is not installed")
        script = self.write("loop.py", LOOP)
        expected = run([SHARED, script]).stdout
        for mode in ([], ["--sample"], ["--memory"], ["--sample", "--memory"]):
            with self.subTest(mode=mode):
                out = self.path("loop.callgrind")
                r = run([CALLTREE, "--python", SHARED, *mode, "-o", out, script], cwd=self.tmp)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, expected)
                cg = callgrind_parse.parse(out)
                self.assertTrue(cg.by_name("spin"), cg.functions.keys())
                if "--memory" in mode:
                    self.assertIn("AllocBytes", cg.events)
                    self.assertGreater(cg.totals[cg.events.index("AllocBytes")], 0)
                if "--sample" in mode:
                    python = cg.totals[cg.events.index("Python")]
                    native = cg.totals[cg.events.index("Native")]
                    # The eval loop lives in libpython3.11.so here: if it were not recognised as the
                    # interpreter, this pure-Python loop would show almost no Python at all. The
                    # accuracy itself is test_sampling's (timed, alone); this run shares the machine.
                    self.assertGreaterEqual(python / (python + native), 0.75, cg.totals)

    def test_shared_libpython_subprocesses(self):
        if not os.access(SHARED, os.X_OK):
            self.skipTest("pyenv's 3.11.7 is not installed")
        self.write("child.py", "def child_work():\n    return sum(range(1000))\nchild_work()\n")
        self.write("parent.py", "import subprocess, sys, os\nsubprocess.run([sys.executable, 'child.py'], check=True)\n"
                                "pid = os.fork()\nif pid == 0:\n    sum(range(10))\n    os._exit(0)\nos.waitpid(pid, 0)\n")
        out = self.path("p.callgrind")
        r = run([CALLTREE, "--python", SHARED, "--subprocesses", "-o", out, "parent.py"], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("2 child profiles", r.stderr)
        children = [f for f in os.listdir(self.tmp) if f.startswith("p.callgrind.")]
        self.assertEqual(len(children), 2, r.stderr)
        found = [callgrind_parse.parse(self.path(c)).by_name("child_work") for c in children]
        self.assertTrue(any(found))


if __name__ == "__main__":
    unittest.main()
