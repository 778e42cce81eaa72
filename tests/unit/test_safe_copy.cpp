// The guarded reads (process/safe_copy.h) and the fault guard behind them, against the kernel:
// unreadable memory makes a read fail, never fault, and any other fault still reaches whatever
// the program set for SIGSEGV, as it would without calltree.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "process/fault_guard.h"
#include "process/safe_copy.h"

extern "C" int __sigaction(int sig, const struct sigaction* act, struct sigaction* old);

namespace {

struct Pages {
    char* base;
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    // Two pages: the first readable, the second not.
    Pages() {
        base = static_cast<char*>(mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        memset(base, 'x', page);
        mprotect(base + page, page, PROT_NONE);
    }
    ~Pages() { munmap(base, 2 * page); }
};

void expect_reads_fail_safely() {
    Pages p;
    char out[64] = {};
    EXPECT_EQ(ct_safe_copy(out, p.base + p.page - 8, 8), 1);
    EXPECT_EQ(std::string(out, 8), "xxxxxxxx");
    // Straddling the end of the readable page, wholly past it, and in no mapping at all.
    EXPECT_EQ(ct_safe_copy(out, p.base + p.page - 8, 16), 0);
    EXPECT_EQ(ct_safe_copy(out, p.base + p.page, 8), 0);
    uintptr_t word = 0;
    EXPECT_EQ(ct_safe_word(p.base + p.page, &word), 0);
    EXPECT_EQ(ct_safe_word(reinterpret_cast<const void*>(0x10), &word), 0);
    // A non-canonical address raises a general protection fault, not a page fault.
    EXPECT_EQ(ct_safe_word(reinterpret_cast<const void*>(0x8000000000001000ULL), &word), 0);
    EXPECT_EQ(ct_safe_word(p.base, &word), 1);
    EXPECT_EQ(word, 0x7878787878787878ULL);
}

// Every length and alignment up to a few words, wholly readable and running into the
// unreadable page by one byte.
void expect_every_length_and_alignment() {
    Pages p;
    for (size_t i = 0; i < p.page; ++i) p.base[i] = static_cast<char>(i * 7);
    for (size_t length = 0; length <= 40; ++length)
        for (size_t misalign = 0; misalign < 8; ++misalign) {
            const char* src = p.base + p.page - length - misalign;
            char out[48];
            memset(out, 0, sizeof out);
            ASSERT_EQ(ct_safe_copy(out, src, length), 1) << length << " " << misalign;
            ASSERT_EQ(memcmp(out, src, length), 0) << length << " " << misalign;
            if (misalign == 0 && length > 0) {
                ASSERT_EQ(ct_safe_copy(out, src + 1, length), 0) << length;
            }
        }
}

TEST(SafeCopy, FailsWithoutTheGuardThroughTheSystemCall) {
    expect_reads_fail_safely();
    expect_every_length_and_alignment();
}

TEST(SafeCopy, FailsWithTheGuardAndCountsTheRecoveredFaults) {
    ASSERT_TRUE(calltree::fault_guard::install());
    uint64_t before = calltree::fault_guard::recovered();
    expect_reads_fail_safely();
#if defined(__x86_64__)
    EXPECT_EQ(calltree::fault_guard::recovered() - before, 5u);  // the five failed reads faulted
#endif
    expect_every_length_and_alignment();
    // A thread that blocks SIGSEGV takes the system call: no fault, same answers.
    int was = ct_safe_copy_by_syscall(1);
    before = calltree::fault_guard::recovered();
    expect_reads_fail_safely();
    EXPECT_EQ(calltree::fault_guard::recovered(), before);
    ct_safe_copy_by_syscall(was);
}

void exit_42(int) { _exit(42); }

TEST(FaultGuardDeathTest, AFaultOutsideAGuardedReadReachesTheProgramsHandler) {
    EXPECT_EXIT(
        {
            struct sigaction program {};
            program.sa_handler = exit_42;
            sigemptyset(&program.sa_mask);
            __sigaction(SIGSEGV, &program, nullptr);
            calltree::fault_guard::install();
            // The kernel has the guard; the program is told its own handler.
            struct sigaction seen {};
            calltree::fault_guard::program_sigaction(SIGSEGV, nullptr, &seen);
            if (seen.sa_handler != exit_42) _exit(1);
            Pages p;
            char out[8];
            if (ct_safe_copy(out, p.base + p.page, 8) != 0) _exit(2);  // still recovered
            *static_cast<volatile char*>(p.base + p.page) = 1;           // a real fault
            _exit(3);
        },
        testing::ExitedWithCode(42), "");
}

#if !defined(__SANITIZE_ADDRESS__)
// (The sanitizers' own SIGSEGV handler is what a sanitized process has instead of SIG_DFL.)
TEST(FaultGuardDeathTest, AFaultWithTheDefaultActionKillsWithSigsegv) {
    EXPECT_EXIT(
        {
            struct sigaction dfl {};
            dfl.sa_handler = SIG_DFL;
            __sigaction(SIGSEGV, &dfl, nullptr);
            calltree::fault_guard::install();
            Pages p;
            *static_cast<volatile char*>(p.base + p.page) = 1;
            _exit(3);
        },
        testing::KilledBySignal(SIGSEGV), "");
}

TEST(FaultGuardDeathTest, ASigsegvSentByKillActsAsTheDefault) {
    EXPECT_EXIT(
        {
            struct sigaction dfl {};
            dfl.sa_handler = SIG_DFL;
            __sigaction(SIGSEGV, &dfl, nullptr);
            calltree::fault_guard::install();
            kill(getpid(), SIGSEGV);
            _exit(3);
        },
        testing::KilledBySignal(SIGSEGV), "");
}
#endif

TEST(FaultGuardDeathTest, AnIgnoredSigsegvSentByKillStaysIgnored) {
    EXPECT_EXIT(
        {
            struct sigaction ign {};
            ign.sa_handler = SIG_IGN;
            __sigaction(SIGSEGV, &ign, nullptr);
            calltree::fault_guard::install();
            kill(getpid(), SIGSEGV);
            _exit(0);
        },
        testing::ExitedWithCode(0), "");
}

}  // namespace
