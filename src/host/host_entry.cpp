// calltree's library inside /usr/bin/python3 (see launcher.cpp). python3's _start hands its main
// to glibc's __libc_start_main through the PLT, so the preloaded library sees that call first
// and substitutes calltree's main: everything runs after the whole process is initialised, as
// in any program, and python3's own main never runs. A python3 that was not started by the
// launcher (the library inherited by accident) runs untouched.
#include <dlfcn.h>
#include <stdlib.h>

#include <string>

#include "cli/calltree_main.h"
#include "cli/run_command.h"
#include "host/host_env.h"
#include "runner/self_path.h"

namespace {

using StartMain = int (*)(int (*)(int, char**, char**), int, char**, void (*)(), void (*)(), void (*)(), void*);

int host_main(int argc, char** argv, char**) { return calltree::calltree_main(argc, argv, calltree::run_profiled,
                                                                                calltree::build_python_minor()); }

// The program must see the environment the user gave calltree: no trace of the preload.
void restore_environment() {
    const char* user = getenv(CALLTREE_ENV_USER_PRELOAD);
    if (user != nullptr) {
        setenv("LD_PRELOAD", user, 1);
        unsetenv(CALLTREE_ENV_USER_PRELOAD);
    } else {
        unsetenv("LD_PRELOAD");
    }
    unsetenv(CALLTREE_ENV_LAUNCHER);
    unsetenv(CALLTREE_ENV_PYTHON);
}

}  // namespace

// Listed, as every libc symbol calltree defines, in src/interpose/libc_symbols.list.
extern "C" int __libc_start_main(int (*main)(int, char**, char**), int argc, char** argv, void (*init)(),
                                 void (*fini)(), void (*rtld_fini)(), void* stack_end) {
    auto real = reinterpret_cast<StartMain>(dlsym(RTLD_NEXT, "__libc_start_main"));
    if (real == nullptr) abort();
    if (const char* launcher = getenv(CALLTREE_ENV_LAUNCHER)) {
        calltree::set_calltree_executable(launcher);
        calltree::set_process_argv(argv);
        if (const char* python = getenv(CALLTREE_ENV_PYTHON)) calltree::set_python_executable(python);
        restore_environment();
        main = host_main;
    }
    return real(main, argc, argv, init, fini, rtld_fini, stack_end);
}
