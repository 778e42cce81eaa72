"""An independent reader of callgrind files for the tests (it shares no code with the C++ one).

parse(path) -> Callgrind with:
  functions: {(name, file, object): Function(def_line, self_cost, calls_in)}
  arcs: [Arc(caller_key, callee_key, calls, call_line, inclusive)]
  totals: list of ints or None, events: list of names, desc: {key: value} from desc: lines
  Function.self_by_line: {line: costs}
"""
import re
from dataclasses import dataclass, field

_NAMED = re.compile(r"^\((\d+)\)(?: (.*))?$")


@dataclass
class Function:
    def_line: int = None
    self_cost: list = field(default_factory=list)
    calls_in: int = 0
    self_by_line: dict = field(default_factory=dict)


@dataclass
class Arc:
    caller: tuple
    callee: tuple
    calls: int
    call_line: int
    inclusive: list


@dataclass
class Callgrind:
    events: list
    functions: dict
    arcs: list
    totals: list
    desc: dict = field(default_factory=dict)

    def by_name(self, name):
        """All function keys whose name is `name`."""
        return [k for k in self.functions if k[0] == name]

    def inclusive(self, key):
        """What KCachegrind shows: the sum of incoming arcs, skipping direct self-calls."""
        incoming = [a for a in self.arcs if a.callee == key and a.caller != key]
        if not incoming:
            f = self.functions[key]
            return sum(f.self_cost[:1]) + sum(a.inclusive[0] for a in self.arcs if a.caller == key and a.callee != key)
        return sum(a.inclusive[0] for a in incoming)


def _add(a, b):
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n)]


def _position(text, last):
    """Absolute, `+N`/`-N` relative to the previous cost line, or `*` for the same position."""
    if text == "*":
        return last
    if text[0] in "+-":
        return last + int(text)
    return int(text)


def parse(path):
    tables = {"ob": {}, "fl": {}, "fn": {}}
    kind_of = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl", "cfl": "fl", "cfi": "fl",
               "fn": "fn", "cfn": "fn"}

    def name(kind, value):
        m = _NAMED.match(value)
        if not m:
            return value
        ident, text = m.groups()
        if text is not None:
            tables[kind][ident] = text
            return text
        return tables[kind][ident]

    events, functions, arcs, totals, desc = [], {}, [], None, {}
    ob = fl = None
    current = None
    cob = cfl = cfn = None
    pending_calls = None
    last_pos = 0
    # File names are bytes: one that is not UTF-8 comes back as os.fsdecode would give it.
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            if line.startswith("events:"):
                events = line.split(":", 1)[1].split()
                continue
            if line.startswith("desc:"):
                key, _, value = line[5:].strip().partition(":")
                desc[key.strip()] = value.strip()
                continue
            if line.startswith("totals:") or line.startswith("summary:"):
                totals = [int(x) for x in line.split(":", 1)[1].split()]
                continue
            m = re.match(r"^(ob|fl|fi|fe|fn|cob|cfl|cfi|cfn|calls)=(.*)$", line)
            if m:
                key, value = m.groups()
                if key == "calls":
                    pending_calls = int(value.split()[0])
                    continue
                value = name(kind_of[key], value)
                if key == "ob":
                    ob = value
                elif key == "fl":
                    fl = value
                elif key == "fn":
                    current = (value, fl, ob)
                    functions.setdefault(current, Function())
                elif key == "cob":
                    cob = value
                elif key in ("cfl", "cfi"):
                    cfl = value
                elif key == "cfn":
                    cfn = value
                continue
            if re.match(r"^[0-9+*-]", line):
                parts = line.split()
                pos, costs = _position(parts[0], last_pos), [int(x) for x in parts[1:]]
                last_pos = pos
                if pending_calls is not None:
                    callee = (cfn, fl if cfl is None else cfl, ob if cob is None else cob)
                    functions.setdefault(callee, Function()).calls_in += pending_calls
                    arcs.append(Arc(current, callee, pending_calls, pos, costs))
                    pending_calls = None
                    cob = cfl = None
                else:
                    fn = functions[current]
                    fn.self_cost = _add(fn.self_cost, costs)
                    fn.self_by_line[pos] = _add(fn.self_by_line.get(pos, []), costs)
                    if fn.def_line is None or pos < fn.def_line:
                        fn.def_line = pos
                continue
            if ":" in line:
                continue  # other header lines
            raise ValueError(f"{path}: unexpected line {line!r}")
    return Callgrind(events, functions, arcs, totals, desc)
