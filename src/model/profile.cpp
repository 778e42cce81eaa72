#include "model/profile.h"

#include <algorithm>

#include "model/memory_hints.h"

namespace calltree {

namespace {
size_t mix(size_t h, size_t v) { return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)); }

uint32_t intern_text(std::string_view text, std::vector<std::string>& table, IdIndex& ids) {
    uint64_t hash = hash_text(text);
    uint32_t id = ids.find(hash, [&](uint32_t candidate) { return table[candidate] == text; });
    if (id != IdIndex::kNone) return id;
    id = static_cast<uint32_t>(table.size());
    table.emplace_back(text);
    ids.insert(hash, id);
    return id;
}
}  // namespace

Profile::Profile(std::vector<EventType> events) : events_(std::move(events)) {}

int Profile::event_index(std::string_view name) const {
    for (size_t i = 0; i < events_.size(); ++i)
        if (events_[i].name == name) return static_cast<int>(i);
    return -1;
}

FileId Profile::intern_file(std::string_view path) { return FileId(intern_text(path, files_, file_ids_)); }

ObjectId Profile::intern_object(std::string_view name) {
    return ObjectId(intern_text(name, objects_, object_ids_));
}

uint64_t Profile::function_hash(std::string_view name, FileId file, ObjectId object) {
    return mix(mix(hash_text(name), file.value), object.value);
}

uint32_t Profile::find_function(uint64_t hash, std::string_view name, FileId file, ObjectId object) {
    if (indexed_functions_ < functions_.size()) {
        function_ids_.reserve(functions_.size());
        for (; indexed_functions_ < functions_.size(); ++indexed_functions_) {
            const Function& f = functions_[indexed_functions_];
            function_ids_.insert(function_hash(f.name, f.file, f.object), static_cast<uint32_t>(indexed_functions_));
        }
    }
    return function_ids_.find(hash, [&](uint32_t candidate) {
        const Function& f = functions_[candidate];
        return f.file == file && f.object == object && f.name == name;
    });
}

// After find_function: every earlier function is indexed.
FunctionId Profile::add_function(uint64_t hash, std::string name, FileId file, ObjectId object, Line line) {
    FunctionId id = append_function(std::move(name), file, object, line);
    function_ids_.insert(hash, id.value);
    ++indexed_functions_;
    return id;
}

FunctionId Profile::append_function(std::string&& name, FileId file, ObjectId object, Line line) {
    auto id = static_cast<uint32_t>(functions_.size());
    Function& fn = functions_.emplace_back();
    fn.name = std::move(name);
    fn.file = file;
    fn.object = object;
    fn.line = line;
    return FunctionId(id);
}

FunctionId Profile::intern_function(std::string_view name, FileId file, ObjectId object, Line line) {
    uint64_t hash = function_hash(name, file, object);
    uint32_t id = find_function(hash, name, file, object);
    return id != IdIndex::kNone ? FunctionId(id) : add_function(hash, std::string(name), file, object, line);
}

void Profile::add_self_cost(FunctionId fn, Line line, std::span<const uint64_t> costs) {
    add_costs(functions_[fn.value].self_by_line[line], costs);
}

void Profile::add_calls(FunctionId fn, uint64_t calls, uint64_t primitive_calls) {
    functions_[fn.value].calls += calls;
    functions_[fn.value].primitive_calls += primitive_calls;
}

void Profile::add_inclusive(FunctionId fn, std::span<const uint64_t> costs) {
    add_costs(functions_[fn.value].inclusive, costs);
}

Arc& Profile::arc(FunctionId caller, Line call_line, FunctionId callee) {
    for (; indexed_arcs_ < arcs_.size(); ++indexed_arcs_) {
        const Arc& a = arcs_[indexed_arcs_];
        arc_ids_.insert(ArcKey{a.caller.value, a.callee.value, a.call_line.value}, static_cast<uint32_t>(indexed_arcs_));
    }
    ArcKey key{caller.value, callee.value, call_line.value};
    if (const uint32_t* found = arc_ids_.find(key)) return arcs_[*found];
    arc_ids_.insert(key, static_cast<uint32_t>(arcs_.size()));
    ++indexed_arcs_;
    return append_arc(caller, call_line, callee);
}

Arc& Profile::append_arc(FunctionId caller, Line call_line, FunctionId callee) {
    Arc& a = arcs_.emplace_back();
    a.caller = caller;
    a.callee = callee;
    a.call_line = call_line;
    return a;
}

void Profile::reserve(size_t functions, size_t arcs) {
    functions_.reserve(functions);
    arcs_.reserve(arcs);
    prefer_huge_pages(functions_);
    prefer_huge_pages(arcs_);
}

Costs Profile::totals() const {
    Costs sum(events_.size(), 0);
    for (const Function& fn : functions_)
        for (const auto& [line, costs] : fn.self_by_line) add_costs(sum, costs);
    return sum;
}

void Profile::merge(const Profile& other) {
    // Map the other profile's event columns onto ours, appending events we lack.
    std::vector<size_t> column(other.events_.size());
    for (size_t i = 0; i < other.events_.size(); ++i) {
        int idx = event_index(other.events_[i].name);
        if (idx < 0) {
            idx = static_cast<int>(events_.size());
            events_.push_back(other.events_[i]);
        }
        column[i] = static_cast<size_t>(idx);
    }
    auto remap = [&](const Costs& c) {
        Costs out(events_.size(), 0);
        for (size_t i = 0; i < c.size() && i < column.size(); ++i) out[column[i]] = c[i];
        return out;
    };
    std::vector<FunctionId> fmap(other.functions_.size());
    for (size_t i = 0; i < other.functions_.size(); ++i) {
        const Function& f = other.functions_[i];
        FunctionId id = intern_function(f.name, intern_file(other.file(f.file)),
                                        intern_object(other.object(f.object)), f.line);
        fmap[i] = id;
        if (functions_[id.value].pstats_name.empty()) functions_[id.value].pstats_name = f.pstats_name;
        add_calls(id, f.calls, f.primitive_calls);
        add_inclusive(id, remap(f.inclusive));
        for (const auto& [line, costs] : f.self_by_line) add_self_cost(id, line, remap(costs));
    }
    for (const Arc& a : other.arcs_) {
        Arc& mine = arc(fmap[a.caller.value], a.call_line, fmap[a.callee.value]);
        mine.calls += a.calls;
        mine.primitive_calls += a.primitive_calls;
        add_costs(mine.inclusive, remap(a.inclusive));
        add_costs(mine.callee_self, remap(a.callee_self));
    }
}

}  // namespace calltree
