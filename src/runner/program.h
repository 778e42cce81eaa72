// What to run, as python3 would be told on its command line.
#pragma once
#include <string>
#include <vector>

namespace calltree {

struct Program {
    // PythonArgv: a whole python3 command line (a child calltree runs what the program asked
    // python3 to run, interpreter options included); `target` is its argv[0].
    enum class Kind { Script, Module, Code, PythonArgv };
    Kind kind = Kind::Script;
    std::string target;             // script path, module name, code, or python3's argv[0]
    std::vector<std::string> args;  // becomes sys.argv[1:]
};

}  // namespace calltree
