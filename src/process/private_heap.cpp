#include "process/private_heap.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>

namespace calltree::private_heap {

uintptr_t g_base = 0;
size_t g_size = 0;

namespace {

// Address space only (PROT_NONE costs no memory and no commit charge); made writable in steps.
constexpr size_t kReserve = size_t{16} << 30;
constexpr size_t kCommitStep = size_t{8} << 20;
// Blocks are powers of two (32 B up), each starting with a header. Helpers allocate little and
// mostly in growing vectors, whose capacities double anyway.
constexpr unsigned kMinClass = 5;
constexpr unsigned kClasses = 40;
constexpr size_t kHeader = 16;
// Freed blocks at least this large give their pages back.
constexpr unsigned kReturnPagesFrom = 21;

struct Header {
    uint32_t klass;
    uint32_t offset;  // from the block's start to the pointer handed out
    uint64_t unused;
};

struct FreeBlock {
    FreeBlock* next;
};

std::atomic_flag g_lock = ATOMIC_FLAG_INIT;
uintptr_t g_next = 0, g_committed = 0;
FreeBlock* g_free[kClasses] = {};
pid_t g_owner = 0;

// Fork: a thread of the parent may have held the lock; the child has none of those threads.
void forget_parent_state() {
    g_lock.clear(std::memory_order_release);
    for (FreeBlock*& head : g_free) head = nullptr;  // blocks in the middle of an update are lost, not reused
    g_owner = getpid();
}

class Locked {
public:
    Locked() {
        for (unsigned spins = 0; g_lock.test_and_set(std::memory_order_acquire); ++spins)
            if (spins > 64) sched_yield();
    }
    ~Locked() { g_lock.clear(std::memory_order_release); }
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;
};

unsigned class_for(size_t bytes) {
    unsigned klass = kMinClass;
    while (klass < kClasses && (size_t{1} << klass) < bytes) ++klass;
    return klass;
}

// Under the lock. A block of 2^klass bytes, aligned to its size up to a page.
uintptr_t take_block(unsigned klass) {
    if (FreeBlock* block = g_free[klass]) {
        g_free[klass] = block->next;
        return reinterpret_cast<uintptr_t>(block);
    }
    size_t bytes = size_t{1} << klass;
    size_t align = bytes < 4096 ? bytes : 4096;
    uintptr_t start = (g_next + align - 1) & ~(align - 1);
    if (start + bytes > g_base + g_size) return 0;
    if (start + bytes > g_committed) {
        uintptr_t end = (start + bytes + kCommitStep - 1) & ~(kCommitStep - 1);
        if (end > g_base + g_size) end = g_base + g_size;
        if (mprotect(reinterpret_cast<void*>(g_committed), end - g_committed, PROT_READ | PROT_WRITE) != 0) return 0;
        g_committed = end;
    }
    g_next = start + bytes;
    return start;
}

}  // namespace

bool reserve() {
    if (g_size != 0) {
        // A fork child whose atfork handlers ran in another order than registered still starts clean.
        if (g_owner != getpid()) forget_parent_state();
        return true;
    }
    // Address space counts against RLIMIT_AS even unused: take at most a quarter of a limit.
    size_t size = kReserve;
    struct rlimit limit {};
    if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur / 4 < size)
        size = static_cast<size_t>(limit.rlim_cur / 4) & ~(kCommitStep - 1);
    if (size < kCommitStep) return false;
    void* region = mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (region == MAP_FAILED) return false;
    g_next = g_committed = reinterpret_cast<uintptr_t>(region);
    g_owner = getpid();
    pthread_atfork(nullptr, nullptr, forget_parent_state);
    g_base = reinterpret_cast<uintptr_t>(region);
    g_size = size;
    return true;
}

void* allocate(size_t size, size_t alignment) {
    if (alignment < kHeader) alignment = kHeader;
    if (size > g_size || alignment > g_size) return nullptr;
    unsigned klass = class_for(size + alignment + (alignment > kHeader ? kHeader : 0));
    if (klass >= kClasses) return nullptr;
    uintptr_t start;
    {
        Locked lock;
        start = take_block(klass);
    }
    if (start == 0) return nullptr;
    uintptr_t user = (start + kHeader + alignment - 1) & ~(alignment - 1);
    auto* header = reinterpret_cast<Header*>(user - kHeader);
    header->klass = klass;
    header->offset = static_cast<uint32_t>(user - start);
    return reinterpret_cast<void*>(user);
}

void release(void* p) {
    const auto* header = reinterpret_cast<const Header*>(static_cast<char*>(p) - kHeader);
    unsigned klass = header->klass;
    uintptr_t start = reinterpret_cast<uintptr_t>(p) - header->offset;
    if (klass >= kReturnPagesFrom) madvise(reinterpret_cast<void*>(start + 4096), (size_t{1} << klass) - 4096, MADV_DONTNEED);
    Locked lock;
    auto* block = reinterpret_cast<FreeBlock*>(start);
    block->next = g_free[klass];
    g_free[klass] = block;
}

size_t usable_size(const void* p) {
    const auto* header = reinterpret_cast<const Header*>(static_cast<const char*>(p) - kHeader);
    return (size_t{1} << header->klass) - header->offset;
}

}  // namespace calltree::private_heap
