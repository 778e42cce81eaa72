// The heap of calltree's own threads (helper_thread.h): a region of its own, apart from glibc's.
// Those threads never allocate from or free into glibc's heap, so glibc's malloc can go on
// believing the program has one thread, as under python3 (its single-thread path takes no lock:
// 9% faster on a malloc-heavy phase, measured). Used only by the allocator interposers.
#pragma once
#include <cstddef>
#include <cstdint>

namespace calltree::private_heap {

// The reserved region; both zero until reserve(), so owns() is false for every pointer.
extern uintptr_t g_base;
extern size_t g_size;

inline bool owns(const void* p) { return reinterpret_cast<uintptr_t>(p) - g_base < g_size; }

// Reserves the region (address space only). Called before each helper thread starts.
bool reserve();
// Thread-safe. nullptr when the region is exhausted. alignment: a power of two.
void* allocate(size_t size, size_t alignment = 16);
void release(void* p);  // p: a block this heap handed out
size_t usable_size(const void* p);

}  // namespace calltree::private_heap
