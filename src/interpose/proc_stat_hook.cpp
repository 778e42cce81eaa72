// Interposers: fopen and fopen64 (the one CPython calls: it is built with large-file support),
// listed in libc_symbols.list.
// Only to correct CPython's count of the process's threads right after a fork
// (fork_thread_count.h); every other call goes straight to libc's.
#include <dlfcn.h>
#include <stdio.h>

#include "process/fork_thread_count.h"

namespace {

using Fopen = FILE* (*)(const char*, const char*);

FILE* open_stream(Fopen real, const char* path, const char* mode) {
    bool handled = false;
    FILE* stream = calltree::fork_thread_count::open_stat_after_fork(path, mode, &handled);
    return handled ? stream : real(path, mode);
}

}  // namespace

extern "C" FILE* fopen(const char* path, const char* mode) {
    static Fopen real = reinterpret_cast<Fopen>(dlsym(RTLD_NEXT, "fopen"));
    return open_stream(real, path, mode);
}

extern "C" FILE* fopen64(const char* path, const char* mode) {
    static Fopen real = reinterpret_cast<Fopen>(dlsym(RTLD_NEXT, "fopen64"));
    return open_stream(real, path, mode);
}
