"""The libc symbols calltree's libraries define equal src/interpose/libc_symbols.list.

Usage: interposed_symbols.py LIST LIBRARY
LIBRARY is this build's libcalltree-3.X.so; the libraries built for other versions beside it
(libcalltree-3.*.so) are checked too. A library's own C names start with ct_ (the CPython
boundary, the guarded copy) and its C++ names are mangled: every other symbol it defines is one
it takes from libc (or another library of the process), and must be listed; every listed symbol
must be defined, in the file the list names.
"""
import glob
import os
import re
import subprocess
import sys


def read_list(path):
    entries = {}
    for number, line in enumerate(open(path), 1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        fields = [f.strip() for f in line.split('|')]
        if len(fields) != 3 or not all(fields):
            sys.exit(f'{path}:{number}: expected "name | file | why"')
        name, where, _why = fields
        if name in entries:
            sys.exit(f'{path}:{number}: {name} listed twice')
        entries[name] = where
    return entries


def defined_c_symbols(library):
    out = subprocess.run(['nm', '-D', '--defined-only', library], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        name = line.split()[-1].split('@')[0]
        if not name.startswith('_Z') and not name.startswith('ct_'):
            names.add(name)
    return names


def main():
    list_path, library = sys.argv[1], sys.argv[2]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(list_path))))
    listed = read_list(list_path)
    problems = []
    for name, where in sorted(listed.items()):
        source = os.path.join(root, where)
        if not os.path.exists(source):
            problems.append(f'{name}: {where} does not exist')
        elif not re.search(r'\b' + re.escape(name) + r'\s*\(', open(source).read()):
            problems.append(f'{name}: not defined in {where}')
    libraries = sorted(set([library] + glob.glob(os.path.join(os.path.dirname(library), 'libcalltree-3.*.so'))))
    for lib in libraries:
        defined = defined_c_symbols(lib)
        for name in sorted(defined - set(listed)):
            problems.append(f'{os.path.basename(lib)} defines {name}, which src/interpose/libc_symbols.list does not list')
        for name in sorted(set(listed) - defined):
            problems.append(f'{os.path.basename(lib)} does not define {name}, which src/interpose/libc_symbols.list lists')
        print(f'{lib}: {len(defined)} libc symbols defined')
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == '__main__':
    main()
