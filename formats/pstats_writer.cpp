#include "formats/pstats_writer.h"

#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "formats/surrogate_escape.h"

namespace calltree {

namespace {

// The handful of marshal types a stats dict needs, little-endian as marshal defines them.
// Bytes collect in a buffer written once: a stream call per byte costs more than the encoding.
class MarshalWriter {
public:
    const std::string& bytes() const { return out_; }

    void dict_begin() { out_.push_back('{'); }
    void dict_end() { out_.push_back('0'); }
    // `flag_ref` sets FLAG_REF: the loader remembers the object so a later ref() can name it.
    void tuple(uint8_t n, bool flag_ref = false) {
        out_.push_back(static_cast<char>(flag_ref ? ')' | kFlagRef : ')'));
        out_.push_back(static_cast<char>(n));
    }
    // Back-reference to the index-th object written with FLAG_REF (counted in write order).
    void ref(uint32_t index) {
        out_.push_back('r');
        u32(index);
    }
    void integer(uint64_t v) {
        if (v <= 0x7fffffff) {
            out_.push_back('i');
            u32(static_cast<uint32_t>(v));
            return;
        }
        // Python long: digit count, then 15-bit digits, least significant first.
        std::vector<uint16_t> digits;
        for (; v != 0; v >>= 15) digits.push_back(static_cast<uint16_t>(v & 0x7fff));
        out_.push_back('l');
        u32(static_cast<uint32_t>(digits.size()));
        for (uint16_t d : digits) {
            out_.push_back(static_cast<char>(d & 0xff));
            out_.push_back(static_cast<char>(d >> 8));
        }
    }
    void real(double v) {
        out_.push_back('g');
        uint64_t bits = std::bit_cast<uint64_t>(v);
        for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
    }
    void string(const std::string& s, bool flag_ref = false) {
        out_.push_back(static_cast<char>(flag_ref ? 'u' | kFlagRef : 'u'));
        size_t length_at = out_.size();
        u32(0);
        append_marshal_text(out_, s);  // a file name's undecodable bytes as Python escapes them
        uint32_t length = static_cast<uint32_t>(out_.size() - length_at - 4);
        for (int i = 0; i < 4; ++i) out_[length_at + i] = static_cast<char>((length >> (8 * i)) & 0xff);
    }

private:
    static constexpr int kFlagRef = 0x80;
    void u32(uint32_t v) {
        for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
    std::string out_;
};

double seconds(const Costs& c) { return c.empty() ? 0.0 : static_cast<double>(c[0]) / 1e9; }

struct CallerSums {
    uint64_t nc = 0, cc = 0, tt = 0, ct = 0;
};

}  // namespace

void write_pstats(const Profile& profile, std::ostream& out) {
    errno = 0;
    const auto& functions = profile.functions();
    // Keys are (file, first line, name) with cProfile's name (Function::pstats_name). Functions
    // that would share a key (two lambdas on one line, which cProfile's own file merges, losing
    // one) use their display names, unique within a file and object; functions of two objects
    // whose names are still equal get the object appended, so none is lost.
    using Key = std::tuple<std::string, uint32_t, std::string>;
    auto key_of = [&](const Function& f) {
        return Key{profile.file(f.file), f.line.value, f.pstats_name.empty() ? f.name : f.pstats_name};
    };
    std::map<Key, uint32_t> sharing;
    for (const Function& f : functions) ++sharing[key_of(f)];
    std::vector<Key> keys(functions.size());
    std::map<Key, uint32_t> seen;
    for (uint32_t i = 0; i < functions.size(); ++i) {
        const Function& f = functions[i];
        Key key = key_of(f);
        if (sharing[key] > 1) std::get<2>(key) = f.name;
        // Repeat the suffix in the (unlikely) case that a real function already has that name.
        while (!seen.emplace(key, i).second) std::get<2>(key) += " [" + profile.object(f.object) + "]";
        keys[i] = key;
    }
    // callers[callee][caller], summed over call sites: pstats has none.
    std::vector<std::map<uint32_t, CallerSums>> callers(functions.size());
    for (const Arc& a : profile.arcs()) {
        CallerSums& s = callers[a.callee.value][a.caller.value];
        s.nc += a.calls;
        s.cc += a.primitive_calls;
        s.tt += a.callee_self.empty() ? 0 : a.callee_self[0];
        s.ct += a.inclusive.empty() ? 0 : a.inclusive[0];
    }
    MarshalWriter w;
    // Like CPython's marshal (version >= 3), repeated objects are written once with FLAG_REF and
    // then named by back-reference: each key tuple after its first use, and each file name
    // shared by the functions of one file. This halves the file size of large profiles.
    constexpr uint32_t kNoRef = UINT32_MAX;
    uint32_t next_ref = 0;
    std::vector<uint32_t> key_ref(functions.size(), kNoRef);
    std::map<std::string, uint32_t> file_ref;
    auto key = [&](uint32_t i) {
        if (key_ref[i] != kNoRef) {
            w.ref(key_ref[i]);
            return;
        }
        key_ref[i] = next_ref++;  // the tuple is numbered before its items, as the loader does
        w.tuple(3, true);
        const std::string& file = std::get<0>(keys[i]);
        if (auto it = file_ref.find(file); it != file_ref.end()) {
            w.ref(it->second);
        } else {
            file_ref.emplace(file, next_ref++);
            w.string(file, true);
        }
        w.integer(std::get<1>(keys[i]));
        w.string(std::get<2>(keys[i]));
    };
    w.dict_begin();
    for (uint32_t i = 0; i < functions.size(); ++i) {
        const Function& f = functions[i];
        Costs self(1, 0);
        for (const auto& [line, costs] : f.self_by_line)
            if (!costs.empty()) self[0] += costs[0];
        key(i);
        w.tuple(5);
        w.integer(f.primitive_calls);
        w.integer(f.calls);
        w.real(seconds(self));
        w.real(seconds(f.inclusive));
        w.dict_begin();
        for (const auto& [caller, s] : callers[i]) {
            key(caller);
            w.tuple(4);
            w.integer(s.nc);
            w.integer(s.cc);
            w.real(static_cast<double>(s.tt) / 1e9);
            w.real(static_cast<double>(s.ct) / 1e9);
        }
        w.dict_end();
    }
    w.dict_end();
    out.write(w.bytes().data(), static_cast<std::streamsize>(w.bytes().size()));
    out.flush();
    if (!out) throw std::runtime_error(errno != 0 ? std::strerror(errno) : "write error");
}

}  // namespace calltree
