// Names for functions read from pstats files, which carry only (file, line, name): the object
// (callgrind ob=) is derived from the file's path, as `import` would name the module.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

// A function of a pstats file: its (file, first line, name) key, the strings interned (ids
// into a table of texts given with the functions) so that equal texts are equal ids. 16 bytes:
// a large profile has 60k of them.
struct PstatsFunction {
    int64_t line;
    uint32_t file_id;  // its text is "~" for builtins
    uint32_t name_id;
};

struct PstatsNames {
    // Per function: unique under KCachegrind's identity, its pstats name or that name with a
    // suffix appended (":<line>", "#<n>"), never otherwise changed.
    std::vector<std::string> names;
    std::vector<std::string> objects;  // the distinct objects (callgrind ob=)
    std::vector<uint32_t> object_of;   // per function: index into objects
};

// KCachegrind tells functions apart by name + basename(file) + basename(object) and merges
// the rest. So: one name in one file at several lines (lambdas, redefinitions) gets
// ":<line>"; files that share their basename and module get as many parent directories in their
// object as needed (a/util.py, b/util.py -> a.util, b.util); builtins group under their
// module's object; whatever is still equal is numbered "#2", "#3"...
PstatsNames name_pstats_functions(std::span<const PstatsFunction> functions, std::span<const std::string_view> texts);

}  // namespace calltree
