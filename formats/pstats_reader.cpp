#include "formats/pstats_reader.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "formats/call_sites.h"
#include "formats/gzip_input.h"
#include "formats/pstats_names.h"
#include "model/flat_map.h"
#include "model/names.h"

namespace calltree {

namespace {

using Type = MarshalDocument::Type;

// A pstats function key: (filename, first line, function name).
struct Key {
    std::string_view file;
    int64_t line;
    std::string_view name;
    uint32_t file_id = 0;  // interned file name
    uint32_t name_id = 0;  // interned function name
    uint32_t file_value = 0, name_value = 0;  // the document values holding them
};

// The same key as interned string ids: cheap to hash and compare.
struct KeyIds {
    uint32_t file, name;
    int64_t line;
    bool operator==(const KeyIds&) const = default;
};
struct KeyIdsHash {
    size_t operator()(const KeyIds& k) const noexcept {
        return hash_u64((uint64_t{k.file} << 32 | k.name) ^ static_cast<uint64_t>(k.line) * 0x9e3779b97f4a7c15ULL);
    }
};

struct Entry {
    uint64_t cc = 0, nc = 0, tt = 0, ct = 0;
    uint32_t callers = 0;  // index of the callers dict
    bool has_stats = false;
};

uint64_t to_ns(double seconds) {
    // The pure-Python `profile` module can report tiny negative times; a cost cannot be negative.
    if (!(seconds > 0) || !std::isfinite(seconds)) return 0;
    return static_cast<uint64_t>(std::llround(seconds * 1e9));
}

class PstatsInterpreter {
public:
    PstatsInterpreter(MarshalDocument& doc, CallSiteFinder* call_sites) : doc_(doc), call_sites_(call_sites) {}

    Profile build() {
        uint32_t root = doc_.root();
        expect(root, Type::Dict, "the stats dict");
        auto items = doc_.children(root);
        entries_.reserve(items.size() / 2);
        keys_.reserve(items.size() / 2);
        for (size_t i = 0; i < items.size(); i += 2) {
            uint32_t stats = items[i + 1];
            expect(stats, Type::Tuple, "a (cc, nc, tt, ct, callers) tuple");
            auto fields = doc_.children(stats);
            if (fields.size() != 5) fail(stats, "expected a 5-tuple (cc, nc, tt, ct, callers)");
            Entry& e = entries_[entry_index(items[i])];
            // cProfile writes (cc, nc), yappi (ncall, nactualcall): all calls are the larger.
            uint64_t a = count(fields[0]), b = count(fields[1]);
            e.cc += std::min(a, b);
            e.nc += std::max(a, b);
            e.tt += to_ns(seconds(fields[2]));
            e.ct += to_ns(seconds(fields[3]));
            expect(fields[4], Type::Dict, "a callers dict");
            e.callers = fields[4];
            e.has_stats = true;
        }
        // Callers may name functions that have no entry of their own (yappi, pyinstrument).
        // Their entries are kept in arc order, so fill() reads them sequentially.
        for (size_t i = 0; i < keys_.size(); ++i) {
            if (entries_[i].has_stats) {
                auto items = doc_.children(entries_[i].callers);
                for (size_t k = 0; k < items.size(); k += 2) arc_callers_.push_back(entry_index(items[k]));
            }
        }
        name_functions();
        return fill();
    }

private:
    [[noreturn]] void fail(uint32_t value, const std::string& what) const {
        throw FormatError("not a pstats file: " + what, doc_.value(value).offset);
    }

    void expect(uint32_t value, Type type, const char* what) const {
        Type actual = doc_.value(value).type;
        if (actual != type)
            fail(value, std::string("expected ") + what + ", found " + MarshalDocument::type_name(actual));
    }

    uint64_t count(uint32_t value) const {
        Type t = doc_.value(value).type;
        if (t == Type::Int || t == Type::Bool) {
            int64_t n = doc_.integer(value);
            return n > 0 ? static_cast<uint64_t>(n) : 0;
        }
        if (t == Type::Float) {
            double d = doc_.number(value);
            return d > 0 && d < 1.8e19 ? static_cast<uint64_t>(std::llround(d)) : 0;
        }
        fail(value, std::string("expected a call count, found ") + MarshalDocument::type_name(t));
    }

    double seconds(uint32_t value) const {
        Type t = doc_.value(value).type;
        if (t != Type::Float && t != Type::Int && t != Type::Bool)
            fail(value, std::string("expected a time, found ") + MarshalDocument::type_name(t));
        return doc_.number(value);
    }

    Key read_key(uint32_t value) const {
        expect(value, Type::Tuple, "a (file, line, name) key");
        auto parts = doc_.children(value);
        if (parts.size() != 3) fail(value, "expected a (file, line, name) key of 3 items");
        expect(parts[0], Type::String, "a file name");
        if (doc_.value(parts[1]).type != Type::Int) fail(parts[1], "expected a line number");
        uint32_t name = parts[2];
        // The `profile` module keys its own entry with a code object: use the code's name.
        if (doc_.value(name).type == Type::Code) name = doc_.children(name)[1];
        expect(name, Type::String, "a function name");
        std::string_view file = doc_.string(parts[0]);
        // The `profile` module files C functions under "", cProfile under "~": one convention here.
        if (file.empty()) file = kBuiltinFile;
        Key key{file, doc_.integer(parts[1]), doc_.string(name)};
        key.file_value = parts[0];
        key.name_value = name;
        return key;
    }

    // Strings shared in the file arrive as back-references to one value, so most lookups are
    // by value index; the text is hashed once per distinct string value.
    uint32_t string_id(uint32_t value, std::string_view text) {
        if (uint32_t known = doc_.value(value).tag; known != MarshalDocument::kNoTag) return known;
        auto [it, inserted] = string_ids_.emplace(text, static_cast<uint32_t>(string_ids_.size()));
        doc_.set_tag(value, it->second);
        return it->second;
    }

    // Entry index of the key tuple at `value`; keys repeated through references hit the cache.
    uint32_t entry_index(uint32_t value) {
        if (uint32_t known = doc_.value(value).tag; known != MarshalDocument::kNoTag) return known;
        Key key = read_key(value);
        KeyIds ids{string_id(key.file_value, key.file), string_id(key.name_value, key.name), key.line};
        uint32_t index;
        if (const uint32_t* found = index_.find(ids)) {
            index = *found;
        } else {
            index = static_cast<uint32_t>(keys_.size());
            index_.insert(ids, index);
            key.file_id = ids.file;
            key.name_id = ids.name;
            keys_.push_back(key);
            entries_.emplace_back();
        }
        doc_.set_tag(value, index);
        return index;
    }

    static std::string_view basename(std::string_view file) {
        size_t slash = file.rfind('/');
        return slash == std::string_view::npos ? file : file.substr(slash + 1);
    }

    // Up to `depth` parent directories of `file` dot-joined with a trailing dot ("src.a."), and
    // whether the path has directories above them.
    static std::pair<std::string, bool> parents(std::string_view file, size_t depth) {
        std::string_view dir = file.substr(0, file.size() - basename(file).size());
        auto trim = [&dir] {
            while (!dir.empty() && dir.back() == '/') dir.remove_suffix(1);
        };
        std::string prefix;
        for (trim(); depth > 0 && !dir.empty(); --depth, trim()) {
            std::string_view part = basename(dir);
            dir.remove_suffix(part.size());
            prefix = std::string(part) + "." + prefix;
        }
        return {prefix, !dir.empty()};
    }

    // Objects by file id: the module name, qualified by as many parent directories as needed
    // where two files share their basename and module (a/util.py and b/util.py -> a.util, b.util),
    // because KCachegrind tells functions apart by name + basename(file) + basename(object).
    std::vector<std::string> file_objects() const {
        std::vector<std::string> objects(string_ids_.size());
        std::vector<std::string_view> files(string_ids_.size());
        std::vector<bool> seen_file(string_ids_.size());
        std::unordered_map<std::string, std::vector<uint32_t>> by_identity;
        for (const Key& k : keys_) {
            if (k.file == kBuiltinFile || seen_file[k.file_id]) continue;
            seen_file[k.file_id] = true;
            files[k.file_id] = k.file;
            objects[k.file_id] = module_from_path(k.file);
            by_identity[std::string(basename(k.file)) + '\0' + objects[k.file_id]].push_back(k.file_id);
        }
        for (auto& [identity, group] : by_identity) {
            for (size_t depth = 1; group.size() > 1; ++depth) {
                std::unordered_set<std::string> seen;
                std::vector<std::string> candidates;
                bool distinct = true, more = false;
                for (uint32_t id : group) {
                    auto [prefix, above] = parents(files[id], depth);
                    candidates.push_back(prefix + objects[id]);
                    distinct &= seen.insert(candidates.back()).second;
                    more |= above;
                }
                if (distinct || !more) {
                    for (size_t j = 0; j < group.size(); ++j) objects[group[j]] = std::move(candidates[j]);
                    break;
                }
            }
        }
        return objects;
    }

    // Names unique under KCachegrind's identity (name + basename(file) + basename(object)).
    void name_functions() {
        names_.resize(keys_.size());
        objects_.resize(keys_.size());
        // One name in one file at several lines (lambdas, redefinitions): the line tells them apart.
        std::unordered_map<uint64_t, uint32_t> per_file_name;
        auto file_name = [](const Key& k) { return uint64_t{k.file_id} << 32 | k.name_id; };
        for (const Key& k : keys_) ++per_file_name[file_name(k)];
        std::vector<std::string> by_file = file_objects();
        std::unordered_set<std::string> identities;
        for (size_t i = 0; i < keys_.size(); ++i) {
            const Key& k = keys_[i];
            bool builtin = k.file == kBuiltinFile;
            names_[i] = std::string(k.name);
            if (per_file_name[file_name(k)] > 1) names_[i] += ":" + std::to_string(k.line);
            objects_[i] = builtin ? builtin_object(k.name) : by_file[k.file_id];
            // What the rules above cannot separate (a function literally named "f:3" next to
            // two f's, paths equal but for repeated slashes) is numbered.
            std::string base(basename(k.file)), plain = names_[i];
            for (int n = 2; !identities.insert(names_[i] + '\0' + base + '\0' + objects_[i]).second; ++n)
                names_[i] = plain + "#" + std::to_string(n);
        }
    }

    // Whether the caller's source file can be read, asked once per file.
    bool has_source(const Key& k) {
        if (k.file == kBuiltinFile || k.file.empty() || k.file.front() != '/') return false;
        if (k.file_id >= source_exists_.size()) source_exists_.resize(string_ids_.size(), -1);
        int8_t& known = source_exists_[k.file_id];
        if (known < 0) known = access(std::string(k.file).c_str(), R_OK) == 0 ? 1 : 0;
        return known == 1;
    }

    static uint32_t line_of(const Key& k) {
        return k.line > 0 && k.line < (int64_t{1} << 31) ? static_cast<uint32_t>(k.line) : 0;
    }

    Profile fill() {
        Profile profile({EventType{"Time", "Time (ns)"}});
        profile.reserve(keys_.size(), arc_callers_.size());
        std::vector<FunctionId> ids(keys_.size());
        for (size_t i = 0; i < keys_.size(); ++i) {
            const Key& k = keys_[i];
            uint32_t line = line_of(k);
            ids[i] = profile.intern_function(names_[i], profile.intern_file(k.file), profile.intern_object(objects_[i]),
                                             Line(line));
            const Entry& e = entries_[i];
            profile.add_calls(ids[i], e.nc, e.cc);
            profile.add_self_cost(ids[i], Line(line), std::span<const uint64_t>(&e.tt, 1));
            profile.add_inclusive(ids[i], std::span<const uint64_t>(&e.ct, 1));
        }
        const uint32_t* next_caller = arc_callers_.data();
        for (size_t callee = 0; callee < keys_.size(); ++callee) {
            const Entry& e = entries_[callee];
            if (!e.has_stats) continue;
            auto items = doc_.children(e.callers);
            for (size_t k = 0; k < items.size(); k += 2) {
                uint32_t value = items[k + 1];
                uint32_t caller = *next_caller++;
                // pstats has no call sites: the caller's first line is the only line we know.
                uint32_t site = line_of(keys_[caller]);
                if (call_sites_ != nullptr && has_source(keys_[caller]))
                    site = call_sites_->find(std::string(keys_[caller].file), site, keys_[callee].name);
                // Each (caller, callee) pair appears once in a callers dict: no lookup needed.
                Arc& arc = profile.append_arc(ids[caller], Line(site), ids[callee]);
                Type t = doc_.value(value).type;
                if (t == Type::Tuple) {
                    auto f = doc_.children(value);
                    if (f.size() != 4) fail(value, "expected a caller tuple (nc, cc, tt, ct)");
                    uint64_t tt = to_ns(seconds(f[2])), ct = to_ns(seconds(f[3]));
                    arc.calls += count(f[0]);
                    arc.primitive_calls += count(f[1]);
                    add_costs(arc.callee_self, std::span<const uint64_t>(&tt, 1));
                    add_costs(arc.inclusive, std::span<const uint64_t>(&ct, 1));
                } else {
                    // The `profile` module stores only a count: share the callee's times by calls.
                    uint64_t n = count(value);
                    double share = e.nc > 0 ? static_cast<double>(n) / static_cast<double>(e.nc) : 0.0;
                    uint64_t tt = static_cast<uint64_t>(std::llround(static_cast<double>(e.tt) * share));
                    uint64_t ct = static_cast<uint64_t>(std::llround(static_cast<double>(e.ct) * share));
                    arc.calls += n;
                    arc.primitive_calls += n;
                    add_costs(arc.callee_self, std::span<const uint64_t>(&tt, 1));
                    add_costs(arc.inclusive, std::span<const uint64_t>(&ct, 1));
                }
            }
        }
        return profile;
    }

    MarshalDocument& doc_;
    CallSiteFinder* call_sites_;
    std::vector<Key> keys_;
    std::vector<Entry> entries_;
    std::vector<uint32_t> arc_callers_;  // caller entry of every arc, in callers-dict order
    FlatMap<KeyIds, uint32_t, KeyIdsHash> index_{KeyIds{~0u, ~0u, -1}};
    std::unordered_map<std::string_view, uint32_t> string_ids_;
    std::vector<int8_t> source_exists_;
    std::vector<std::string> names_, objects_;
};

}  // namespace

Profile read_pstats(std::span<const uint8_t> data, const PstatsOptions& options) {
    MarshalDocument doc = MarshalDocument::parse(data);
    CallSiteFinder finder;
    return PstatsInterpreter(doc, options.locate_call_sites ? &finder : nullptr).build();
}

Profile read_pstats_file(const std::string& path, const PstatsOptions& options) {
    std::vector<uint8_t> data = read_input(path);
    return read_pstats(data, options);
}

}  // namespace calltree
