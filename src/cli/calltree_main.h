#pragma once

namespace calltree {

// calltree's whole command line (argv[0] included); returns the process's exit status.
int calltree_main(int argc, char** argv);

}  // namespace calltree
