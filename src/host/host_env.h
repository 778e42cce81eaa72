/* What the launcher (launcher.cpp) tells calltree's library inside python3 (host_entry.cpp),
 * through the environment; the library removes these variables before the program starts. */
#pragma once

/* One library per CPython minor version: libcalltree-3.11.so, libcalltree-3.13.so, ... */
#define CALLTREE_HOST_LIBRARY_PREFIX "libcalltree-"
/* The launcher's own path: marks a python3 that is to run calltree, and is what the profiled
 * program's children are re-executed with under --subprocesses. */
#define CALLTREE_ENV_LAUNCHER "CALLTREE_LAUNCHER"
/* The LD_PRELOAD the user had, if any (absent: none). */
#define CALLTREE_ENV_USER_PRELOAD "CALLTREE_USER_LD_PRELOAD"
/* The interpreter's path as the launcher found it and exec'd it (runner/self_path.h). */
#define CALLTREE_ENV_PYTHON "CALLTREE_PYTHON"
