// The `calltree` command. calltree runs inside Debian's own /usr/bin/python3 rather than in a
// copy of libpython linked into a program of ours: that interpreter is link-time optimised and
// runs Python code 5-15% faster than the libpython3.11.a it is built from, which is more than
// the whole budget of the sampling mode. So this program only execs python3 with calltree's
// library preloaded (LD_PRELOAD); the library takes over python3's main (host_entry.cpp) and
// runs calltree with the same argv. Nothing else happens here: every check and message is
// calltree's own, made inside python3.
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/host_env.h"

#ifndef CALLTREE_PYTHON_EXECUTABLE
#error "CALLTREE_PYTHON_EXECUTABLE must name the python3 calltree runs in"
#endif

int main(int argc, char** argv) {
    (void)argc;
    char self[PATH_MAX];
    if (realpath("/proc/self/exe", self) == NULL) {
        fprintf(stderr, "calltree: cannot find its own executable: %s\n", strerror(errno));
        return 127;
    }
    char library[PATH_MAX + 32];
    char* slash = strrchr(self, '/');
    snprintf(library, sizeof library, "%.*s/" CALLTREE_HOST_LIBRARY, (int)(slash - self), self);
    if (access(library, R_OK) != 0) {
        fprintf(stderr, "calltree: cannot read %s: %s\n", library, strerror(errno));
        return 127;
    }
    // The user's own preloads stay, after ours; host_entry.cpp puts LD_PRELOAD back as it was
    // before the program starts, so the program and its children see the environment unchanged.
    const char* user = getenv("LD_PRELOAD");
    size_t size = strlen(library) + (user != NULL ? strlen(user) + 2 : 1);
    char* preload = malloc(size);
    if (preload == NULL) return 127;
    snprintf(preload, size, "%s%s%s", library, user != NULL ? " " : "", user != NULL ? user : "");
    if (user != NULL) setenv(CALLTREE_ENV_USER_PRELOAD, user, 1);
    else unsetenv(CALLTREE_ENV_USER_PRELOAD);
    setenv(CALLTREE_ENV_LAUNCHER, self, 1);
    setenv("LD_PRELOAD", preload, 1);
    execv(CALLTREE_PYTHON_EXECUTABLE, argv);
    fprintf(stderr, "calltree: cannot run %s: %s\n", CALLTREE_PYTHON_EXECUTABLE, strerror(errno));
    return 127;
}
