// calltree's helper threads against glibc itself: the test binary links the allocator
// interposers, as libcalltree.so does, so malloc here is calltree's.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <atomic>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "process/fork_thread_count.h"
#include "process/helper_thread.h"
#include "process/private_heap.h"

namespace {

using calltree::private_heap::owns;
namespace helper_thread = calltree::helper_thread;

void* run_function(void* fn) {
    (*static_cast<std::function<void()>*>(fn))();
    return nullptr;
}

// Runs fn on a helper thread and waits for it.
void on_helper(std::function<void()> fn) {
    pthread_t thread;
    ASSERT_TRUE(helper_thread::start(run_function, &fn, &thread));
    pthread_join(thread, nullptr);
}

void* nothing(void*) { return nullptr; }

// What the speed gain rests on: glibc keeps __libc_single_threaded itself (a thread it starts
// clears it), and a helper thread leaves it set.
TEST(HelperThread, GlibcStillSeesOneThreadAfterAHelperButNotAfterAPlainThread) {
    ASSERT_TRUE(helper_thread::glibc_sees_one_thread()) << "the test binary started a thread before this test";
    on_helper([] {});
    EXPECT_TRUE(helper_thread::glibc_sees_one_thread());
    pthread_t plain;
    ASSERT_EQ(pthread_create(&plain, nullptr, nothing, nullptr), 0);
    pthread_join(plain, nullptr);
    EXPECT_FALSE(helper_thread::glibc_sees_one_thread());
}

TEST(HelperThread, AllocatesOnlyFromThePrivateHeap) {
    std::vector<void*> blocks;
    on_helper([&] {
        for (size_t size : {size_t{1}, size_t{24}, size_t{4000}, size_t{1} << 20, size_t{3} << 22}) {
            void* p = malloc(size);
            ASSERT_NE(p, nullptr);
            memset(p, 0xab, size);
            blocks.push_back(p);
        }
        void* zeroed = calloc(1000, 8);
        ASSERT_NE(zeroed, nullptr);
        EXPECT_EQ(std::string(static_cast<char*>(zeroed), 8000), std::string(8000, '\0'));
        blocks.push_back(zeroed);
        void* aligned = nullptr;
        ASSERT_EQ(posix_memalign(&aligned, 4096, 100), 0);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(aligned) % 4096, 0u);
        blocks.push_back(aligned);
        std::string grown;  // C++ containers go the same way
        for (int i = 0; i < 10000; ++i) grown += 'x';
        EXPECT_TRUE(owns(grown.data()));
        for (void* p : blocks) EXPECT_TRUE(owns(p));
    });
    void* mine = malloc(64);
    EXPECT_FALSE(owns(mine));
    free(mine);
    // The program's thread may free (and resize) what a helper made.
    void* moved = realloc(blocks[1], 100000);
    ASSERT_NE(moved, nullptr);
    EXPECT_FALSE(owns(moved));
    EXPECT_EQ(static_cast<unsigned char*>(moved)[23], 0xab);
    free(moved);
    for (size_t i = 0; i < blocks.size(); ++i)
        if (i != 1) free(blocks[i]);
}

TEST(HelperThread, ResizesAGlibcBlockWithoutFreeingIt) {
    char* made_before = static_cast<char*>(malloc(32));
    strcpy(made_before, "made by the program's thread");
    char* resized = nullptr;
    on_helper([&] { resized = static_cast<char*>(realloc(made_before, 5000)); });
    ASSERT_NE(resized, nullptr);
    EXPECT_TRUE(owns(resized));
    EXPECT_STREQ(resized, "made by the program's thread");
    EXPECT_STREQ(made_before, "made by the program's thread");  // still allocated: untouched
    free(resized);
    free(made_before);
}

TEST(HelperThread, FreedBlocksAreReused) {
    void* first = nullptr;
    void* second = nullptr;
    on_helper([&] {
        first = malloc(200);
        free(first);
        second = malloc(200);
        free(second);
    });
    EXPECT_EQ(first, second);
}

// A helper with a descriptor table of its own: what it opens never takes the number the
// program's next descriptor gets, it holds none of the program's files (a pipe the program
// closes reads as EOF while the helper still runs), and emptying its copy of the table released
// none of the program's POSIX locks.
TEST(HelperThread, PrivateFilesAreInvisibleToTheProgram) {
    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    char lock_path[] = "/tmp/calltree_helper_lock_XXXXXX";
    int locked = mkstemp(lock_path);
    ASSERT_GE(locked, 0);
    unlink(lock_path);
    struct flock whole {};
    whole.l_type = F_WRLCK;
    whole.l_whence = SEEK_SET;
    ASSERT_EQ(fcntl(locked, F_SETLK, &whole), 0);
    int lowest = dup(0);
    ASSERT_GE(lowest, 0);
    close(lowest);

    std::atomic<int> opened{-2};
    std::atomic<bool> done{false};
    bool private_files = false, saw_program_pipe = true;
    std::function<void()> helper = [&] {
        private_files = helper_thread::has_private_files();
        saw_program_pipe = fcntl(pipe_fds[1], F_GETFD) != -1;
        opened.store(open("/proc/self/stat", O_RDONLY | O_CLOEXEC));
        while (!done.load()) usleep(1000);
        close(opened.load());
    };
    pthread_t thread;
    ASSERT_TRUE(helper_thread::start(run_function, &helper, &thread, helper_thread::Files::Private));
    while (opened.load() == -2) usleep(1000);
    EXPECT_TRUE(private_files);
    EXPECT_FALSE(saw_program_pipe);
    EXPECT_GE(opened.load(), 0);
    int next = dup(0);
    EXPECT_EQ(next, lowest);
    close(next);
    close(pipe_fds[1]);
    pollfd readable{pipe_fds[0], POLLIN, 0};
    EXPECT_EQ(poll(&readable, 1, 2000), 1);
    char byte;
    EXPECT_EQ(read(pipe_fds[0], &byte, 1), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        struct flock probe {};
        probe.l_type = F_WRLCK;
        probe.l_whence = SEEK_SET;
        _exit(fcntl(locked, F_GETLK, &probe) == 0 && probe.l_type == F_WRLCK && probe.l_pid == getppid() ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the program's lock was released";
    done.store(true);
    pthread_join(thread, nullptr);
    close(pipe_fds[0]);
    close(locked);
}

// A fork child may find the heap's lock taken by a helper of the parent: it starts clean.
TEST(HelperThread, WorksInAForkChildForkedWhileAHelperAllocates) {
    std::atomic<bool> stop{false};
    pthread_t busy;
    std::function<void()> churn = [&] {
        while (!stop.load()) free(malloc(64));
    };
    ASSERT_TRUE(helper_thread::start(run_function, &churn, &busy));
    for (int i = 0; i < 20; ++i) {
        pid_t child = fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            bool ok = true;
            std::function<void()> work = [&] { ok = owns(malloc(128)); };
            pthread_t thread;
            if (!helper_thread::start(run_function, &work, &thread)) _exit(2);
            pthread_join(thread, nullptr);
            _exit(ok ? 0 : 1);
        }
        int status = 0;
        ASSERT_EQ(waitpid(child, &status, 0), child);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    }
    stop.store(true);
    pthread_join(busy, nullptr);
}

}  // namespace

namespace {

// Field 20 of /proc/self/stat as fopen shows it (what CPython's os.fork() reads), and as the
// kernel's file has it, read with open().
int stat_threads(bool through_fopen) {
    char line[1024] = {};
    if (through_fopen) {
        FILE* f = fopen("/proc/self/stat", "r");
        if (f == nullptr) return -1;
        size_t n = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[n] = '\0';
    } else {
        int fd = open("/proc/self/stat", O_RDONLY);
        if (fd < 0) return -1;
        ssize_t n = read(fd, line, sizeof line - 1);
        close(fd);
        if (n <= 0) return -1;
    }
    const char* p = strrchr(line, ')');
    for (int field = 2; p != nullptr && field < 20; ++field) p = strchr(p + 1, ' ');
    return p != nullptr ? atoi(p + 1) : -1;
}

std::string without(std::string line, int hidden) {
    line.resize(line.size() + 8);
    size_t size = calltree::fork_thread_count::without_threads(line.data(), line.size() - 8, line.size(), hidden);
    line.resize(size);
    return line;
}

}  // namespace

// The fields after the command name are counted from its last ')': a name may hold spaces and
// parentheses.
TEST(ForkThreadCount, TakesHelpersOutOfField20) {
    std::string line = "42 (a) b (c) S 1 42 42 0 -1 4194560 10 0 0 0 1 2 0 0 20 0 12 0 77 0\n";
    EXPECT_EQ(without(line, 2), "42 (a) b (c) S 1 42 42 0 -1 4194560 10 0 0 0 1 2 0 0 20 0 10 0 77 0\n");
    EXPECT_EQ(without(line, 11), "42 (a) b (c) S 1 42 42 0 -1 4194560 10 0 0 0 1 2 0 0 20 0 1 0 77 0\n");
    EXPECT_EQ(without(line, 30), "42 (a) b (c) S 1 42 42 0 -1 4194560 10 0 0 0 1 2 0 0 20 0 1 0 77 0\n");
    EXPECT_EQ(without(line, 0), line);
    EXPECT_EQ(without("42 (no closing S 1 2", 1), "42 (no closing S 1 2");
    EXPECT_EQ(without("42 (short) S 1 2", 1), "42 (short) S 1 2");
}

// running() counts a helper while the kernel does, and forgets it once the kernel has reaped it.
TEST(ForkThreadCount, CountsRunningHelpers) {
    int before = stat_threads(false);
    EXPECT_EQ(helper_thread::running(), 0);
    std::atomic<bool> release{false};
    auto wait = [](void* flag) -> void* {
        while (!static_cast<std::atomic<bool>*>(flag)->load()) usleep(1000);
        return nullptr;
    };
    pthread_t thread;
    ASSERT_TRUE(helper_thread::start(wait, &release, &thread));
    EXPECT_EQ(helper_thread::running(), 1);
    EXPECT_EQ(stat_threads(false), before + 1);
    release.store(true);
    pthread_join(thread, nullptr);
    for (int i = 0; i < 1000 && stat_threads(false) != before; ++i) usleep(1000);
    EXPECT_EQ(helper_thread::running(), 0);
}

// After a fork, the parent's next fopen of /proc/self/stat on the forking thread counts no
// helper; the one after that, and open() always, show the kernel's count. The child counts none.
TEST(ForkThreadCount, OnlyTheReadAfterAForkLeavesHelpersOut) {
    calltree::fork_thread_count::enable();
    std::atomic<bool> release{false};
    auto wait = [](void* flag) -> void* {
        while (!static_cast<std::atomic<bool>*>(flag)->load()) usleep(1000);
        return nullptr;
    };
    pthread_t thread;
    ASSERT_TRUE(helper_thread::start(wait, &release, &thread));
    int with_helper = stat_threads(true);
    EXPECT_EQ(with_helper, stat_threads(false));
    pid_t pid = fork();
    if (pid == 0) _exit(helper_thread::running() == 0 ? 0 : 1);
    EXPECT_EQ(stat_threads(true), with_helper - 1);
    EXPECT_EQ(stat_threads(true), with_helper);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_EQ(status, 0);
    release.store(true);
    pthread_join(thread, nullptr);
}
