#include "collect/memory_collector.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cmath>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "collect/alloc_recorder.h"
#include "collect/code_registry.h"
#include "collect/line_table.h"
#include "collect/registry_naming.h"
#include "collect/stack_tree.h"

namespace calltree {

uint64_t parse_memory_rate(const std::string& text) {
    const std::string bad = "--memory-rate: '" + text + "' is not a byte count between 1 and 1GiB (e.g. 64KiB, 1MiB, 1)";
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits > 10) throw std::invalid_argument(bad);
    uint64_t value = std::stoull(text.substr(0, digits));
    std::string unit = text.substr(digits);
    uint64_t scale = 0;
    if (unit.empty() || unit == "B") scale = 1;
    else if (unit == "KiB" || unit == "K" || unit == "KB" || unit == "k") scale = uint64_t{1} << 10;
    else if (unit == "MiB" || unit == "M" || unit == "MB") scale = uint64_t{1} << 20;
    else if (unit == "GiB" || unit == "G" || unit == "GB") scale = uint64_t{1} << 30;
    uint64_t bytes = value * scale;
    if (scale == 0 || value == 0 || bytes / scale != value || bytes > (uint64_t{1} << 30)) throw std::invalid_argument(bad);
    return bytes;
}

bool memory_mode_available() { return memory::g_interposers_linked; }

namespace {

enum Event { kAllocBytes, kAllocs, kLeakBytes, kPeakBytes, kCopyBytes, kEvents };

// The PyMem and PyObject domains, wrapped: a block is counted here, and the malloc the domain
// may call underneath (pymalloc hands requests over 512 bytes to PyMem_RawMalloc) runs under
// the guard so it is not counted again. The raw domain is not wrapped: it is malloc.
struct Domain {
    PyMemAllocatorEx original;
};
// pymalloc serves requests up to this size from its own arenas, never through malloc: those
// need no guard (every allocation pays for the guard otherwise).
constexpr size_t kSmallRequest = 512;
Domain g_mem_domain, g_object_domain;

void* domain_malloc(void* ctx, size_t size) {
    auto* d = static_cast<Domain*>(ctx);
    if (!memory::counting()) return d->original.malloc(d->original.ctx, size);
    void* p;
    if (size <= kSmallRequest) {
        p = d->original.malloc(d->original.ctx, size);
    } else {
        memory::Guard guard;
        p = d->original.malloc(d->original.ctx, size);
    }
    if (p != nullptr) memory::on_alloc(p, size);
    return p;
}

void* domain_calloc(void* ctx, size_t n, size_t size) {
    auto* d = static_cast<Domain*>(ctx);
    if (!memory::counting()) return d->original.calloc(d->original.ctx, n, size);
    void* p;
    {
        memory::Guard guard;
        p = d->original.calloc(d->original.ctx, n, size);
    }
    if (p != nullptr) memory::on_alloc(p, n * size);
    return p;
}

void* domain_realloc(void* ctx, void* ptr, size_t size) {
    auto* d = static_cast<Domain*>(ctx);
    if (!memory::counting()) return d->original.realloc(d->original.ctx, ptr, size);
    memory::Taken old = memory::take_for_realloc(ptr);
    void* p;
    {
        memory::Guard guard;
        p = d->original.realloc(d->original.ctx, ptr, size);
    }
    if (p == nullptr) {
        memory::put_back(ptr, old);
        return p;
    }
    memory::on_alloc(p, size);
    return p;
}

void domain_free(void* ctx, void* ptr) {
    auto* d = static_cast<Domain*>(ctx);
    // A large block is freed again by the interposed free underneath: it finds nothing to do.
    if (ptr != nullptr && memory::counting()) memory::on_free(ptr);
    d->original.free(d->original.ctx, ptr);
}

void wrap_domain(PyMemAllocatorDomain domain, Domain& d) {
    PyMem_GetAllocator(domain, &d.original);
    PyMemAllocatorEx wrapped{&d, domain_malloc, domain_calloc, domain_realloc, domain_free};
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
        wrap_domain(PYMEM_DOMAIN_MEM, g_mem_domain);
        wrap_domain(PYMEM_DOMAIN_OBJ, g_object_domain);
        memory::start(memory::Config{options_.rate, registry_.get()});
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
                 EventType{"CopyBytes", "Copied bytes (memcpy/memmove)"}});
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
    if (used[2]) ids[lost] = truncated_stack_function(own, "<stack not recorded: table full>");
    // Memory events count no calls: the tracer's or the sampler's arcs carry the counts.
    tree.add_to(own, ids, false);

    memory::Summary s = memory::summary();
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
                                                        ", stacks not recorded: " + std::to_string(s.lost_stacks));
    profile.merge(own);
    for (auto& d : own.descriptions) profile.descriptions.push_back(d);
}

}  // namespace

std::unique_ptr<Collector> make_memory_collector(const MemoryOptions& options) {
    return std::make_unique<MemoryCollector>(options);
}

}  // namespace calltree
