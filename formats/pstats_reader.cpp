#include "formats/pstats_reader.h"

#include <algorithm>
#include <bit>
#include <deque>
#include <numeric>

#include "formats/call_sites.h"
#include "formats/gzip_input.h"
#include "formats/pstats_names.h"
#include "formats/surrogate_escape.h"
#include "model/flat_map.h"
#include "model/id_index.h"
#include "model/memory_hints.h"
#include "model/names.h"

namespace calltree {

namespace {

using Type = MarshalDocument::Type;
using Scalar = MarshalDocument::Scalar;

using Key = PstatsFunction;

// The same key as interned string ids: cheap to hash and compare.
struct KeyIds {
    uint32_t file, name;
    int64_t line;
};
struct KeyIdsHash {
    size_t operator()(const KeyIds& k) const noexcept {
        return hash_u64((uint64_t{k.file} << 32 | k.name) ^ static_cast<uint64_t>(k.line) * 0x9e3779b97f4a7c15ULL);
    }
};

struct Entry {
    uint64_t cc = 0, nc = 0, tt = 0, ct = 0;
};

// One caller -> callee record of a callers dict, kept compact until the profile is built.
struct ArcRecord {
    uint32_t caller, callee;
    uint64_t calls, primitive_calls, tt, ct;
};

// In tt: the `profile` module's plain count, whose times come from the callee's. No time in
// ns reaches it (round_positive stays below 2^64 - 2^11), and a flag would make a record 48
// bytes instead of 40.
constexpr uint64_t kShareCalleeTimes = ~uint64_t{0};

// Rounds half away from zero, as std::llround, without its library call (several per arc).
// 0 for what is not positive (the pure-Python `profile` module can report tiny negative times)
// and for what no count or duration reaches: 2^64 and beyond, infinities, NaN.
uint64_t round_positive(double x) {
    if (!(x > 0 && x < 18446744073709549568.0)) return 0;  // the largest double below 2^64
    auto whole = static_cast<uint64_t>(x);
    // Exact: below 2^53 both are exact and within a factor of two; above, x is whole.
    return whole + (x - static_cast<double>(whole) >= 0.5 ? 1 : 0);
}

uint64_t to_ns(double seconds) { return round_positive(seconds * 1e9); }

class PstatsInterpreter {
public:
    PstatsInterpreter(MarshalStream& stream, CallSiteFinder* call_sites)
        : stream_(stream), doc_(stream.document()), call_sites_(call_sites) {}

    Profile build() {
        // Upper estimates from the input size: an arc takes at least 12 bytes of input (a caller
        // reference, a tuple of 4 small ints), a function entry at least 24.
        reserve_large(arcs_, doc_.input_size() / 12 + 16);
        reserve_large(keys_, doc_.input_size() / 24 + 16);
        reserve_large(entries_, doc_.input_size() / 24 + 16);
        // Two strings per entry at most are new (its file and name).
        reserve_large(texts_, doc_.input_size() / 12 + 16);
        if (!stream_.begin_dict()) {
            uint32_t top = stream_.read();
            fail(top, std::string("expected the stats dict, found ") + MarshalDocument::type_name(doc_.value(top).type));
        }
        while (stream_.next_item()) {
            read_item();
            stream_.clear();
        }
        stream_.finish();
        names_ = name_pstats_functions(keys_, texts_);
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

    static uint64_t count_of(Scalar s) {
        if (s.type == Type::Float) return round_positive(std::bit_cast<double>(s.payload));
        auto n = static_cast<int64_t>(s.payload);  // Int or Bool
        return n > 0 ? static_cast<uint64_t>(n) : 0;
    }
    static double seconds_of(Scalar s) {
        if (s.type == Type::Float) return std::bit_cast<double>(s.payload);
        return static_cast<double>(static_cast<int64_t>(s.payload));  // Int or Bool
    }

    uint64_t count(uint32_t value) const {
        Type t = doc_.value(value).type;
        if (t != Type::Int && t != Type::Bool && t != Type::Float)
            fail(value, std::string("expected a call count, found ") + MarshalDocument::type_name(t));
        return count_of(doc_.scalar(value));
    }

    double seconds(uint32_t value) const {
        Type t = doc_.value(value).type;
        if (t != Type::Float && t != Type::Int && t != Type::Bool)
            fail(value, std::string("expected a time, found ") + MarshalDocument::type_name(t));
        return seconds_of(doc_.scalar(value));
    }

    // The next four values of the input as (count, count, time, time), the layout of both
    // tuples of an entry: straight from the input when they are plain numbers, as most are,
    // else read into the document and checked.
    void next_numbers(uint64_t& a, uint64_t& b, double& tt, double& ct) {
        Scalar s[4];
        size_t n = stream_.read_scalars(s, 4);
        a = n > 0 ? count_of(s[0]) : count(stream_.read());
        b = n > 1 ? count_of(s[1]) : count(stream_.read());
        tt = n > 2 ? seconds_of(s[2]) : seconds(stream_.read());
        ct = n > 3 ? seconds_of(s[3]) : seconds(stream_.read());
    }

    // One (key, stats) item of the stats dict: the callee's totals, then one record per caller.
    // The usual layout, an unregistered 5-tuple whose callers dict holds 4-tuples, is read
    // straight from the input (a large profile is mostly those numbers); anything else is read
    // into the document by read_entry.
    void read_item() {
        uint32_t callee = next_key();
        if (!stream_.enter_tuple(5)) {
            read_entry(callee, stream_.read());
            return;
        }
        uint64_t a, b;
        double tt, ct;
        next_numbers(a, b, tt, ct);
        add_totals(callee, a, b, tt, ct);
        if (!stream_.enter_dict()) {
            read_callers(callee, stream_.read());
            return;
        }
        while (stream_.next_item()) {
            uint32_t caller = stream_.read_tag(Type::Tuple);
            if (caller == MarshalDocument::kNone) caller = next_key();
            if (!stream_.enter_tuple(4)) {
                add_caller(caller, callee, stream_.read());
                continue;
            }
            ArcRecord r{caller, callee, 0, 0, 0, 0};
            next_numbers(r.calls, r.primitive_calls, tt, ct);
            r.tt = to_ns(tt);
            r.ct = to_ns(ct);
            arcs_.push_back(r);
        }
    }

    // The same from the document, for the layouts read_item does not read directly.
    void read_entry(uint32_t callee, uint32_t stats) {
        expect(stats, Type::Tuple, "a (cc, nc, tt, ct, callers) tuple");
        auto fields = doc_.children(stats);
        if (fields.size() != 5) fail(stats, "expected a 5-tuple (cc, nc, tt, ct, callers)");
        add_totals(callee, count(fields[0]), count(fields[1]), seconds(fields[2]), seconds(fields[3]));
        read_callers(callee, fields[4]);
    }

    void add_totals(uint32_t callee, uint64_t a, uint64_t b, double tt, double ct) {
        Entry& e = entries_[callee];
        // cProfile writes (cc, nc), yappi (ncall, nactualcall): all calls are the larger.
        e.cc += std::min(a, b);
        e.nc += std::max(a, b);
        e.tt += to_ns(tt);
        e.ct += to_ns(ct);
    }

    void read_callers(uint32_t callee, uint32_t callers) {
        expect(callers, Type::Dict, "a callers dict");
        auto items = doc_.children(callers);
        // Callers may name functions that have no entry of their own (yappi, pyinstrument).
        for (size_t k = 0; k < items.size(); k += 2) add_caller(entry_index(items[k]), callee, items[k + 1]);
    }

    // One caller's record from the document: cProfile's (nc, cc, tt, ct), or `profile`'s count.
    void add_caller(uint32_t caller, uint32_t callee, uint32_t value) {
        ArcRecord r{caller, callee, 0, 0, 0, 0};
        if (doc_.value(value).type == Type::Tuple) {
            auto f = doc_.children(value);
            if (f.size() != 4) fail(value, "expected a caller tuple (nc, cc, tt, ct)");
            r.calls = count(f[0]);
            r.primitive_calls = count(f[1]);
            r.tt = to_ns(seconds(f[2]));
            r.ct = to_ns(seconds(f[3]));
        } else {
            r.calls = r.primitive_calls = count(value);
            r.tt = kShareCalleeTimes;
        }
        arcs_.push_back(r);
    }

    // Interned id of the string at `value`. Tagged: a string the file shares (file names,
    // function names) is hashed once, and its later references are not read at all.
    uint32_t string_id(uint32_t value) {
        expect(value, Type::String, "a string");
        if (uint32_t known = doc_.tag(value); known != MarshalDocument::kNone) return known;
        uint32_t id = intern(doc_.string(value));
        doc_.set_tag(value, id);
        return id;
    }

    // Texts are interned by their real bytes: a file name with bytes that are not UTF-8 comes
    // escaped, as Python's marshal stores it, and the model keeps the bytes, which name the file.
    uint32_t intern(std::string_view text) {
        bool escaped = has_escaped_bytes(text);
        if (escaped) text = unescaped_.emplace_back(from_marshal_text(text));
        uint64_t hash = hash_text(text);
        uint32_t id = string_ids_.find(hash, [&](uint32_t candidate) { return texts_[candidate] == text; });
        if (id != IdIndex::kNone) {
            if (escaped) unescaped_.pop_back();
            return id;
        }
        id = static_cast<uint32_t>(texts_.size());
        texts_.push_back(text);
        string_ids_.insert(hash, id);
        return id;
    }

    // Entry index of the (file, line, name) key tuple at `value`, tagged like strings: cProfile
    // writes each caller's key once and references it from every other callers dict.
    uint32_t entry_index(uint32_t value) {
        // The type first: a tag means an entry on a tuple only (a string's is its string id).
        expect(value, Type::Tuple, "a (file, line, name) key");
        if (uint32_t known = doc_.tag(value); known != MarshalDocument::kNone) return known;
        auto parts = doc_.children(value);
        if (parts.size() != 3) fail(value, "expected a (file, line, name) key of 3 items");
        expect(parts[0], Type::String, "a file name");
        if (doc_.value(parts[1]).type != Type::Int) fail(parts[1], "expected a line number");
        uint32_t name = parts[2];
        // The `profile` module keys its own entry with a code object: use the code's name.
        if (doc_.value(name).type == Type::Code) name = doc_.children(name)[1];
        expect(name, Type::String, "a function name");
        uint32_t index = entry_of(KeyIds{string_id(parts[0]), string_id(name), doc_.integer(parts[1])});
        doc_.set_tag(value, index);
        return index;
    }

    // The same for the next key of the input, read straight from it when it is the usual
    // (file, line, name) tuple of strings (or references to them) and an int.
    uint32_t next_key() {
        MarshalDocument::Key key;
        if (!stream_.read_key(key)) return entry_index(stream_.read());
        uint32_t index = entry_of(KeyIds{text_id(key.file), text_id(key.name), key.line});
        if (key.slot != MarshalDocument::kNone) stream_.set_slot_tag(key.slot, index);
        return index;
    }

    uint32_t text_id(const MarshalDocument::KeyText& text) {
        if (text.tag != MarshalDocument::kNone) return text.tag;
        uint32_t id = intern(text.text);
        if (text.slot != MarshalDocument::kNone) stream_.set_slot_tag(text.slot, id);
        return id;
    }

    // The entry of a key, made on first sight.
    uint32_t entry_of(KeyIds ids) {
        // The `profile` module files C functions under "", cProfile under "~": one convention here.
        if (texts_[ids.file].empty()) ids.file = builtin_file_id();
        uint64_t hash = KeyIdsHash{}(ids);
        uint32_t found = index_.find(hash, [&](uint32_t candidate) {
            const Key& k = keys_[candidate];
            return k.file_id == ids.file && k.name_id == ids.name && k.line == ids.line;
        });
        if (found != IdIndex::kNone) return found;
        auto index = static_cast<uint32_t>(keys_.size());
        index_.insert(hash, index);
        keys_.push_back(Key{ids.line, ids.file, ids.name});
        entries_.emplace_back();
        return index;
    }

    uint32_t builtin_file_id() { return intern(kBuiltinFile); }

    static uint32_t line_of(const Key& k) {
        return k.line > 0 && k.line < (int64_t{1} << 31) ? static_cast<uint32_t>(k.line) : 0;
    }

    // Entry indices ordered by (object, file), entry order within: the few distinct groups are
    // sorted, the entries placed by a counting sort. By the profile's ids, the order the writer
    // wants: two of our objects can be one there (a module `x` and the builtins of a module
    // `x`), and then files of several objects (`~`) meet under one.
    std::vector<uint32_t> grouped_by_object_and_file(const std::vector<ObjectId>& objects,
                                                     const std::vector<FileId>& files) const {
        FlatMap<uint64_t, uint32_t, U64Hash> group_of(~uint64_t{0});
        std::vector<uint64_t> groups;
        std::vector<uint32_t> group(keys_.size());
        for (uint32_t i = 0; i < keys_.size(); ++i) {
            uint64_t key = uint64_t{objects[names_.object_of[i]].value} << 32 | files[keys_[i].file_id].value;
            if (const uint32_t* known = group_of.find(key)) {
                group[i] = *known;
            } else {
                group[i] = static_cast<uint32_t>(groups.size());
                group_of.insert(key, group[i]);
                groups.push_back(key);
            }
        }
        std::vector<uint32_t> by_key(groups.size());
        std::iota(by_key.begin(), by_key.end(), 0);
        std::sort(by_key.begin(), by_key.end(), [&](uint32_t a, uint32_t b) { return groups[a] < groups[b]; });
        std::vector<uint32_t> first(groups.size() + 1, 0);
        for (uint32_t g : group) ++first[g + 1];
        std::vector<uint32_t> start(groups.size());
        for (uint32_t at = 0, r = 0; r < by_key.size(); ++r) {
            start[by_key[r]] = at;
            at += first[by_key[r] + 1];
        }
        std::vector<uint32_t> order(keys_.size());
        for (uint32_t i = 0; i < keys_.size(); ++i) order[start[group[i]]++] = i;
        return order;
    }

    // Functions are interned grouped by object and file, and arcs appended grouped by caller in
    // that order: the order the callgrind writer emits them, so it reads the profile sequentially.
    Profile fill() {
        Profile profile({EventType{"Time", "Time (ns)"}});
        profile.reserve(keys_.size(), arcs_.size());
        std::vector<ObjectId> objects(names_.objects.size());
        for (size_t o = 0; o < objects.size(); ++o) objects[o] = profile.intern_object(names_.objects[o]);
        std::vector<FileId> files(texts_.size());
        std::vector<bool> file_known(texts_.size(), false);
        for (const Key& k : keys_) {
            if (!file_known[k.file_id]) {
                files[k.file_id] = profile.intern_file(texts_[k.file_id]);
                file_known[k.file_id] = true;
            }
        }
        std::vector<uint32_t> order = grouped_by_object_and_file(objects, files);
        std::vector<FunctionId> ids(keys_.size());
        std::vector<uint32_t> rank(keys_.size());
        for (uint32_t position = 0; position < order.size(); ++position) {
            uint32_t i = order[position];
            rank[i] = position;
            const Key& k = keys_[i];
            uint32_t line = line_of(k);
            // Written back as read: --format pstats keeps the input's keys.
            std::string_view pstats_name = texts_[k.name_id];
            // Renaming only appends (pstats_names.h): the lengths tell, without fetching the text.
            bool renamed = names_.names[i].size() != pstats_name.size();
            // The names are made for the profile: it takes them rather than copies. They are
            // unique within a (basename, object) pair, so each (name, file, object) is new.
            ids[i] = profile.append_function(std::move(names_.names[i]), files[k.file_id], objects[names_.object_of[i]], Line(line));
            if (renamed) profile.function(ids[i]).pstats_name = pstats_name;
            const Entry& e = entries_[i];
            profile.add_calls(ids[i], e.nc, e.cc);
            profile.add_self_cost(ids[i], Line(line), std::span<const uint64_t>(&e.tt, 1));
            profile.add_inclusive(ids[i], std::span<const uint64_t>(&e.ct, 1));
        }
        // A counting sort of the arc records by their caller's rank.
        std::vector<uint32_t> first(keys_.size() + 1, 0);
        for (const ArcRecord& r : arcs_) ++first[rank[r.caller] + 1];
        std::partial_sum(first.begin(), first.end(), first.begin());
        std::vector<uint32_t> by_caller(arcs_.size());
        for (uint32_t a = 0; a < arcs_.size(); ++a) by_caller[first[rank[arcs_[a].caller]]++] = a;
        uint32_t source_file = ~0u;  // the caller file the call-site finder has open
        bool readable = false;
        // Each function's spelling, made for all in entry order when the first source opens: in
        // that order keys and names lie in memory as read, while callees come in random order.
        std::vector<CallSiteFinder::Spelled> spelled;
        for (size_t n = 0; n < by_caller.size(); ++n) {
            // Records are visited in random order: fetching a few ahead overlaps the cache misses.
            if (n + 8 < by_caller.size()) __builtin_prefetch(&arcs_[by_caller[n + 8]]);
            const ArcRecord& r = arcs_[by_caller[n]];
            // pstats has no call sites: the caller's first line is the only line we know.
            uint32_t site = line_of(keys_[r.caller]);
            // Callers come grouped by file: each source is read once, and dropped after.
            if (call_sites_ != nullptr && keys_[r.caller].file_id != source_file) {
                source_file = keys_[r.caller].file_id;
                readable = call_sites_->open(texts_[keys_[r.caller].file_id]);
            }
            if (readable) {
                if (spelled.empty()) {
                    spelled.reserve(keys_.size());
                    for (const Key& k : keys_) spelled.push_back(CallSiteFinder::spell(texts_[k.name_id]));
                }
                site = call_sites_->find(site, spelled[r.callee]);
            }
            // Each (caller, callee) pair appears once in a callers dict: no lookup needed.
            Arc& arc = profile.append_arc(ids[r.caller], Line(site), ids[r.callee]);
            arc.calls = r.calls;
            arc.primitive_calls = r.primitive_calls;
            uint64_t tt = r.tt, ct = r.ct;
            if (tt == kShareCalleeTimes) {
                // The `profile` module stores only a count: share the callee's times by calls.
                const Entry& e = entries_[r.callee];
                double share = e.nc > 0 ? static_cast<double>(r.calls) / static_cast<double>(e.nc) : 0.0;
                tt = round_positive(static_cast<double>(e.tt) * share);
                ct = round_positive(static_cast<double>(e.ct) * share);
            }
            add_costs(arc.callee_self, std::span<const uint64_t>(&tt, 1));
            add_costs(arc.inclusive, std::span<const uint64_t>(&ct, 1));
        }
        return profile;
    }

    MarshalStream& stream_;
    MarshalDocument& doc_;
    CallSiteFinder* call_sites_;
    std::vector<Key> keys_;
    std::vector<Entry> entries_;
    std::vector<ArcRecord> arcs_;
    IdIndex index_;  // entries by key: 8 bytes a slot, the keys are in keys_
    IdIndex string_ids_;
    std::vector<std::string_view> texts_;  // by string id
    std::deque<std::string> unescaped_;    // texts_ that differ from the file's escaped text
    PstatsNames names_;
};

}  // namespace

Profile read_pstats(std::span<const uint8_t> data, const PstatsOptions& options) {
    MarshalStream stream(data);
    CallSiteFinder finder;
    return PstatsInterpreter(stream, options.locate_call_sites ? &finder : nullptr).build();
}

Profile read_pstats_file(const std::string& path, const PstatsOptions& options) {
    InputBytes data = read_input(path);
    return read_pstats(data, options);
}

}  // namespace calltree
