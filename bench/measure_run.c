/* measure_run RESULT_FILE PROGRAM [ARGS...]: runs PROGRAM and writes "<wall seconds> <peak RSS KiB>
 * <exit code>" to RESULT_FILE.
 *
 * Why not measure from Python directly: Linux carries a process's RSS high-water mark across
 * execve (exec_mmap folds the old address space's peak into ru_maxrss), and subprocess spawns with
 * vfork, so every child of the ~12 MiB Python driver reports at least the driver's own peak, which
 * is more than plain python3 needs. Forking from this small program keeps that floor near 1 MiB. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: measure_run RESULT_FILE PROGRAM [ARGS...]\n");
        return 2;
    }
    double start = now_seconds();
    pid_t pid = fork();
    if (pid < 0) {
        perror("measure_run: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror("measure_run: exec");
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) < 0) {
        perror("measure_run: wait4");
        return 2;
    }
    double elapsed = now_seconds() - start;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

    FILE *out = fopen(argv[1], "w");
    if (out == NULL) {
        perror("measure_run: result file");
        return 2;
    }
    fprintf(out, "%.6f %ld %d\n", elapsed, usage.ru_maxrss, code);
    if (fclose(out) != 0) {
        perror("measure_run: result file");
        return 2;
    }
    return code;
}
