// Which Python interpreter the launcher runs the program in, and its version, found without
// starting it when the file says (see interpreter_choice.cpp).
#pragma once
#include <string>
#include <vector>

namespace calltree::host {

struct Interpreter {
    std::string path;  // absolute, symlinks kept: what to exec (a virtualenv's bin/python3)
    int major = 0;
    int minor = 0;
    // When a script chose the interpreter (a pyenv shim): the environment it gave it (pyenv
    // adds PYENV_VERSION and the version's bin directory on PATH), for the program to see.
    bool has_environment = false;
    std::vector<std::string> environment;  // NAME=value
};

// `requested` is --python's value, or empty for the python3 a shell would run. A name without
// a slash is searched on PATH as execvp does. A script found there (a pyenv shim) is asked,
// without calltree's library, for its sys.executable. On failure returns false with a one-line
// message in `error`. Without --python and without a python3 on PATH: `fallback` (the
// interpreter calltree was built with).
bool choose_interpreter(const std::string& requested, const std::string& fallback, Interpreter& chosen,
                        std::string& error);

}  // namespace calltree::host
