#include "collect/memory/memory_collector.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cmath>
#include <cstring>
#include <string_view>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "collect/memory/alloc_recorder.h"
#include "cpython/boundary.h"
#include "collect/shared/code_registry.h"
#include "collect/shared/line_table.h"
#include "collect/shared/registry_naming.h"
#include "collect/shared/stack_tree.h"
#include "process/helper_thread.h"

namespace calltree {

bool memory_mode_available() { return g_interposers_linked; }

namespace {

enum Event { kAllocBytes, kAllocs, kLeakBytes, kPeakBytes, kCopyBytes, kEvents };

// The PyMem and PyObject domains, wrapped: a block is counted here, and the malloc the domain
// may call underneath (pymalloc hands requests over 512 bytes to PyMem_RawMalloc) runs under
// the guard so it is not counted again. The raw domain is not wrapped: it is malloc.
//
// Over pymalloc (python3's default), frees are not wrapped at all: a small block that is
// sampled is allocated with PyMem_RawMalloc instead, and pymalloc hands every block that is not
// its own to PyMem_RawFree, so the free of a sampled block still reaches the free interposer,
// which takes it out of the live table; every other small free goes straight to pymalloc (a
// loop allocating an int every 13 ns paid 21% for the wrapped free and its look-up). With other
// allocators (PYTHONMALLOC=debug, malloc) every call is wrapped.
struct Domain {
    PyMemAllocatorEx original;
};
enum DomainIndex { kMemDomain, kObjectDomain };
// pymalloc serves requests up to this size from its own arenas, never through malloc: those
// need no guard (every allocation paid for the guard otherwise).
constexpr size_t kSmallRequest = 512;
Domain g_domains[2];
bool g_direct_free = false;

// A sampled small block, from malloc (see above), once memory::counted_unsampled() said it is
// one. Out of line, like every path but the common one: the common path then needs no saved
// registers and ends in a tail call.
[[gnu::noinline]] void* sampled_small_block(size_t size, bool zeroed) {
    memory::settle_sample_point();
    void* p;
    {
        memory::Guard guard;
        p = zeroed ? PyMem_RawCalloc(1, size) : PyMem_RawMalloc(size == 0 ? 1 : size);
    }
    if (p != nullptr) memory::sample_alloc(p, size);
    return p;
}

// Other allocators, and pymalloc past 512 bytes, may call malloc underneath: under the guard.
template <DomainIndex D>
[[gnu::noinline]] void* guarded_malloc(size_t size) {
    const PyMemAllocatorEx& o = g_domains[D].original;
    if (!memory::counting()) return o.malloc(o.ctx, size);
    void* p;
    {
        memory::Guard guard;
        p = o.malloc(o.ctx, size);
    }
    if (p != nullptr) memory::on_alloc(p, size);
    return p;
}

// Every Python object's allocation passes here (43M times a second on loop_heavy).
template <DomainIndex D>
void* domain_malloc(void*, size_t size) {
    const PyMemAllocatorEx& o = g_domains[D].original;
    if (__builtin_expect(g_direct_free && size <= kSmallRequest, 1)) {
        if (!memory::counting() || __builtin_expect(memory::counted_unsampled(size), 1)) return o.malloc(o.ctx, size);
        return sampled_small_block(size, false);
    }
    return guarded_malloc<D>(size);
}

template <DomainIndex D>
void* domain_calloc(void*, size_t n, size_t size) {
    const PyMemAllocatorEx& o = g_domains[D].original;
    if (!memory::counting()) return o.calloc(o.ctx, n, size);
    size_t bytes = n * size;  // pymalloc fails an overflowing request itself
    if (g_direct_free && bytes <= kSmallRequest && bytes / (size == 0 ? 1 : size) == n) {
        if (__builtin_expect(memory::counted_unsampled(bytes), 1)) return o.calloc(o.ctx, n, size);
        return sampled_small_block(bytes, true);
    }
    void* p;
    {
        memory::Guard guard;
        p = o.calloc(o.ctx, n, size);
    }
    if (p != nullptr) memory::on_alloc(p, bytes);
    return p;
}

template <DomainIndex D>
void* domain_realloc(void*, void* ptr, size_t size) {
    const PyMemAllocatorEx& o = g_domains[D].original;
    if (!memory::counting()) return o.realloc(o.ctx, ptr, size);
    memory::Taken old = memory::take_for_realloc(ptr);
    void* p;
    {
        memory::Guard guard;
        p = o.realloc(o.ctx, ptr, size);
    }
    if (p == nullptr) {
        memory::put_back(ptr, old);
        return p;
    }
    if (!g_direct_free || size > kSmallRequest) {
        memory::on_alloc(p, size);
        return p;
    }
    if (__builtin_expect(!memory::sample_next(size), 1)) return p;
    // Sampled: moved to a block of malloc's, whose free the interposer sees. The copy is ours,
    // not the program's: under the guard.
    void* moved;
    {
        memory::Guard guard;
        moved = PyMem_RawMalloc(size == 0 ? 1 : size);
        if (moved == nullptr) return p;  // keep the block unsampled rather than fail
        memcpy(moved, p, size);
        o.free(o.ctx, p);
    }
    memory::sample_alloc(moved, size);
    return moved;
}

template <DomainIndex D>
void domain_free(void*, void* ptr) {
    const PyMemAllocatorEx& o = g_domains[D].original;
    // A large block is freed again by the interposed free underneath: it finds nothing to do.
    if (ptr != nullptr && memory::counting()) memory::on_free(ptr);
    o.free(o.ctx, ptr);
}

template <DomainIndex D>
void wrap_domain(PyMemAllocatorDomain domain) {
    Domain& d = g_domains[D];
    PyMem_GetAllocator(domain, &d.original);
    // The context is the original one: with frees not wrapped, the original free gets it.
    PyMemAllocatorEx wrapped{d.original.ctx, domain_malloc<D>, domain_calloc<D>, domain_realloc<D>,
                             g_direct_free ? d.original.free : domain_free<D>};
    PyMem_SetAllocator(domain, &wrapped);
}

uint64_t rounded(double v) { return v <= 0 ? 0 : static_cast<uint64_t>(std::llround(v)); }

std::string bytes_text(double bytes) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.0f bytes (%.1f MiB)", bytes, bytes / 1048576.0);
    return buf;
}

class MemoryCollector final : public Collector {
public:
    explicit MemoryCollector(MemoryOptions options) : options_(std::move(options)) {}

    bool start() override {
        if (started_) return true;
        started_ = true;
        // Code objects get ids as the hooks first meet them; names are copied then.
        registry_ = std::make_unique<CodeRegistry>(1 << 16, size_t{32} << 20);
        // Wrapped once per process (the Python API starts the collector again for each block).
        // Frees go straight to pymalloc only when the free interposer is there to see the frees
        // of sampled blocks (libcalltree.so preloaded); the Python API's module has no
        // interposers, so there every free is wrapped.
        static bool wrapped = false;
        if (!wrapped) {
            wrapped = true;
            const char* allocator = ct_python_allocator_name();
            g_direct_free = g_interposers_linked && allocator != nullptr && std::string_view(allocator) == "pymalloc";
            wrap_domain<kMemDomain>(PYMEM_DOMAIN_MEM);
            wrap_domain<kObjectDomain>(PYMEM_DOMAIN_OBJ);
        }
        memory::start(memory::Config{options_.rate, registry_.get(), !options_.in_running_program});
        return true;
    }

    // The domain wrappers stay installed (blocks they saw may still be freed through them);
    // switched off they only forward.
    void stop() override { memory::stop(); }

    void name_functions(NameTable& names) override {
        if (started_) add_registry_namings(*registry_, options_.cwd, names);
    }
    void add_to(Profile& profile, const NameTable& names) override;

private:
    MemoryOptions options_;
    bool started_ = false;
    std::unique_ptr<CodeRegistry> registry_;
    LineCache lines_;
};

void MemoryCollector::add_to(Profile& profile, const NameTable& names) {
    if (!started_) return;
    memory::Guard guard;  // building the profile allocates; none of it is the program's
    Profile own({EventType{"AllocBytes", "Allocated bytes"}, EventType{"Allocs", "Allocations"},
                 EventType{"LeakBytes", "Leaked bytes: allocated here, still live at the end"},
                 EventType{"PeakBytes", "Peak bytes: allocated here, live at the largest footprint"},
                 EventType{"CopyBytes", g_interposers_linked ? "Copied bytes (memcpy/memmove)"
                                                             : "Copied bytes: not measured (needs the calltree command)"}});
    // Tree function indices are registry ids, then the pseudo functions.
    const uint32_t no_frames = static_cast<uint32_t>(registry_->capacity());
    const uint32_t truncated = no_frames + 1, lost = no_frames + 2;
    bool used[3] = {false, false, false};
    StackTree tree(kEvents);
    memory::for_each_stack([&](std::span<const uint32_t> functions, std::span<const int32_t> lastis, bool cut,
                               const memory::StackCosts& c) {
        uint64_t costs[kEvents] = {rounded(c.alloc_bytes), rounded(c.allocs), rounded(c.live), rounded(c.peak),
                                   rounded(c.copy_bytes)};
        bool any = false;
        for (uint64_t v : costs) any = any || v != 0;
        if (!any) return;
        uint32_t node = StackTree::kRoot;
        if (functions.empty()) {
            uint32_t pseudo = cut ? lost : no_frames;
            used[pseudo - no_frames] = true;
            tree.add(tree.child(node, pseudo, 0), costs);
            return;
        }
        if (cut) {
            used[1] = true;
            node = tree.child(node, truncated, 0);
        }
        size_t outermost = program_outermost(*registry_, functions, cut);
        for (size_t i = outermost + 1; i-- > 0;) node = tree.child(node, functions[i], lines_.line(*registry_, functions[i], lastis[i]));
        tree.add(node, costs);
    });
    std::vector<FunctionId> ids = intern_registry_functions(*registry_, options_.cwd, own, 3, names);
    if (used[0]) ids[no_frames] = no_python_frame_function(own);
    if (used[1]) ids[truncated] = truncated_stack_function(own, "<deeper than 128 frames>");
    if (used[2]) ids[lost] = truncated_stack_function(own, "<stack not recorded>");
    // Memory events count no calls: the tracer's or the sampler's arcs carry the counts.
    tree.add_to(own, ids, false);

    memory::Summary s = memory::summary();
    if (!g_interposers_linked)
        own.descriptions.emplace_back("Memory seen", "Python objects only (the PyMem/PyObject allocator domains): started inside "
                                                     "a running program, without calltree's library preloaded, native malloc and "
                                                     "memcpy/memmove are not seen; run the program under `calltree --memory` for them");
    own.descriptions.emplace_back("Memory sampling rate", s.rate == 1 ? std::string("every allocation and copy")
                                                                        : std::to_string(s.rate) + " bytes between samples on average");
    own.descriptions.emplace_back("Memory peak footprint", bytes_text(s.peak_footprint) + " live in blocks allocated while profiling");
    own.descriptions.emplace_back("Memory allocated", bytes_text(s.sampled_bytes) + " in " +
                                                          std::to_string(rounded(s.sampled_allocs)) + " allocations (sampled estimate)");
    own.descriptions.emplace_back("Memory copied", bytes_text(s.sampled_copy_bytes) + " (sampled estimate)");
    own.descriptions.emplace_back("Memory hooks saw", std::to_string(s.allocs_seen) + " allocations of " + std::to_string(s.bytes_seen) +
                                                          " bytes, " + std::to_string(s.copy_bytes_seen) + " bytes copied");
    own.descriptions.emplace_back("Memory samples", std::to_string(s.samples) + " allocations, " + std::to_string(s.copy_samples) +
                                                        " copies, " + std::to_string(s.stacks) + " call paths; blocks not tracked: " + std::to_string(s.untracked_blocks) +
                                                        ", stacks not recorded: " + std::to_string(s.lost_stacks) +
                                                        " (table full), " + std::to_string(s.unreadable_stacks) + " (caught mid-update)");
    profile.merge(own);
    for (auto& d : own.descriptions) profile.descriptions.push_back(d);
}

}  // namespace

std::unique_ptr<Collector> make_memory_collector(const MemoryOptions& options) {
    return std::make_unique<MemoryCollector>(options);
}

}  // namespace calltree
