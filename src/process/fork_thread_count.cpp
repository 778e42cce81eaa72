#include "process/fork_thread_count.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "process/helper_thread.h"

namespace calltree::fork_thread_count {

namespace {

// Set on the forking thread in the parent, cleared by its next read of /proc/self/stat. A fork
// whose parent never reads it (3.11, or a fork from C) leaves it set until then: that read (by
// the program, on that thread) would get the corrected count, a difference python3 would not
// show only if the program has no threads of its own and counts threads through fopen.
constinit thread_local bool t_forked = false;

void after_fork_in_parent() { t_forked = true; }
void after_fork_in_child() { t_forked = false; }

}  // namespace

void enable() {
    static bool registered = false;
    if (registered) return;
    registered = true;
    pthread_atfork(nullptr, after_fork_in_parent, after_fork_in_child);
}

size_t without_threads(char* line, size_t size, size_t capacity, int hidden) {
    // Field 2 is the command name in parentheses, which may itself hold spaces and parentheses:
    // the fields after it start after the last ')'. Field 20 is the 18th after it.
    char* p = static_cast<char*>(memrchr(line, ')', size));
    if (p == nullptr || hidden <= 0) return size;
    char* end = line + size;
    for (int field = 2; field < 20; ++field) {
        p = static_cast<char*>(memchr(p, ' ', static_cast<size_t>(end - p)));
        if (p == nullptr) return size;
        ++p;
    }
    char* digits_end = p;
    long count = 0;
    while (digits_end < end && *digits_end >= '0' && *digits_end <= '9') count = count * 10 + (*digits_end++ - '0');
    if (digits_end == p) return size;
    count = count - hidden < 1 ? 1 : count - hidden;
    char digits[24];
    size_t n = 0;
    do digits[sizeof digits - 1 - n++] = static_cast<char>('0' + count % 10); while ((count /= 10) != 0);
    size_t old_len = static_cast<size_t>(digits_end - p);
    size_t new_size = size - old_len + n;
    if (new_size > capacity) return size;
    memmove(p + n, digits_end, static_cast<size_t>(end - digits_end));
    memcpy(p, digits + sizeof digits - n, n);
    return new_size;
}

FILE* open_stat_after_fork(const char* path, const char* mode, bool* handled) {
    *handled = false;
    if (!t_forked || path == nullptr || mode == nullptr || strcmp(path, "/proc/self/stat") != 0) return nullptr;
    t_forked = false;
    // Read-only streams only (what CPython opens); anything else goes to the real file.
    if (mode[0] != 'r' || strchr(mode, '+') != nullptr) return nullptr;
    char line[1024];
    size_t size = 0;
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) return nullptr;  // the real fopen fails the same way
    for (ssize_t n; size < sizeof line && (n = read(in, line + size, sizeof line - size)) != 0;) {
        if (n < 0) {
            if (errno == EINTR) continue;
            close(in);
            return nullptr;
        }
        size += static_cast<size_t>(n);
    }
    close(in);
    if (size == sizeof line) return nullptr;  // not the line we know: leave it to the kernel's file
    size = without_threads(line, size, sizeof line, helper_thread::running());
    // A file in memory, read through a real descriptor (fileno works, the number is the one the
    // real fopen would have taken), holding exactly what the kernel's file would say under python3.
    int fd = memfd_create("stat", strchr(mode, 'e') != nullptr ? MFD_CLOEXEC : 0);
    if (fd < 0) return nullptr;
    if (write(fd, line, size) != static_cast<ssize_t>(size) || lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return nullptr;
    }
    FILE* stream = fdopen(fd, mode);
    if (stream == nullptr) {
        int err = errno;
        close(fd);
        errno = err;
        return nullptr;
    }
    *handled = true;
    return stream;
}

}  // namespace calltree::fork_thread_count
