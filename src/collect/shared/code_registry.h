// Interns code objects from any thread, inside a signal handler or an allocation hook: a
// fixed-size open-addressing table claimed with compare-and-swap, names and line tables copied
// into a preallocated arena at first sight. No locks, no allocation, no Python API, so the
// sampler's handler (and the memory hooks) can name what they see without the GIL; the copies
// stay valid after the code object is gone, and the profile is built from them afterwards.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cpython/boundary.h"
#include "model/flat_map.h"

namespace calltree {

class CodeRegistry {
public:
    static constexpr uint32_t kNone = ~0u;

    // `slots` is rounded up to a power of two; `arena_bytes` holds the copied text.
    CodeRegistry(size_t slots, size_t arena_bytes);
    ~CodeRegistry();
    CodeRegistry(const CodeRegistry&) = delete;
    CodeRegistry& operator=(const CodeRegistry&) = delete;

    // The id of the frame's code object, interning it (and the frame's module) at first sight.
    // kNone if the table or arena is full, or another thread is interning the same code object
    // at this very moment. Signal-safe.
    uint32_t intern(const ct_raw_frame& frame);

    struct Entry {
        std::string_view name;        // co_qualname
        std::string_view file;        // co_filename, original bytes
        std::string_view module;      // the function's __module__ (may be empty)
        std::string_view line_table;  // co_linetable
        int32_t first_line;
    };
    // Valid ids come from intern(); readable from any thread once intern() returned them.
    Entry entry(uint32_t id) const;
    // Ids handed out so far (some may be failed claims) and the most there can be.
    size_t size() const { return count_.load(std::memory_order_acquire); }
    size_t capacity() const { return id_capacity_; }
    // How many interns failed for lack of room.
    uint64_t overflows() const { return overflows_.load(std::memory_order_relaxed); }

private:
    struct Slot;
    struct Text {
        uint32_t offset, length;
    };
    bool copy_text(const void* text, Text* out);
    bool copy_bytes(const char* bytes, size_t size, Text* out);
    std::string_view view(Text t) const { return {arena_ + t.offset, t.length}; }

    Slot* slots_;
    size_t mask_;
    char* arena_;
    size_t arena_bytes_;
    std::atomic<size_t> arena_used_{0};
    std::atomic<size_t> count_{0};
    std::atomic<uint64_t> overflows_{0};
    uint32_t* by_id_;  // id -> slot index, written before the id is published
    size_t id_capacity_;
};

// Lines of (registry id, instruction offset) pairs, decoded from the registry's copies of the
// location tables once per pair: stacks repeat the same few offsets over and over.
class LineCache {
public:
    uint32_t line(const CodeRegistry& registry, uint32_t function, int32_t lasti);

private:
    FlatMap<uint64_t, uint32_t, U64Hash> lines_{~uint64_t{0}};
};

// Names the frames of one stack read, innermost first. A code object met again within the last
// few frames of the same read is the same object (the stack was read at one instant), so its id is
// reused without reading the object again: for a recursion, mutual ones included, this saves the
// reads that dominate a stack read from outside (a system call each). Signal-safe, no allocation.
class StackNamer {
public:
    explicit StackNamer(CodeRegistry& registry) : registry_(registry) {}
    uint32_t id(const ct_raw_frame& frame) {
        for (const Seen& s : recent_)
            if (s.code == frame.code && s.id != CodeRegistry::kNone) return s.id;
        uint32_t id = registry_.intern(frame);
        recent_[next_++ % kRecent] = Seen{frame.code, id};
        return id;
    }

private:
    static constexpr size_t kRecent = 4;
    struct Seen {
        const void* code = nullptr;
        uint32_t id = CodeRegistry::kNone;
    };
    CodeRegistry& registry_;
    Seen recent_[kRecent];
    size_t next_ = 0;
};

}  // namespace calltree
