#include "formats/callgrind_writer.h"

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace calltree {

namespace {

// Output goes through a flat buffer written with raw pointers and std::to_chars: ostream's
// per-call overhead, and then std::string's per-append bookkeeping, dominated writing 100k-arc
// profiles. Every piece but a name is short, so one check of the room left covers it.
class Buffer {
public:
    explicit Buffer(std::ostream& out) : out_(out), data_(new char[kSize]), at_(data_.get()) {}
    ~Buffer() { flush(); }

    Buffer& operator<<(std::string_view text) {
        if (text.size() > kSlack) return large(text, false);
        room();
        std::memcpy(at_, text.data(), text.size());
        at_ += text.size();
        return *this;
    }
    Buffer& operator<<(char c) {
        room();
        *at_++ = c;
        return *this;
    }
    Buffer& operator<<(uint64_t v);
    // Names end at the line's end: a newline inside one would corrupt the file.
    void name(std::string_view text) {
        if (text.size() > kSlack) {
            large(text, true);
            return;
        }
        room();
        // A plain copy, then the rare line ends replaced: a quarter of a per-character loop's work.
        std::memcpy(at_, text.data(), text.size());
        for (char end_of_line : {'\n', '\r'}) {
            while (void* found = std::memchr(at_, end_of_line, text.size())) *static_cast<char*>(found) = ' ';
        }
        at_ += text.size();
    }
    void flush() {
        out_.write(data_.get(), at_ - data_.get());
        at_ = data_.get();
    }
    // The hot lines are written in place: after ensure(), kSlack bytes may be written from the
    // returned pointer, then commit(end).
    char* ensure() {
        room();
        return at_;
    }
    void commit(char* end) { at_ = end; }
    static constexpr size_t kSlack = 256;

private:
    static constexpr size_t kSize = 1 << 18;
    void room() {
        if (static_cast<size_t>(data_.get() + kSize - at_) < kSlack) flush();
    }
    Buffer& large(std::string_view text, bool as_name) {
        while (!text.empty()) {
            size_t n = std::min(text.size(), kSlack);
            if (as_name)
                name(text.substr(0, n));
            else
                *this << text.substr(0, n);
            text.remove_prefix(n);
        }
        return *this;
    }
    std::ostream& out_;
    std::unique_ptr<char[]> data_;
    char* at_;
};

// Decimal digits, two at a time from a table, the length found by comparisons: std::to_chars
// does the same but is not inlined, and numbers are a third of a callgrind file. Most are below
// 10^8 (lines, ids, counts, times under 0.1 s): one division splits them into two halves.
constexpr char kPairs[] =
    "0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849"
    "5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

inline char* put_pair(char* p, uint32_t v) {  // v < 100, two digits
    std::memcpy(p, kPairs + v * 2, 2);
    return p + 2;
}

inline char* put4(char* p, uint32_t v) { return put_pair(put_pair(p, v / 100), v % 100); }  // v < 10^4, four digits

inline char* put8(char* p, uint32_t v) { return put4(put4(p, v / 10000), v % 10000); }  // v < 10^8, eight digits

inline char* put_short(char* p, uint32_t v) {  // v < 10^4, no leading zeros
    if (v < 10) {
        *p = static_cast<char>('0' + v);
        return p + 1;
    }
    if (v < 100) return put_pair(p, v);
    if (v < 1000) {
        *p = static_cast<char>('0' + v / 100);
        return put_pair(p + 1, v % 100);
    }
    return put4(p, v);
}

inline char* put(char* p, uint64_t v) {
    if (v < 10000) return put_short(p, static_cast<uint32_t>(v));
    if (v < 100000000) return put4(put_short(p, static_cast<uint32_t>(v / 10000)), static_cast<uint32_t>(v % 10000));
    constexpr uint64_t k8 = 100000000, k16 = k8 * k8;
    if (v < k16) {
        p = put(p, v / k8);  // below 10^8
        return put8(p, static_cast<uint32_t>(v % k8));
    }
    p = put_short(p, static_cast<uint32_t>(v / k16));  // 2^64 < 1845 * 10^16
    v %= k16;
    return put8(put8(p, static_cast<uint32_t>(v / k8)), static_cast<uint32_t>(v % k8));
}

template <size_t N>
char* put(char* p, const char (&text)[N]) {
    std::memcpy(p, text, N - 1);
    return p + N - 1;
}

Buffer& Buffer::operator<<(uint64_t v) {
    room();
    at_ = put(at_, v);
    return *this;
}

// One id table per kind (objects, files, functions), as the format's name compression defines.
class NameTable {
public:
    NameTable(size_t size, bool compress) : written_(size, 0), compress_(compress) {}

    // `prefix` is the line's key ("fn=", "cfi=", ...): at most 4 characters. `name` is taken by
    // reference: after its first use only the id is written, and the text is not even loaded.
    template <size_t N>
    void write(Buffer& out, const char (&prefix)[N], uint32_t id, const std::string& name) {
        static_assert(N <= 5);
        char* p = put(out.ensure(), prefix);
        if (!compress_) {
            out.commit(p);
            out.name(name);
            out << '\n';
            return;
        }
        *p++ = '(';
        p = put(p, uint64_t{id} + 1);
        *p++ = ')';
        if (written_[id]) {
            *p++ = '\n';
            out.commit(p);
            return;
        }
        written_[id] = 1;
        *p++ = ' ';
        out.commit(p);
        out.name(name);
        out << '\n';
    }

private:
    std::vector<uint8_t> written_;  // bytes, not bits: tested on every name line
    bool compress_;
};

struct NameTables {
    NameTable objects, files, names;
};

// "<line> <cost>...\n"; trailing zero costs may be omitted.
void write_costs(Buffer& out, uint32_t line, const Costs& costs) {
    size_t used = costs.size();
    while (used > 1 && costs[used - 1] == 0) --used;
    char* p = put(out.ensure(), uint64_t{line});
    for (size_t i = 0; i < used; ++i) {
        if (i % 8 == 7) {  // 8 numbers of at most 21 characters fit in Buffer::kSlack
            out.commit(p);
            p = out.ensure();
        }
        *p++ = ' ';
        p = put(p, costs[i]);
    }
    if (used == 0) p = put(p, " 0");
    *p++ = '\n';
    out.commit(p);
}

// The callee's ids, packed: arcs visit callees in random order, and whole Function records
// would miss the cache on every call line.
struct CalleeIds {
    ObjectId object;
    FileId file;
    uint32_t line;
};

// The profile in writing order: functions grouped by object, then file (so ob=/fl= lines change
// rarely), each followed by its calls.
struct Layout {
    std::vector<uint32_t> order;      // function ids
    std::vector<uint32_t> first;      // the calls of order[p] are by_caller[first[p], first[p + 1])
    std::vector<uint32_t> by_caller;  // arc indices
    std::vector<CalleeIds> ids;       // per function id
};

// Readers that know the whole profile up front (pstats) intern functions and append arcs in
// this order already: then both sorts are skipped.
Layout lay_out(const Profile& profile) {
    const auto& functions = profile.functions();
    Layout layout;
    layout.order.resize(functions.size());
    std::iota(layout.order.begin(), layout.order.end(), 0);
    auto writing_order = [&](uint32_t a, uint32_t b) {
        const Function& fa = functions[a];
        const Function& fb = functions[b];
        if (fa.object != fb.object) return fa.object < fb.object;
        return fa.file < fb.file;
    };
    bool functions_in_order = std::is_sorted(layout.order.begin(), layout.order.end(), writing_order);
    if (!functions_in_order) std::stable_sort(layout.order.begin(), layout.order.end(), writing_order);
    std::vector<uint32_t> rank(functions.size());
    for (uint32_t i = 0; i < layout.order.size(); ++i) rank[layout.order[i]] = i;
    // A counting sort of the arcs' indices by their caller's rank (copying whole arcs there
    // cost more than visiting them by index).
    const auto& arcs = profile.arcs();
    layout.first.assign(functions.size() + 1, 0);
    bool arcs_in_order = true;
    for (size_t i = 0; i < arcs.size(); ++i) {
        uint32_t caller = rank[arcs[i].caller.value];
        ++layout.first[caller + 1];
        arcs_in_order = arcs_in_order && (i == 0 || rank[arcs[i - 1].caller.value] <= caller);
    }
    std::partial_sum(layout.first.begin(), layout.first.end(), layout.first.begin());
    layout.by_caller.resize(arcs.size());
    if (arcs_in_order) {
        std::iota(layout.by_caller.begin(), layout.by_caller.end(), 0);
    } else {
        std::vector<uint32_t> next(layout.first.begin(), layout.first.end() - 1);
        for (uint32_t i = 0; i < arcs.size(); ++i) layout.by_caller[next[rank[arcs[i].caller.value]]++] = i;
    }
    layout.ids.resize(functions.size());
    for (size_t i = 0; i < functions.size(); ++i)
        layout.ids[i] = {functions[i].object, functions[i].file, functions[i].line.value};
    return layout;
}

// The current ob= and fl= between two functions.
struct Context {
    bool have_object = false, have_file = false;
    ObjectId object;
    FileId file;
};

// Visits the lines of the functions in writing order: which ob=/fl=/cob=/cfi= lines are due is
// decided here.
template <class Visitor>
void walk(const Profile& profile, const Layout& layout, Visitor& visit) {
    const auto& functions = profile.functions();
    const auto& arcs = profile.arcs();
    const auto& by_caller = layout.by_caller;
    constexpr size_t kAhead = 8;
    Context at;
    for (uint32_t position = 0; position < layout.order.size(); ++position) {
        uint32_t fid = layout.order[position];
        const Function& fn = functions[fid];
        if (!at.have_object || fn.object != at.object) {
            visit.object("ob=", fn.object);
            at.object = fn.object;
            at.have_object = true;
        }
        if (!at.have_file || fn.file != at.file) {
            visit.file("fl=", fn.file);
            at.file = fn.file;
            at.have_file = true;
        }
        visit.function(fid, fn);
        for (uint32_t k = layout.first[position]; k < layout.first[position + 1]; ++k) {
            // Arcs are visited in random order: fetching a few ahead overlaps the cache misses.
            if (k + kAhead < by_caller.size()) {
                const Arc& ahead = arcs[by_caller[k + kAhead]];
                __builtin_prefetch(&ahead);
                __builtin_prefetch(reinterpret_cast<const char*>(&ahead) + sizeof(Arc) - 1);
                __builtin_prefetch(&layout.ids[arcs[by_caller[k + kAhead / 2]].callee.value]);
                // The callee's record too: the first call to a function writes its name from
                // there, a miss per function in random order (a third of this loop's time).
                __builtin_prefetch(&functions[arcs[by_caller[k + kAhead / 2]].callee.value].name);
            }
            const Arc& call = arcs[by_caller[k]];
            const CalleeIds& callee = layout.ids[call.callee.value];
            if (callee.object != at.object) visit.object("cob=", callee.object);
            if (callee.file != at.file) visit.file("cfi=", callee.file);
            visit.call(call, callee);
        }
        visit.end_function();
    }
}

// Writes the lines.
class Formatter {
public:
    Formatter(Buffer& out, NameTables& tables, const Profile& profile)
        : out_(out), tables_(tables), profile_(profile), zero_(profile.event_count(), 0) {}

    template <size_t N>
    void object(const char (&prefix)[N], ObjectId id) {
        tables_.objects.write(out_, prefix, id.value, profile_.object(id));
    }
    template <size_t N>
    void file(const char (&prefix)[N], FileId id) {
        tables_.files.write(out_, prefix, id.value, profile_.file(id));
    }
    void function(uint32_t fid, const Function& fn) {
        tables_.names.write(out_, "fn=", fid, fn.name);
        if (fn.self_by_line.empty()) write_costs(out_, fn.line.value, zero_);
        for (const auto& [line, costs] : fn.self_by_line) write_costs(out_, line.value, costs);
    }
    void call(const Arc& call, const CalleeIds& callee) {
        tables_.names.write(out_, "cfn=", call.callee.value, profile_.function(call.callee).name);
        char* p = put(out_.ensure(), "calls=");
        p = put(p, call.calls);
        *p++ = ' ';
        p = put(p, uint64_t{callee.line});
        *p++ = '\n';
        out_.commit(p);
        write_costs(out_, call.call_line.value, call.inclusive.empty() ? zero_ : call.inclusive);
    }
    void end_function() { out_ << '\n'; }

private:
    Buffer& out_;
    NameTables& tables_;
    const Profile& profile_;
    Costs zero_;
};

}  // namespace

void write_callgrind(const Profile& profile, std::ostream& stream, const CallgrindOptions& options) {
    errno = 0;
    Buffer out(stream);
    out << "# callgrind format\n";
    out << "version: 1\n";
    out << "creator: " << options.creator << '\n';
    if (profile.pid != 0) out << "pid: " << profile.pid << '\n';
    if (!profile.command.empty()) {
        out << "cmd: ";
        out.name(profile.command);
        out << '\n';
    }
    for (const auto& [key, value] : profile.descriptions) {
        out << "desc: ";
        out.name(key);
        out << ": ";
        out.name(value);
        out << '\n';
    }
    out << "positions: line\n";
    for (const EventType& e : profile.events()) out << "event: " << e.name << " : " << e.long_name << '\n';
    out << "events:";
    for (const EventType& e : profile.events()) out << ' ' << e.name;
    out << "\n\n";

    Layout layout = lay_out(profile);
    NameTables tables{NameTable(profile.object_count(), options.compress_names),
                      NameTable(profile.file_count(), options.compress_names),
                      NameTable(profile.function_count(), options.compress_names)};
    Formatter formatter{out, tables, profile};
    walk(profile, layout, formatter);
    Costs totals = profile.totals();
    out << "totals:";
    for (uint64_t t : totals) out << ' ' << t;
    if (totals.empty()) out << " 0";
    out << '\n';
    out.flush();
    stream.flush();
    if (!stream) throw std::runtime_error(errno != 0 ? std::strerror(errno) : "write error");
}

}  // namespace calltree
