#include "formats/callgrind_writer.h"

#include <algorithm>
#include <bit>
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
        for (char c : text) *at_++ = (c == '\n' || c == '\r') ? ' ' : c;
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

// Decimal digits, two at a time. std::to_chars does the same but is not inlined, and numbers
// are a third of a callgrind file.
inline char* put(char* p, uint64_t v) {
    static constexpr char kPairs[] =
        "0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849"
        "5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";
    static constexpr uint64_t kPowers[] = {1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
                                           10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
                                           100000000000ULL, 1000000000000ULL, 10000000000000ULL,
                                           100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
                                           100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL};
    // Digits from the bit length (log10(2) ~ 1233/4096), corrected by one comparison.
    unsigned estimate = static_cast<unsigned>((64 - std::countl_zero(v | 1)) * 1233) >> 12;
    unsigned digits = estimate + (v >= kPowers[estimate] ? 1 : 0);
    digits += digits == 0 ? 1 : 0;  // 0 itself
    char* end = p + digits;
    char* q = end;
    while (v >= 10000) {  // four digits per division
        auto four = static_cast<unsigned>(v % 10000);
        v /= 10000;
        q -= 4;
        std::memcpy(q, kPairs + (four / 100) * 2, 2);
        std::memcpy(q + 2, kPairs + (four % 100) * 2, 2);
    }
    while (v >= 100) {
        auto pair = static_cast<unsigned>(v % 100) * 2;
        v /= 100;
        q -= 2;
        q[0] = kPairs[pair];
        q[1] = kPairs[pair + 1];
    }
    if (v >= 10) {
        q[-2] = kPairs[v * 2];
        q[-1] = kPairs[v * 2 + 1];
    } else {
        q[-1] = static_cast<char>('0' + v);
    }
    return end;
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
    NameTable(size_t size, bool compress) : written_(size, false), compress_(compress) {}

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
        written_[id] = true;
        *p++ = ' ';
        out.commit(p);
        out.name(name);
        out << '\n';
    }

private:
    std::vector<bool> written_;
    bool compress_;
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

    const auto& functions = profile.functions();
    // Functions grouped by object, then file, so ob=/fl= lines change rarely.
    std::vector<uint32_t> order(functions.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        const Function& fa = functions[a];
        const Function& fb = functions[b];
        if (fa.object != fb.object) return fa.object < fb.object;
        return fa.file < fb.file;
    });
    std::vector<uint32_t> rank(functions.size());
    for (uint32_t i = 0; i < order.size(); ++i) rank[order[i]] = i;

    // The arcs grouped by caller in writing order: a counting sort of their indices by the
    // caller's rank (copying whole arcs there cost more than visiting them by index).
    const auto& arcs = profile.arcs();
    std::vector<uint32_t> first(functions.size() + 1, 0);
    for (const Arc& a : arcs) ++first[rank[a.caller.value] + 1];
    std::partial_sum(first.begin(), first.end(), first.begin());
    std::vector<uint32_t> by_caller(arcs.size());
    constexpr size_t kAhead = 8;
    {
        std::vector<uint32_t> next(first.begin(), first.end() - 1);
        for (uint32_t i = 0; i < arcs.size(); ++i) by_caller[next[rank[arcs[i].caller.value]]++] = i;
    }

    // The callee's ids, packed: arcs visit callees in random order, and whole Function records
    // would miss the cache on every call line.
    struct CalleeIds {
        ObjectId object;
        FileId file;
        uint32_t line;
    };
    std::vector<CalleeIds> ids(functions.size());
    for (size_t i = 0; i < functions.size(); ++i)
        ids[i] = {functions[i].object, functions[i].file, functions[i].line.value};

    NameTable objects(profile.object_count(), options.compress_names);
    NameTable files(profile.file_count(), options.compress_names);
    NameTable names(functions.size(), options.compress_names);
    const size_t events = profile.event_count();
    Costs zero(events, 0);
    bool have_object = false, have_file = false;
    ObjectId current_object;
    FileId current_file;
    for (uint32_t position = 0; position < order.size(); ++position) {
        uint32_t fid = order[position];
        const Function& fn = functions[fid];
        if (!have_object || fn.object != current_object) {
            objects.write(out, "ob=", fn.object.value, profile.object(fn.object));
            current_object = fn.object;
            have_object = true;
        }
        if (!have_file || fn.file != current_file) {
            files.write(out, "fl=", fn.file.value, profile.file(fn.file));
            current_file = fn.file;
            have_file = true;
        }
        names.write(out, "fn=", fid, fn.name);
        if (fn.self_by_line.empty()) write_costs(out, fn.line.value, zero);
        for (const auto& [line, costs] : fn.self_by_line) write_costs(out, line.value, costs);
        for (uint32_t k = first[position]; k < first[position + 1]; ++k) {
            // Arcs are visited in random order: fetching a few ahead overlaps the cache misses.
            if (k + kAhead < by_caller.size()) {
                const Arc& ahead = arcs[by_caller[k + kAhead]];
                __builtin_prefetch(&ahead);
                __builtin_prefetch(reinterpret_cast<const char*>(&ahead) + sizeof(Arc) - 1);
                __builtin_prefetch(&ids[arcs[by_caller[k + kAhead / 2]].callee.value]);
            }
            const Arc& call = arcs[by_caller[k]];
            const CalleeIds& callee = ids[call.callee.value];
            if (callee.object != current_object) {
                objects.write(out, "cob=", callee.object.value, profile.object(callee.object));
            }
            if (callee.file != current_file) {
                files.write(out, "cfi=", callee.file.value, profile.file(callee.file));
            }
            names.write(out, "cfn=", call.callee.value, functions[call.callee.value].name);
            char* p = put(out.ensure(), "calls=");
            p = put(p, call.calls);
            *p++ = ' ';
            p = put(p, uint64_t{callee.line});
            *p++ = '\n';
            out.commit(p);
            write_costs(out, call.call_line.value, call.inclusive.empty() ? zero : call.inclusive);
        }
        out << '\n';
    }
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
