// Names for functions read from pstats files, which carry only (file, line, name): the object
// (callgrind ob=) is derived from the file's path, as `import` would name the module.
#pragma once
#include <string>
#include <string_view>

namespace calltree {

// Module name for a source path. Where the path shows its import root (a lib/pythonX.Y
// directory, site-packages, dist-packages) the module path below it is used, else the stem:
//   /usr/lib/python3.11/json/encoder.py                  -> json.encoder
//   /usr/lib/python3.11/json/__init__.py                 -> json
//   /venv/lib/python3.12/site-packages/numpy/core/x.py   -> numpy.core.x
//   /x/prog.py -> prog     /x/pkg/__init__.py -> pkg     /x/pkg/__main__.py -> pkg.__main__
//   <frozen importlib._bootstrap> -> importlib._bootstrap     <string> -> <string>
// Windows paths (backslashes) from profiles made elsewhere are read the same way.
std::string module_from_path(std::string_view path);

}  // namespace calltree
