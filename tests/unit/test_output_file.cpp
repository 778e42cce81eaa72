#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
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
    try {
        AtomicOutputFile file("/dev/full");
        file.stream() << std::string(1 << 20, 'x');
        file.commit();
        FAIL() << "writing to /dev/full succeeded";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fs::exists("/dev/full"));  // written in place, never renamed over
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

TEST(OutputFile, UnwritableDirectoryIsRejected) {
    if (geteuid() == 0) GTEST_SKIP() << "root ignores permission bits";
    TempDir dir;
    chmod(dir.path.c_str(), 0500);
    EXPECT_THROW(check_output_writable((dir.path / "x").string()), std::runtime_error);
    chmod(dir.path.c_str(), 0700);
}
