// calltree with libpython linked in: the sanitizer build, whose runtimes must be the first
// thing in the process and so cannot be preloaded into python3 (see launcher.cpp).
#include "cli/calltree_main.h"
#include "cli/run_command.h"

int main(int argc, char** argv) { return calltree::calltree_main(argc, argv, calltree::run_profiled, calltree::build_python_minor()); }
