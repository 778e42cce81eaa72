"""The %calltree and %%calltree magics (``%load_ext calltree``)."""
import os

from IPython.core.magic import Magics, line_cell_magic, magics_class

from . import _DEFAULT_NAMES, Profile, _calltree, _expand

_USAGE = """Profile a statement (%calltree) or a cell (%%calltree) with calltree.

    %calltree [options] statement
    %%calltree [options]

Options, as the calltree command's:
    -o PATH              the file to write ('%p' is the process id; default
                         callgrind.out.%p, or calltree.%p.prof for pstats)
    --sample             sample stacks instead of recording every call
    --interval TIME      sampling interval (default 1ms)
    --clock wall|cpu|counter
    --memory             add memory events (Python objects only in a
                         running program)
    --memory-rate BYTES  mean bytes between memory samples (default 32KiB)
    --no-bias-correction
    --format callgrind|pstats
    --open               open the file in KCachegrind
    -n N                 how many functions to list (default 10; 0: none)

Prints where the file is and the functions with the highest inclusive cost
of the first event.  The statement's or cell's own code is the root."""


def _top_lines(p, n):
    events = p.events()
    if n <= 0 or not events:
        return []
    name, description = events[0]
    rows = sorted(p.functions(), key=lambda f: (-f[5][0], -f[4][0], f[0]))[:n]
    unit = 1e6 if "(ns)" in description else 1
    suffix = " ms" if unit == 1e6 else ""
    lines = ["%12s %12s %9s  function (%s)" % ("inclusive", "self", "calls", name)]
    for fname, file, _obj, calls, self_costs, inclusive in rows:
        where = "" if file in ("~", "") else "  %s" % os.path.basename(file)
        lines.append("%12s %12s %9d  %s%s" % ("%.3f%s" % (inclusive[0] / unit, suffix) if unit != 1 else inclusive[0],
                                                "%.3f%s" % (self_costs[0] / unit, suffix) if unit != 1 else self_costs[0],
                                                calls, fname, where))
    return lines


@magics_class
class CalltreeMagics(Magics):
    @line_cell_magic
    def calltree(self, line, cell=None):
        opts, statement = self.parse_options(
            line, "o:n:", "sample", "interval=", "clock=", "memory", "memory-rate=", "no-bias-correction",
            "format=", "open", posix=False, strict=False)
        fmt = opts.get("format", "callgrind")
        if fmt not in _DEFAULT_NAMES:
            print("calltree: --format must be callgrind or pstats")
            return
        options = {}
        if "sample" in opts:
            options["sample"] = True
        if "interval" in opts:
            options["interval"] = opts["interval"]
        if "clock" in opts:
            options["clock"] = opts["clock"]
        if "memory" in opts:
            options["memory"] = True
        if "memory-rate" in opts:
            options["memory_rate"] = opts["memory-rate"]
        if "no-bias-correction" in opts:
            options["bias_correction"] = False
        source = cell if cell is not None else statement
        if not source.strip():
            print(_USAGE)
            return
        source = self.shell.transform_cell(source)
        filename = self.shell.compile.cache(source) if hasattr(self.shell.compile, "cache") else "<calltree>"
        code = compile(source, filename, "exec")
        path = _expand(opts.get("o", _DEFAULT_NAMES[fmt]))
        p = Profile(**options)
        try:
            p.run(code, self.shell.user_ns)
        finally:
            written = p.write(path, fmt)
            print("calltree: wrote %s (view it with: kcachegrind %s)" % (written, written))
            if fmt == "callgrind":
                for text in _top_lines(p, int(opts.get("n", 10))):
                    print(text)
            if "open" in opts:
                _calltree.open_viewer(written)

    calltree.__doc__ = _USAGE
