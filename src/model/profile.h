// The profile model: plain C++ data, no Python. Collectors fill it after a run, readers fill it
// from files (pstats), writers (callgrind, pstats) read it. Every cost is an unsigned 64-bit
// integer per event type, so new event kinds (sampling, memory) are new columns, not new code.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/costs.h"
#include "model/flat_map.h"
#include "model/id_index.h"
#include "model/line_costs.h"
#include "model/ids.h"

namespace calltree {

struct EventType {
    std::string name;       // short identifier, [A-Za-z_][A-Za-z0-9_]*
    std::string long_name;  // shown by KCachegrind, e.g. "Wall time (ns)"
};

// Costs (model/costs.h) hold one cost per event type, in the order of Profile::events().

// Add b into a, growing a to b's size if needed. Inline: readers call it per arc.
inline void add_costs(Costs& a, std::span<const uint64_t> b) {
    if (a.size() < b.size()) a.resize(b.size(), 0);
    for (size_t i = 0; i < b.size(); ++i) a[i] += b[i];
}

struct Function {
    std::string name;    // unique under KCachegrind's rule together with file and object
    FileId file;
    ObjectId object;
    Line line;           // first line (def line); 0 for builtins
    // The name in a pstats key (file, first line, name) when it is not `name`: a Python
    // function's co_name, as cProfile writes it, where `name` is the qualified display name.
    std::string pstats_name;
    uint64_t calls = 0;            // every call, recursive ones included (pstats nc)
    uint64_t primitive_calls = 0;  // calls not made while already active (pstats cc)
    Costs inclusive;               // over outermost activations only (pstats ct)
    LineCosts self_by_line;  // self cost per source line of this function, in line order
};

// caller -> callee at one call-site line of the caller.
struct Arc {
    FunctionId caller;
    FunctionId callee;
    Line call_line;
    uint64_t calls = 0;
    uint64_t primitive_calls = 0;  // calls where the callee was not already active
    Costs inclusive;               // counted only at the outermost activation of this arc
    Costs callee_self;             // callee's self cost spent under this arc (pstats inner tt)
};

class Profile {
public:
    explicit Profile(std::vector<EventType> events = {});

    const std::vector<EventType>& events() const { return events_; }
    size_t event_count() const { return events_.size(); }
    // Index of the event named `name`, or -1.
    int event_index(std::string_view name) const;

    // Metadata written to the callgrind header (cmd:, pid:, desc: ...).
    std::string command;
    uint64_t pid = 0;
    std::vector<std::pair<std::string, std::string>> descriptions;  // desc: Key: value

    // Interning: the same text always gives the same id.
    FileId intern_file(std::string_view path);
    ObjectId intern_object(std::string_view name);
    // A function is identified by (name, file, object); its def line is taken at first sight.
    FunctionId intern_function(std::string_view name, FileId file, ObjectId object, Line line);
    // Adds a function the caller knows to be new (a reader whose names are unique already),
    // taking `name`, without hashing it: the index is built if intern_function is used later.
    FunctionId append_function(std::string&& name, FileId file, ObjectId object, Line line);

    const std::string& file(FileId id) const { return files_[id.value]; }
    const std::string& object(ObjectId id) const { return objects_[id.value]; }
    const Function& function(FunctionId id) const { return functions_[id.value]; }
    Function& function(FunctionId id) { return functions_[id.value]; }
    size_t file_count() const { return files_.size(); }
    size_t object_count() const { return objects_.size(); }
    size_t function_count() const { return functions_.size(); }
    const std::vector<Function>& functions() const { return functions_; }

    void add_self_cost(FunctionId fn, Line line, std::span<const uint64_t> costs);
    void add_calls(FunctionId fn, uint64_t calls, uint64_t primitive_calls);
    void add_inclusive(FunctionId fn, std::span<const uint64_t> costs);
    // Returns the arc (caller, call_line, callee), creating it with zero costs if new.
    Arc& arc(FunctionId caller, Line call_line, FunctionId callee);
    // Adds an arc the caller knows to be new (a reader whose input has each arc once), without
    // a lookup; the index is rebuilt if arc() is used later.
    Arc& append_arc(FunctionId caller, Line call_line, FunctionId callee);
    const std::vector<Arc>& arcs() const { return arcs_; }

    // Capacity hints for readers that know the sizes up front.
    void reserve(size_t functions, size_t arcs);

    // Sum of all self costs per event: what KCachegrind shows as the total.
    Costs totals() const;

    // Adds another profile into this one (same events by name; missing ones are appended).
    void merge(const Profile& other);

private:
    uint32_t find_function(uint64_t hash, std::string_view name, FileId file, ObjectId object);
    FunctionId add_function(uint64_t hash, std::string name, FileId file, ObjectId object, Line line);
    static uint64_t function_hash(std::string_view name, FileId file, ObjectId object);

    struct ArcKey {
        uint32_t caller, callee, line;
        bool operator==(const ArcKey&) const = default;
    };
    struct ArcKeyHash {
        size_t operator()(const ArcKey& k) const noexcept {
            return hash_u64((uint64_t{k.caller} << 32 | k.callee) ^ (uint64_t{k.line} * 0x9e3779b97f4a7c15ULL));
        }
    };
    std::vector<EventType> events_;
    std::vector<std::string> files_;
    IdIndex file_ids_;
    std::vector<std::string> objects_;
    IdIndex object_ids_;
    std::vector<Function> functions_;
    IdIndex function_ids_;  // by (name, file, object)
    size_t indexed_functions_ = 0;  // functions_[0, indexed_functions_) are in function_ids_
    std::vector<Arc> arcs_;
    FlatMap<ArcKey, uint32_t, ArcKeyHash> arc_ids_{ArcKey{~0u, ~0u, ~0u}};
    size_t indexed_arcs_ = 0;  // arcs_[0, indexed_arcs_) are in arc_ids_
};

}  // namespace calltree
