#include "collect/shared/code_registry.h"

#include <sys/mman.h>

#include <new>
#include <type_traits>

#include "cpython/boundary.h"
#include "collect/shared/line_table.h"
#include "process/safe_copy.h"

namespace calltree {

struct CodeRegistry::Slot {
    std::atomic<uintptr_t> code{0};  // 0: free; claimed by CAS
    // id + 1, published last: the entry is complete once it is set. Zero (as mmap gives it) is
    // "not yet", so the table needs no initialisation and only touched pages cost memory.
    std::atomic<uint32_t> id_plus_one{0};
    // A code object's address can be reused by another after it is freed; these tell them apart.
    const void* qualname_object;
    const void* filename_object;
    const void* linetable_object;
    int32_t first_line;
    Text name, file, module, line_table;
};

namespace {
// Anonymous mappings cost nothing until touched, so generous sizes are free for small programs.
void* map_zeroed(size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
}

size_t hash_pointer(uintptr_t p) {
    uint64_t x = p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return static_cast<size_t>(x);
}
}  // namespace

CodeRegistry::CodeRegistry(size_t slots, size_t arena_bytes) {
    size_t n = 64;
    while (n < slots) n <<= 1;
    mask_ = n - 1;
    slots_ = static_cast<Slot*>(map_zeroed(n * sizeof(Slot)));
    static_assert(std::is_trivially_destructible_v<Slot>, "slots live in raw zeroed memory");
    id_capacity_ = n / 2;  // keeps probes short: the table is never more than half full
    by_id_ = static_cast<uint32_t*>(map_zeroed(id_capacity_ * sizeof(uint32_t)));
    arena_bytes_ = arena_bytes;
    arena_ = static_cast<char*>(map_zeroed(arena_bytes));
}

CodeRegistry::~CodeRegistry() {
    munmap(slots_, (mask_ + 1) * sizeof(Slot));
    munmap(by_id_, id_capacity_ * sizeof(uint32_t));
    munmap(arena_, arena_bytes_);
}

bool CodeRegistry::copy_bytes(const char* bytes, size_t size, Text* out) {
    *out = Text{0, 0};
    size_t at = arena_used_.fetch_add(size, std::memory_order_relaxed);
    if (at + size > arena_bytes_) return false;
    // The interpreter's memory: a code object read from a stale frame may be gone.
    if (!ct_safe_copy(arena_ + at, bytes, size)) return true;
    *out = Text{static_cast<uint32_t>(at), static_cast<uint32_t>(size)};
    return true;
}

bool CodeRegistry::copy_text(const void* text, Text* out) {
    *out = Text{0, 0};
    if (text == nullptr) return true;
    char probe[1];
    ptrdiff_t length = ct_text_bytes(text, probe, 0);
    if (length <= 0) return length == 0 || length == -1;
    size_t at = arena_used_.fetch_add(static_cast<size_t>(length), std::memory_order_relaxed);
    if (at + static_cast<size_t>(length) > arena_bytes_) return false;
    // The text is read twice: a stale object may have changed (or gone) in between.
    if (ct_text_bytes(text, arena_ + at, static_cast<size_t>(length)) != length) return true;
    *out = Text{static_cast<uint32_t>(at), static_cast<uint32_t>(length)};
    return true;
}

uint32_t CodeRegistry::intern(const ct_raw_frame& frame) {
    const void* code = frame.code;
    ct_code_facts facts;
    if (!ct_code_facts_of(code, &facts, 0)) return kNone;
    const auto key = reinterpret_cast<uintptr_t>(code);
    for (size_t i = hash_pointer(key) & mask_, probes = 0; probes <= mask_; i = (i + 1) & mask_, ++probes) {
        Slot& s = slots_[i];
        uintptr_t seen = s.code.load(std::memory_order_acquire);
        if (seen == key) {
            uint32_t id_plus_one = s.id_plus_one.load(std::memory_order_acquire);
            if (id_plus_one == 0) return kNone;  // being filled by another thread right now
            uint32_t id = id_plus_one - 1;
            if (s.qualname_object == facts.qualname_object && s.filename_object == facts.filename_object &&
                s.linetable_object == facts.linetable_object && s.first_line == facts.first_line)
                return id;
            continue;  // an older code object that lived at this address
        }
        if (seen != 0) continue;
        if (!s.code.compare_exchange_strong(seen, key, std::memory_order_acq_rel)) {
            if (seen != key) continue;
            return kNone;  // another thread claimed it for the same code object just now
        }
        // Ids are handed out in claim order; a claim that cannot complete leaves a slot whose id
        // stays kNone (never returned), which only costs that slot.
        size_t id = count_.fetch_add(1, std::memory_order_acq_rel);
        if (id >= id_capacity_) {
            overflows_.fetch_add(1, std::memory_order_relaxed);
            return kNone;
        }
        ct_code_facts_of(code, &facts, 1);  // the line table too, at first sight only
        s.qualname_object = facts.qualname_object;
        s.filename_object = facts.filename_object;
        s.linetable_object = facts.linetable_object;
        s.first_line = facts.first_line;
        bool ok = copy_text(facts.qualname_object, &s.name) && copy_text(facts.filename_object, &s.file) &&
                  copy_text(ct_frame_module(&frame), &s.module) &&
                  copy_bytes(facts.line_table, facts.line_table_size, &s.line_table);
        if (!ok) {
            s.name = s.file = s.module = s.line_table = Text{0, 0};
            overflows_.fetch_add(1, std::memory_order_relaxed);
        }
        by_id_[id] = static_cast<uint32_t>(i);
        s.id_plus_one.store(static_cast<uint32_t>(id + 1), std::memory_order_release);
        return static_cast<uint32_t>(id);
    }
    overflows_.fetch_add(1, std::memory_order_relaxed);
    return kNone;
}

CodeRegistry::Entry CodeRegistry::entry(uint32_t id) const {
    const Slot& s = slots_[by_id_[id]];
    return Entry{view(s.name), view(s.file), view(s.module), view(s.line_table), s.first_line};
}

uint32_t LineCache::line(const CodeRegistry& registry, uint32_t function, int32_t lasti) {
    uint64_t key = uint64_t{function} << 32 | static_cast<uint32_t>(lasti);
    if (const uint32_t* line = lines_.find(key)) return *line;
    CodeRegistry::Entry e = registry.entry(function);
    uint32_t line = line_for_offset(e.line_table, e.first_line, lasti);
    lines_.insert(key, line);
    return line;
}

}  // namespace calltree
