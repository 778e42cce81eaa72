// What to run, as python3 would be told on its command line.
#pragma once
#include <string>
#include <vector>

namespace calltree {

struct Program {
    enum class Kind { Script, Module, Code };
    Kind kind = Kind::Script;
    std::string target;             // script path, module name or code
    std::vector<std::string> args;  // becomes sys.argv[1:]
};

}  // namespace calltree
