// An exec replaces the process image without running any exit code: python3's os.execv and
// friends (posix.execv/execve/fexecve in C) leave nothing behind. calltree's library, preloaded
// into the interpreter, defines `execv`, `execve` and `fexecve` (found before libc's, so posix's
// calls land here) and writes the profile first, when the exec can succeed (the file is
// executable, so a PATH search that tries directories in turn writes only before the one that
// runs). If the exec still fails, the program goes on unprofiled and the profile already written
// is the run's profile.
#pragma once

namespace calltree::exec_hook {

// After interpreter start-up; until then (and in any other process, e.g. a vfork child) the
// interposers only pass the call on.
void arm();

}  // namespace calltree::exec_hook
