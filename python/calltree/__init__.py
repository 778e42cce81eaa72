"""Profile Python code and write callgrind files for KCachegrind.

This module records with the same collectors, and writes with the same
writers, as the ``calltree`` command: a profile made here holds the same
function names, call counts and events as one the command makes of the
same code.

    import calltree

    with calltree.profile("handler.callgrind"):
        handle(request)

    @calltree.profile("step.%n.callgrind")      # one file per call
    def step():
        ...

    p = calltree.Profile(sample=True)
    p.start(); work(); p.stop()
    p.write("work.callgrind")

    calltree.convert(pstats.Stats("old.prof"), "old.callgrind")
    calltree.visualize(cProfile_profiler)      # opens KCachegrind

Only what runs between the start and the end of a block is recorded.  The
calls that were already open in the thread that starts it (the code around
the block, up to the thread's first frame) are the profile's roots: each
is shown as called once, with the block's time as its inclusive time and
with its calls at their real lines, so KCachegrind shows the block under
the function that contains it.

One profile records at a time in a process.  A block entered while another
one records (nested, or in another thread) runs normally, records nothing
of its own and writes no file: a RuntimeWarning says so, and its calls are
part of the profile that is recording if they run on a thread it records.
Profile.start() raises RuntimeError instead.

In IPython, ``%load_ext calltree`` adds the ``%calltree`` and ``%%calltree``
magics.  ``python3 -m calltree`` is the ``calltree`` command.
"""
import os as _os
import sys as _sys

from . import _build_info

# One extension per Python version sits in this directory (_calltree.cpython-3XY-...so), each
# built against that version's headers: the interpreter imports its own, if there is one.
# (Not "from . import _calltree": a missing submodule is a plain ImportError there.)
try:
    from ._calltree import Profile
except ModuleNotFoundError as _e:
    if _e.name != __name__ + "._calltree":
        raise
    raise ImportError(
        "calltree was built for Python %s; this is Python %d.%d%s (%s): build calltree for it "
        "(CALLTREE_EXTRA_PYTHONS=%s scripts/build.sh)"
        % (", ".join("%d.%d" % v for v in sorted(_build_info.PYTHON_VERSIONS)), *_sys.version_info[:2],
           getattr(_sys, "abiflags", ""), _sys.executable, _sys.executable), name=__name__) from None

import functools as _functools
import tempfile as _tempfile
import threading as _threading
import warnings as _warnings

from . import _calltree

__all__ = ["Profile", "profile", "convert", "visualize", "load_ipython_extension"]

# Frames of this file are the API's own, not the program's: they are never a block's roots.
_calltree._set_api_files((__file__, _os.path.abspath(__file__)))

_DEFAULT_NAMES = {"callgrind": "callgrind.out.%p", "pstats": "calltree.%p.prof"}


def _expand(path, number=None):
    path = _os.fspath(path)
    if number is not None:
        path = path.replace("%n", str(number))
    return path.replace("%p", str(_os.getpid()))


class profile:
    """Record a block, or every call of a function, and write it to *path*.

    As a context manager, the block is recorded and the file written when
    it ends, also when it raises (the exception propagates unchanged):

        with calltree.profile("handler.callgrind"):
            handle(request)

    As a decorator, each call of the function is recorded.  If *path*
    contains '%n' each call gets a file of its own ('%n' is the call's
    number, from 1); otherwise the file holds every call so far, merged,
    and is rewritten after each call.  A recursive call is part of the
    outermost one.

    '%p' in *path* becomes the process id.  The default *path* is the
    command's: 'callgrind.out.%p' ('calltree.%p.prof' for pstats).
    *format* is 'callgrind' or 'pstats'; *open* starts KCachegrind on the
    file.  The other keyword arguments are Profile's: sample, interval,
    clock, memory, memory_rate, bias_correction.  After the block, the
    written file's absolute path is the ``path`` attribute, and the
    recording is the ``result`` attribute (a Profile).
    """

    def __init__(self, path=None, *, format="callgrind", open=False, **options):
        if format not in _DEFAULT_NAMES:
            raise ValueError("calltree: format must be 'callgrind' or 'pstats', not %r" % (format,))
        self._template = _os.fspath(path) if path is not None else _DEFAULT_NAMES[format]
        self._format = format
        self._open = open
        self._options = options
        Profile(**options)  # options checked now, not when the block starts
        if format == "pstats" and (options.get("sample") or options.get("memory")):
            raise ValueError("calltree: pstats has one time per function and no memory events: sample=True and "
                             "memory=True need format='callgrind'")
        self.path = None
        self.result = None
        self._recording = None
        self._calls = 0
        self._merged = None
        self._active = _threading.local()
        self._lock = _threading.Lock()

    def __repr__(self):
        return "calltree.profile(%r)" % (self._template,)

    def __enter__(self):
        if self._recording is not None:
            raise RuntimeError("calltree: this profile() block is already recording; use a new one")
        p = self._begin("block")
        self._recording = p
        return self

    def __exit__(self, typ, value, tb):
        p, self._recording = self._recording, None
        if p is not None:
            p.stop()
            self.result = p
            self._save(p, self._expand_path(None), raised=typ is not None)
        return False

    def __call__(self, func):
        @_functools.wraps(func)
        def wrapper(*args, **kwargs):
            if getattr(self._active, "on", False):
                return func(*args, **kwargs)  # a recursive call: part of the outer one
            p = self._begin(getattr(func, "__qualname__", "function"))
            if p is None:
                return func(*args, **kwargs)
            self._active.on = True
            try:
                return func(*args, **kwargs)
            finally:
                self._active.on = False
                p.stop()
                self._finish_call(p, _sys.exc_info()[0] is not None)
        return wrapper

    def _begin(self, what):
        """A started Profile, or None if another profile records (with a warning)."""
        if _calltree.under_command:
            _warnings.warn("calltree: this program runs under the calltree command, which profiles all of it; "
                           "profile() blocks write no file of their own", RuntimeWarning, stacklevel=3)
            return None
        if _calltree.recording():
            _warnings.warn("calltree: another profile is recording in this process; this %s is not recorded on "
                           "its own and writes no file (%s)" % (what, self._template), RuntimeWarning, stacklevel=3)
            return None
        p = Profile(**self._options)
        p.start()
        return p

    def _finish_call(self, p, raised):
        with self._lock:
            self._calls += 1
            number = self._calls
            if "%n" in self._template:
                self.result = p
            else:
                if self._merged is None:
                    self._merged = Profile()
                self._merged.merge(p)
                self.result = self._merged
            self._save(self.result, self._expand_path(number), raised)

    def _expand_path(self, number):
        return _expand(self._template, number)

    def _save(self, p, path, raised):
        try:
            self.path = p.write(path, self._format)
        except (OSError, ValueError) as e:
            if not raised:
                raise
            # The block's own exception is what propagates; the lost profile is reported.
            _warnings.warn("%s (the block's exception propagates)" % (e,), RuntimeWarning, stacklevel=3)
            return
        if self._open:
            _calltree.open_viewer(self.path)


def _stats_file(stats, directory):
    """A .prof file holding *stats*, and whether it is a temporary one."""
    if isinstance(stats, (str, bytes, _os.PathLike)):
        return _os.fspath(stats), False
    dump = getattr(stats, "dump_stats", None)
    if dump is None:
        raise TypeError("calltree: convert() takes a pstats.Stats, a cProfile.Profile, a profile.Profile or the path "
                        "of a .prof file, not %s" % (type(stats).__name__,))
    fd, path = _tempfile.mkstemp(prefix="calltree-", suffix=".prof", dir=directory)
    _os.close(fd)
    try:
        dump(path)  # pstats.Stats, cProfile.Profile and profile.Profile all have it
    except BaseException:
        _os.unlink(path)
        raise
    return path, True


def convert(stats, path=None, *, format="callgrind", call_sites=True):
    """Write *stats* as a callgrind (or pstats) file, as ``calltree convert`` does.

    *stats* is a pstats.Stats, a cProfile.Profile (or profile.Profile), the
    path of a .prof file written by any of them, or a calltree Profile.
    *path* defaults to the input file's name with '.callgrind' added; it is
    required when *stats* is not a file.  With *call_sites* each call is
    placed at its line in the caller's source (pstats records no call
    sites); without, at the caller's first line.  Return the absolute path
    of the file written.
    """
    if format not in _DEFAULT_NAMES:
        raise ValueError("calltree: format must be 'callgrind' or 'pstats', not %r" % (format,))
    if isinstance(stats, Profile):
        if path is None:
            raise TypeError("calltree: convert() of a Profile needs a path")
        return stats.write(path, format)
    if path is None:
        if not isinstance(stats, (str, bytes, _os.PathLike)):
            raise TypeError("calltree: convert() needs a path when its input is not a file")
        path = _os.fsdecode(stats) + (".pstats" if format == "pstats" else ".callgrind")
    path = _os.fsdecode(path)
    prof, temporary = _stats_file(stats, None)
    try:
        command = "calltree convert " + _os.fsdecode(prof) if not temporary else \
            "calltree.convert(%s)" % (type(stats).__name__,)
        return _calltree.convert(prof, path, format, call_sites, command)
    finally:
        if temporary:
            _os.unlink(prof)


def visualize(stats):
    """Open *stats* in KCachegrind (or QCachegrind), without waiting for it.

    *stats* is what convert() takes.  It is written to a temporary
    callgrind file, which is left for the viewer to read; return its path.
    If no viewer is installed, one line on stderr says so.
    """
    fd, path = _tempfile.mkstemp(prefix="calltree-", suffix=".callgrind")
    _os.close(fd)
    path = convert(stats, path)
    _calltree.open_viewer(path)
    return path


def load_ipython_extension(ipython):
    """Register the %calltree and %%calltree magics (``%load_ext calltree``)."""
    from ._ipython import CalltreeMagics
    ipython.register_magics(CalltreeMagics)
