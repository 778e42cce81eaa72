#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>

#include "formats/output_file.h"

using namespace calltree;
namespace fs = std::filesystem;

namespace {
struct TempDir {
    fs::path path;
    TempDir() {
        char templ[] = "/tmp/calltree_out_XXXXXX";
        path = mkdtemp(templ);
    }
    ~TempDir() { fs::remove_all(path); }
    size_t entries() const { return static_cast<size_t>(std::distance(fs::directory_iterator(path), fs::directory_iterator())); }
};
}  // namespace

TEST(OutputFile, CommitRenamesIntoPlace) {
    TempDir dir;
    std::string target = (dir.path / "out.callgrind").string();
    {
        AtomicOutputFile file(target);
        file.stream() << "data\n";
        EXPECT_FALSE(fs::exists(target));  // readers never see a partial file
        EXPECT_EQ(dir.entries(), 1u);
        file.commit();
    }
    std::ifstream in(target);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "data");
    EXPECT_EQ(dir.entries(), 1u);
}

TEST(OutputFile, UnsyncedCommitReplacesAnExistingFileAtomically) {
    TempDir dir;
    std::string target = (dir.path / "out.callgrind").string();
    std::ofstream(target) << "old\n";
    for (const char* content : {"new\n", "newer\n"}) {
        AtomicOutputFile file(target);
        file.stream() << content;
        std::ifstream before(target);
        std::string line;
        std::getline(before, line);
        EXPECT_NE(line + "\n", content);  // the previous version until the commit
        file.commit(AtomicOutputFile::Durability::Unsynced);
        std::ifstream after(target);
        std::getline(after, line);
        EXPECT_EQ(line + "\n", content);
        EXPECT_EQ(dir.entries(), 1u);  // the replaced file is gone, no temporary is left
    }
    // Nothing to replace: a plain rename.
    std::string fresh = (dir.path / "fresh.callgrind").string();
    AtomicOutputFile file(fresh);
    file.stream() << "x\n";
    file.commit(AtomicOutputFile::Durability::Unsynced);
    EXPECT_TRUE(fs::exists(fresh));
    EXPECT_EQ(dir.entries(), 2u);
}

TEST(OutputFile, AbandonedWriteLeavesNothingBehind) {
    TempDir dir;
    std::string target = (dir.path / "out.callgrind").string();
    { AtomicOutputFile file(target); file.stream() << "partial"; }
    EXPECT_EQ(dir.entries(), 0u);
}

TEST(OutputFile, FullDiskIsAnErrorWithTheReason) {
    // The premise: writing to /dev/full really fails with ENOSPC on this machine.
    int fd = open("/dev/full", O_WRONLY);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    errno = 0;
    EXPECT_EQ(write(fd, "x", 1), -1);
    EXPECT_EQ(errno, ENOSPC);
    close(fd);
    try {
        AtomicOutputFile file("/dev/full");
        file.stream() << std::string(1 << 20, 'x');
        file.commit();
        FAIL() << "writing to /dev/full succeeded";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
    }
    // Never replaced by a regular file (as root a rename over it would succeed).
    EXPECT_TRUE(fs::is_character_file("/dev/full"));
}

TEST(OutputFile, CheckWritableExplainsTheProblem) {
    EXPECT_NO_THROW(check_output_writable("-"));
    EXPECT_NO_THROW(check_output_writable("/dev/null"));
    TempDir dir;
    EXPECT_NO_THROW(check_output_writable((dir.path / "new.out").string()));
    try {
        check_output_writable("/nonexistent-dir/out");
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
    }
    EXPECT_THROW(check_output_writable("/dev/null/out"), std::runtime_error);  // parent is not a directory
    EXPECT_THROW(check_output_writable(dir.path.string()), std::runtime_error);  // a directory
}

namespace {

// Runs `body` in a child process in which `dir` cannot be written, even when the tests run as
// root (CI does, and root ignores permission bits): a read-only tmpfs is mounted over `dir` in a
// private mount namespace, or, where mounting is not allowed, the child drops to user nobody
// (after `dir` is made read-only for everyone). Returns the child's exit status, or -1 and the
// reason in `why` when neither is possible.
int run_where_unwritable(const fs::path& dir, const std::function<int()>& body, std::string& why) {
    if (geteuid() != 0) {
        chmod(dir.c_str(), 0555);
        int status = body();
        chmod(dir.c_str(), 0700);
        return status;
    }
    chmod(dir.c_str(), 0555);
    int pipefd[2];
    if (pipe(pipefd) != 0) return why = "pipe failed", -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        char how = 'm';
        bool mounted = unshare(CLONE_NEWNS) == 0 && mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
                       mount("tmpfs", dir.c_str(), "tmpfs", MS_RDONLY, nullptr) == 0;
        if (!mounted) {
            how = 'u';
            if (setgid(65534) != 0 || setuid(65534) != 0) how = 'x';
        }
        if (write(pipefd[1], &how, 1) != 1) _exit(100);
        close(pipefd[1]);
        _exit(how == 'x' ? 101 : body());
    }
    close(pipefd[1]);
    char how = 0;
    if (read(pipefd[0], &how, 1) != 1) how = 0;
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    chmod(dir.c_str(), 0700);
    if (how == 'x') return why = "as root, neither a read-only mount nor setuid(nobody) is permitted", -1;
    std::printf("unwritable directory made by %s\n", how == 'm' ? "a read-only tmpfs mount" : "dropping to user nobody");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST(OutputFile, UnwritableDirectoryIsRejected) {
    TempDir dir;
    std::string target = (dir.path / "x").string();
    // Exit codes: 0 both refused with the reason, 1 the check passed, 2 wrong message,
    // 3 the file could be created.
    auto body = [&]() -> int {
        try {
            check_output_writable(target);
            return 1;
        } catch (const std::runtime_error& e) {
            std::string what = e.what();
            if (what.find("directory '" + dir.path.string() + "'") == std::string::npos ||
                (what.find(std::strerror(EACCES)) == std::string::npos &&
                 what.find(std::strerror(EROFS)) == std::string::npos)) {
                std::fprintf(stderr, "unexpected message: %s\n", what.c_str());
                return 2;
            }
        }
        try {
            AtomicOutputFile file(target);
            return 3;
        } catch (const std::runtime_error&) {
        }
        return 0;
    };
    std::string why;
    int status = run_where_unwritable(dir.path, body, why);
    if (status < 0) GTEST_SKIP() << why;
    EXPECT_EQ(status, 0);
    EXPECT_EQ(dir.entries(), 0u);
}
