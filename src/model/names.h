// Naming rules shared by the tracer (which sees live objects) and the pstats reader (which sees
// only cProfile's strings), so both put a C function under the same object.
#pragma once
#include <string>
#include <string_view>

namespace calltree {

// The file name the model (and pstats) uses for C functions.
inline constexpr std::string_view kBuiltinFile = "~";

// Object (callgrind ob=) for a C function named the way cProfile names it:
//   "<built-in method time.sleep>"              -> "time"
//   "<built-in method builtins.len>"            -> "builtins"
//   "<method 'append' of 'list' objects>"       -> "builtins"
//   "<method 'sum' of 'numpy.ndarray' objects>" -> "numpy"
//   "<function ...>" or anything else           -> "builtins"
std::string builtin_object(std::string_view cprofile_name);

}  // namespace calltree
