// The pstats reader: CPython's own .prof files against what pstats.Stats reads from them
// (tests/fixtures/pstats/*.expected, written by make_fixtures.py), the shapes other producers
// write, naming, rounding, gzip input and the errors for files that are not stats.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <vector>

#include "formats/gzip_input.h"
#include "formats/pstats_names.h"
#include "formats/pstats_reader.h"
#include "model/names.h"

using namespace calltree;

namespace {

const std::string kFixtures = CALLTREE_FIXTURES;

// --- marshal bytes, written by hand --------------------------------------------------------
std::string i32(int32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((static_cast<uint32_t>(v) >> (8 * i)) & 0xff);
    return s;
}
std::string str(const std::string& s) { return "u" + i32(static_cast<int32_t>(s.size())) + s; }
std::string num(int32_t v) { return "i" + i32(v); }
std::string flt(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    std::string s = "g";
    for (int i = 0; i < 8; ++i) s += static_cast<char>((bits >> (8 * i)) & 0xff);
    return s;
}
std::string tuple(const std::vector<std::string>& items) {
    std::string s = ")" + std::string(1, static_cast<char>(items.size()));
    for (const auto& item : items) s += item;
    return s;
}
std::string dict(const std::vector<std::pair<std::string, std::string>>& items) {
    std::string s = "{";
    for (const auto& [k, v] : items) s += k + v;
    return s + "0";
}
std::string key(const std::string& file, int line, const std::string& name) {
    return tuple({str(file), num(line), str(name)});
}

// Registered for back-references (the FLAG_REF bit), and a reference to the n-th registered.
std::string flagged(std::string value) {
    value[0] = static_cast<char>(static_cast<uint8_t>(value[0]) | 0x80);
    return value;
}
std::string ref(int32_t n) { return "r" + i32(n); }

Profile read(const std::string& data) {
    return read_pstats(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

uint64_t self_time(const Function& f) {
    uint64_t sum = 0;
    for (const auto& [line, costs] : f.self_by_line) sum += costs.empty() ? 0 : costs[0];
    return sum;
}
uint64_t first(const Costs& c) { return c.empty() ? 0 : c[0]; }

const Function* find(const Profile& p, const std::string& name, const std::string& file = "") {
    for (const Function& f : p.functions())
        if (f.name == name && (file.empty() || p.file(f.file) == file)) return &f;
    return nullptr;
}

// --- the fixtures against pstats ------------------------------------------------------------
// Our functions by (file, def line, pstats name); the name may carry the ":<line>" that keeps
// same-named functions of one file apart.
class ByLocation {
public:
    explicit ByLocation(const Profile& p) : p_(p) {
        for (size_t i = 0; i < p.functions().size(); ++i) {
            const Function& f = p.functions()[i];
            at_[{p.file(f.file), f.line.value}].push_back(static_cast<uint32_t>(i));
        }
    }
    // Index of the function, or -1.
    int64_t find(const std::string& file, uint32_t line, const std::string& name) const {
        auto it = at_.find({file, line});
        if (it == at_.end()) return -1;
        for (uint32_t i : it->second) {
            const std::string& ours = p_.functions()[i].name;
            if (ours == name || ours == name + ":" + std::to_string(line)) return i;
        }
        return -1;
    }

private:
    const Profile& p_;
    std::map<std::pair<std::string, uint32_t>, std::vector<uint32_t>> at_;
};

std::vector<std::string> fields(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string field; std::getline(in, field, '\t');) out.push_back(field);
    return out;
}

void expect_matches_pstats(const std::string& prof, const std::string& expected) {
    SCOPED_TRACE(prof);
    Profile p = read_pstats_file(kFixtures + "/" + prof);
    ByLocation ours(p);
    std::ifstream in(kFixtures + "/" + expected);
    ASSERT_TRUE(in) << expected;
    size_t functions = 0, arcs = 0;
    for (std::string line; std::getline(in, line);) {
        SCOPED_TRACE(line);
        auto f = fields(line);
        if (f[0] == "F") {
            ASSERT_EQ(f.size(), 8u);
            ++functions;
            int64_t i = ours.find(f[1], static_cast<uint32_t>(std::stoul(f[2])), f[3]);
            ASSERT_GE(i, 0);
            const Function& fn = p.functions()[static_cast<size_t>(i)];
            EXPECT_EQ(fn.calls, std::stoull(f[4]));
            EXPECT_EQ(fn.primitive_calls, std::stoull(f[5]));
            EXPECT_EQ(self_time(fn), std::stoull(f[6]));
            EXPECT_EQ(first(fn.inclusive), std::stoull(f[7]));
        } else {
            ASSERT_EQ(f.size(), 11u);
            ++arcs;
            int64_t caller = ours.find(f[1], static_cast<uint32_t>(std::stoul(f[2])), f[3]);
            int64_t callee = ours.find(f[4], static_cast<uint32_t>(std::stoul(f[5])), f[6]);
            ASSERT_GE(caller, 0);
            ASSERT_GE(callee, 0);
            const Arc* arc = nullptr;
            for (const Arc& a : p.arcs())
                if (a.caller.value == caller && a.callee.value == callee) {
                    EXPECT_EQ(arc, nullptr) << "two arcs";
                    arc = &a;
                }
            ASSERT_NE(arc, nullptr);
            EXPECT_EQ(arc->calls, std::stoull(f[7]));
            EXPECT_EQ(arc->primitive_calls, std::stoull(f[8]));
            if (f[9] != "-") {
                EXPECT_EQ(first(arc->callee_self), std::stoull(f[9]));
                EXPECT_EQ(first(arc->inclusive), std::stoull(f[10]));
            }
            // Without the callers' sources every call sits at the caller's first line.
            EXPECT_EQ(arc->call_line, p.functions()[static_cast<size_t>(caller)].line);
        }
    }
    EXPECT_EQ(p.function_count(), functions);
    EXPECT_EQ(p.arcs().size(), arcs);
    EXPECT_GT(functions, 2u);
}

}  // namespace

TEST(PstatsReader, CProfileFixtureMatchesPstatsToTheNanosecond) {
    expect_matches_pstats("cprofile.prof", "cprofile.prof.expected");
    expect_matches_pstats("cprofile.prof.gz", "cprofile.prof.expected");
}

TEST(PstatsReader, ProfileModuleFixtureWithIntCallersAndACodeObjectKey) {
    expect_matches_pstats("profile.prof", "profile.prof.expected");
}

TEST(PstatsReader, YappiShapedFileLoads) {
    // (ncall, nactualcall) swapped against cProfile, a caller with no entry of its own.
    expect_matches_pstats("yappi.prof", "yappi.prof.expected");
}

TEST(PstatsReader, PyinstrumentShapedFileLoads) {
    // Counts of -1 (unknown) read as 0, int times, a frame with no file.
    expect_matches_pstats("pyinstrument.prof", "pyinstrument.prof.expected");
}

TEST(PstatsReader, ModelConventions) {
    Profile p = read_pstats_file(kFixtures + "/cprofile.prof");
    ASSERT_EQ(p.events().size(), 1u);
    EXPECT_EQ(p.events()[0].name, "Time");
    EXPECT_EQ(p.events()[0].long_name, "Time (ns)");
    const Function* len = find(p, "<built-in method builtins.len>", "~");
    ASSERT_NE(len, nullptr);
    EXPECT_EQ(p.object(len->object), "builtins");
    EXPECT_EQ(len->line, Line(0));
    const Function* fib = nullptr;
    for (const Function& f : p.functions())
        if (f.name == "fib" && p.file(f.file).ends_with("/src/prog.py")) fib = &f;
    ASSERT_NE(fib, nullptr);
    EXPECT_EQ(p.object(fib->object), "prog");
    ASSERT_EQ(fib->self_by_line.size(), 1u);
    EXPECT_EQ(fib->self_by_line.begin()->first, fib->line);  // all self time at the def line
    const Function* threading = find(p, "<module>", "/usr/lib/python3.11/threading.py");
    ASSERT_NE(threading, nullptr);
    EXPECT_EQ(p.object(threading->object), "threading");
}

TEST(PstatsReader, SameNamedFunctionsStayDistinctForKCachegrind) {
    Profile p = read_pstats_file(kFixtures + "/cprofile.prof");
    // KCachegrind's identity: name + basename(file) + basename(object).
    std::map<std::tuple<std::string, std::string, std::string>, int> identities;
    for (const Function& f : p.functions()) {
        std::string file = p.file(f.file);
        ++identities[{f.name, file.substr(file.rfind('/') + 1), p.object(f.object)}];
    }
    for (const auto& [identity, n] : identities) EXPECT_EQ(n, 1) << std::get<0>(identity);
    // Both util.py files: every function of one file under one object, a different one per file.
    std::map<std::string, std::set<std::string>> objects_by_file;
    for (const Function& f : p.functions())
        if (p.file(f.file).ends_with("/util.py")) objects_by_file[p.file(f.file)].insert(p.object(f.object));
    ASSERT_EQ(objects_by_file.size(), 2u);
    for (const auto& [file, objects] : objects_by_file) EXPECT_EQ(objects.size(), 1u) << file;
    EXPECT_EQ(*objects_by_file.begin()->second.begin(), "a.util");
    EXPECT_EQ(*objects_by_file.rbegin()->second.begin(), "b.util");
}

TEST(PstatsReader, OneNameInOneFileAtTwoLinesGetsTheLine) {
    std::string stats = dict({
        {key("/p/m.py", 3, "<lambda>"), tuple({num(1), num(1), flt(0), flt(0), dict({})})},
        {key("/p/m.py", 9, "<lambda>"), tuple({num(1), num(1), flt(0), flt(0), dict({})})},
        {key("/p/m.py", 12, "f"), tuple({num(1), num(1), flt(0), flt(0), dict({})})},
    });
    Profile p = read(stats);
    EXPECT_NE(find(p, "<lambda>:3"), nullptr);
    EXPECT_NE(find(p, "<lambda>:9"), nullptr);
    EXPECT_NE(find(p, "f"), nullptr);
}

TEST(PstatsReader, NamesThatWouldStillCollideAreNumbered) {
    // "f:3" as a real name next to two f's that become "f:3" and "f:5".
    std::string stats = dict({
        {key("/p/m.py", 3, "f"), tuple({num(1), num(1), flt(0), flt(0), dict({})})},
        {key("/p/m.py", 5, "f"), tuple({num(1), num(1), flt(0), flt(0), dict({})})},
        {key("/p/m.py", 3, "f:3"), tuple({num(1), num(1), flt(0), flt(0), dict({})})},
    });
    Profile p = read(stats);
    EXPECT_EQ(p.function_count(), 3u);
    EXPECT_NE(find(p, "f:3"), nullptr);
    EXPECT_NE(find(p, "f:5"), nullptr);
    EXPECT_NE(find(p, "f:3#2"), nullptr);
}

TEST(PstatsReader, ModuleNamesFromPaths) {
    EXPECT_EQ(module_from_path("/usr/lib/python3.11/json/encoder.py"), "json.encoder");
    EXPECT_EQ(module_from_path("/usr/lib/python3.11/json/__init__.py"), "json");
    EXPECT_EQ(module_from_path("/v/lib/python3.12/site-packages/numpy/core/_methods.py"), "numpy.core._methods");
    EXPECT_EQ(module_from_path("/usr/lib/python3/dist-packages/_distutils_hack/__init__.py"), "_distutils_hack");
    EXPECT_EQ(module_from_path("/usr/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so"), "_json");
    EXPECT_EQ(module_from_path("/x/prog.py"), "prog");
    EXPECT_EQ(module_from_path("/x/pkg/__init__.py"), "pkg");
    EXPECT_EQ(module_from_path("/x/pkg/__main__.py"), "pkg.__main__");
    EXPECT_EQ(module_from_path("/home/u/python/proj/x.py"), "x");  // "python" without a version
    EXPECT_EQ(module_from_path("prog.py"), "prog");
    EXPECT_EQ(module_from_path("<frozen importlib._bootstrap>"), "importlib._bootstrap");
    EXPECT_EQ(module_from_path("<string>"), "<string>");
    EXPECT_EQ(module_from_path("C:\\Python311\\Lib\\json\\encoder.py"), "json.encoder");
}

TEST(PstatsReader, TimesRoundOnceAndNegativeTimesAreZero) {
    std::string stats = dict({
        {key("/p/m.py", 1, "f"), tuple({num(1), num(1), flt(1.5e-9), flt(0.1234567894), dict({})})},
        {key("/p/m.py", 2, "g"),
         tuple({num(2), num(2), flt(-3e-6), flt(-1e-7), dict({{key("/p/m.py", 1, "f"), num(2)}})})},
    });
    Profile p = read(stats);
    const Function* f = find(p, "f");
    const Function* g = find(p, "g");
    ASSERT_TRUE(f && g);
    EXPECT_EQ(self_time(*f), 2u);
    EXPECT_EQ(first(f->inclusive), 123456789u);
    EXPECT_EQ(self_time(*g), 0u);
    EXPECT_EQ(first(g->inclusive), 0u);
}

TEST(PstatsReader, TimesBeyondAnyDurationAreZero) {
    // Half a nanosecond rounds away from zero; infinities, NaN and 2^64 ns and beyond are no
    // duration (a hostile or corrupt file), and must not wrap the sums.
    double huge[] = {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(), 1e300,
                     18446744073.709552};  // 2^64 ns
    for (double t : huge) {
        std::string stats = dict({{key("/p/m.py", 1, "f"), tuple({num(1), num(1), flt(t), flt(2.5e-9), dict({})})}});
        Profile p = read(stats);
        const Function* f = find(p, "f");
        ASSERT_TRUE(f);
        EXPECT_EQ(self_time(*f), 0u) << t;
        EXPECT_EQ(first(f->inclusive), 3u) << t;
    }
    std::string stats = dict({{key("/p/m.py", 1, "f"), tuple({num(1), num(1), flt(18446744073.709), flt(0), dict({})})}});
    EXPECT_GT(self_time(*find(read(stats), "f")), 18'446'744'073'000'000'000u);  // just below 2^64 ns: kept
}

TEST(PstatsReader, IntCallersShareTheCalleesTimesByCalls) {
    // The `profile` module: {caller: count}; f has 4 calls, 3 from a and 1 from b.
    std::string stats = dict({
        {key("/p/m.py", 1, "f"),
         tuple({num(4), num(4), flt(0.4), flt(0.8), dict({{key("/p/m.py", 5, "a"), num(3)}, {key("/p/m.py", 9, "b"), num(1)}})})},
        {key("/p/m.py", 5, "a"), tuple({num(1), num(1), flt(0), flt(0.6), dict({})})},
        {key("/p/m.py", 9, "b"), tuple({num(1), num(1), flt(0), flt(0.2), dict({})})},
    });
    Profile p = read(stats);
    ASSERT_EQ(p.arcs().size(), 2u);
    for (const Arc& arc : p.arcs()) {
        bool from_a = p.function(arc.caller).name == "a";
        EXPECT_EQ(arc.calls, from_a ? 3u : 1u);
        EXPECT_EQ(arc.primitive_calls, arc.calls);
        EXPECT_EQ(first(arc.callee_self), from_a ? 300'000'000u : 100'000'000u);
        EXPECT_EQ(first(arc.inclusive), from_a ? 600'000'000u : 200'000'000u);
        EXPECT_EQ(arc.call_line, p.function(arc.caller).line);
    }
}

// The reader keeps one stats entry in memory at a time: references to values of earlier
// entries are answered from their tags (keys, strings) or read again (anything else).
TEST(PstatsReader, BackReferencesToEarlierEntries) {
    // Registered in order: 0 f's key, 1 "/m.py", 2 "f", 3 the (f -> g) caller tuple.
    std::string stats = dict({
        {flagged(tuple({flagged(str("/m.py")), num(1), flagged(str("f"))})),
         tuple({num(1), num(1), flt(0.1), flt(0.7), dict({})})},
        {tuple({ref(1), num(5), str("g")}),
         tuple({num(2), num(2), flt(0.2), flt(0.2), dict({{ref(0), flagged(tuple({num(2), num(2), flt(0.2), flt(0.2)}))}})})},
        {tuple({ref(1), num(9), str("h")}),
         tuple({num(2), num(2), flt(0.2), flt(0.2), dict({{ref(0), ref(3)}})})},
        {tuple({ref(1), num(12), ref(2)}),  // another "f" in /m.py, at line 12
         tuple({num(1), num(1), flt(0), flt(0), dict({{ref(0), tuple({num(1), num(1), flt(0), flt(0)})}})})},
    });
    Profile p = read(stats);
    ASSERT_EQ(p.function_count(), 4u);
    const Function* f = find(p, "f:1");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(p.file(f->file), "/m.py");
    ASSERT_NE(find(p, "f:12"), nullptr);
    ASSERT_EQ(p.arcs().size(), 3u);
    for (const Arc& arc : p.arcs()) {
        EXPECT_EQ(p.function(arc.caller).name, "f:1");
        const std::string& callee = p.function(arc.callee).name;
        EXPECT_EQ(arc.calls, callee == "f:12" ? 1u : 2u) << callee;
        EXPECT_EQ(first(arc.inclusive), callee == "f:12" ? 0u : 200'000'000u) << callee;
    }
}

// Counts and times are read straight from the input when they are plain numbers: references to
// numbers of this entry and of earlier ones, and bools, must read as the numbers themselves.
TEST(PstatsReader, NumbersGivenByReferenceReadAsTheNumbers) {
    // Registered in order: 0 "/m.py", 1 "f", 2 the int 7, 3 the float 0.25.
    std::string stats = dict({
        {tuple({flagged(str("/m.py")), num(1), flagged(str("f"))}),
         tuple({flagged(num(7)), ref(2), flagged(flt(0.25)), flt(0.5), dict({})})},
        {tuple({ref(0), num(5), str("g")}),
         tuple({"T", num(3), flt(0.1), flt(0.2),
                dict({{tuple({ref(0), num(1), ref(1)}), tuple({ref(2), ref(2), ref(3), flt(0.125)})}})})},
    });
    std::string plain = dict({
        {key("/m.py", 1, "f"), tuple({num(7), num(7), flt(0.25), flt(0.5), dict({})})},
        {key("/m.py", 5, "g"),
         tuple({num(1), num(3), flt(0.1), flt(0.2), dict({{key("/m.py", 1, "f"), tuple({num(7), num(7), flt(0.25), flt(0.125)})}})})},
    });
    for (const std::string& input : {stats, plain}) {
        Profile p = read(input);
        const Function* f = find(p, "f");
        const Function* g = find(p, "g");
        ASSERT_TRUE(f && g);
        EXPECT_EQ(f->calls, 7u);
        EXPECT_EQ(f->primitive_calls, 7u);
        EXPECT_EQ(self_time(*f), 250'000'000u);
        EXPECT_EQ(first(f->inclusive), 500'000'000u);
        EXPECT_EQ(g->calls, 3u);
        EXPECT_EQ(g->primitive_calls, 1u);
        ASSERT_EQ(p.arcs().size(), 1u);
        const Arc& arc = p.arcs()[0];
        EXPECT_EQ(arc.calls, 7u);
        EXPECT_EQ(arc.primitive_calls, 7u);
        EXPECT_EQ(first(arc.callee_self), 250'000'000u);
        EXPECT_EQ(first(arc.inclusive), 125'000'000u);
    }
}

// A registered callers dict (Python flags one that something else also holds) is read item by
// item and not kept: a later entry that refers to it reads it again, with the same callers.
TEST(PstatsReader, ARegisteredCallersDictReferencedLaterReadsTheSame) {
    // Registered in order: 0 the callers dict of f.
    std::string callers = dict({{key("/m.py", 9, "c"), tuple({num(3), num(3), flt(0.5), flt(1.5)})}});
    std::string stats = dict({
        {key("/m.py", 1, "f"), tuple({num(3), num(3), flt(0.5), flt(1.5), flagged(callers)})},
        {key("/m.py", 5, "g"), tuple({num(3), num(3), flt(0.5), flt(1.5), ref(0)})},
        {key("/m.py", 9, "c"), tuple({num(1), num(1), flt(0), flt(3), dict({})})},
    });
    Profile p = read(stats);
    ASSERT_EQ(p.arcs().size(), 2u);
    for (const Arc& arc : p.arcs()) {
        EXPECT_EQ(p.function(arc.caller).name, "c");
        EXPECT_EQ(arc.calls, 3u);
        EXPECT_EQ(first(arc.callee_self), 500'000'000u);
        EXPECT_EQ(first(arc.inclusive), 1'500'000'000u);
    }
}

// Keys are read straight from the input when they are (string, int, string) tuples: registered
// line numbers (CPython shares small ints), strings shared between keys, and a key whose name
// refers back to its own file string (read the general way) must read as the plain keys do.
TEST(PstatsReader, KeysWithSharedPartsReadAsPlainKeys) {
    // Registered in order: 0 "/m.py", 1 the int 7, 2 "f", 3 the /n.py key, 4 "/n.py".
    std::string shared = dict({
        {tuple({flagged(str("/m.py")), flagged(num(7)), flagged(str("f"))}),
         tuple({num(1), num(1), flt(0.1), flt(0.2), dict({})})},
        {tuple({ref(0), ref(1), str("g")}),
         tuple({num(2), num(2), flt(0.3), flt(0.4), dict({{tuple({ref(0), ref(1), ref(2)}), tuple({num(2), num(2), flt(0.3), flt(0.4)})}})})},
        {flagged(tuple({flagged(str("/n.py")), num(3), ref(4)})),
         tuple({num(1), num(1), flt(0), flt(0), dict({{ref(3), tuple({num(1), num(1), flt(0), flt(0)})}})})},
    });
    std::string plain = dict({
        {key("/m.py", 7, "f"), tuple({num(1), num(1), flt(0.1), flt(0.2), dict({})})},
        {key("/m.py", 7, "g"),
         tuple({num(2), num(2), flt(0.3), flt(0.4), dict({{key("/m.py", 7, "f"), tuple({num(2), num(2), flt(0.3), flt(0.4)})}})})},
        {key("/n.py", 3, "/n.py"),
         tuple({num(1), num(1), flt(0), flt(0), dict({{key("/n.py", 3, "/n.py"), tuple({num(1), num(1), flt(0), flt(0)})}})})},
    });
    auto describe = [](const Profile& p) {
        std::set<std::tuple<std::string, std::string, uint32_t, uint64_t>> functions;
        for (const Function& f : p.functions()) functions.insert({f.name, p.file(f.file), f.line.value, f.calls});
        std::set<std::tuple<std::string, std::string, uint64_t, uint64_t>> arcs;
        for (const Arc& a : p.arcs())
            arcs.insert({p.function(a.caller).name, p.function(a.callee).name, a.calls, first(a.inclusive)});
        return std::make_pair(functions, arcs);
    };
    Profile a = read(shared), b = read(plain);
    EXPECT_EQ(a.function_count(), 3u);
    EXPECT_EQ(describe(a), describe(b));
    const Function* g = find(a, "g");
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->line.value, 7u);
}

// A line number that one key registers and a later key refers to is answered from its
// reference slot, not read again from the input: every 4-byte int must come back as itself,
// -1 (all bits set, like the marker of a slot whose value is still being read) included.
TEST(PstatsReader, RegisteredLineNumbersReadBackAsThemselves) {
    for (int32_t line : {7, -1, -2, INT32_MIN, INT32_MAX}) {
        // Registered in order: 0 "/m.py", 1 the line number, 2 "f".
        std::string stats = dict({
            {tuple({flagged(str("/m.py")), flagged(num(line)), flagged(str("f"))}),
             tuple({num(1), num(1), flt(0.1), flt(0.2), dict({})})},
            {key("/m.py", 5, "g"),
             tuple({num(2), num(2), flt(0.3), flt(0.4), dict({{tuple({ref(0), ref(1), ref(2)}), tuple({num(2), num(2), flt(0.3), flt(0.4)})}})})},
        });
        Profile p = read(stats);
        EXPECT_EQ(p.function_count(), 2u) << line;  // the caller is f, not a third function
        ASSERT_EQ(p.arcs().size(), 1u) << line;
        EXPECT_EQ(p.function(p.arcs()[0].caller).name, "f") << line;
    }
}

TEST(PstatsReader, ATagIsReadOnlyForTheTypeItWasGivenTo) {
    // A reference to the function-name string where a caller key belongs: found by the fuzzer,
    // when the string's tag (its string id) was taken for an entry index.
    std::string stats = dict({
        {tuple({flagged(str("/a.py")), num(1), flagged(str("f"))}),
         tuple({num(1), num(1), flt(0), flt(0), dict({{ref(1), tuple({num(1), num(1), flt(0), flt(0)})}})})},
    });
    try {
        read(stats);
        ADD_FAILURE() << "no error";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("expected a (file, line, name) key, found string"), std::string::npos)
            << e.what();
    }
}

TEST(PstatsReader, ReferencesThatMultiplyTheWorkAreRefused) {
    // Every entry's callers dict is a reference to the first one: legal marshal, but each
    // would be read again in full. The reader stops at 16x the input.
    std::vector<std::pair<std::string, std::string>> callers;
    for (int i = 0; i < 2000; ++i) callers.push_back({key("/c.py", i, "c"), tuple({num(1), num(1), flt(0), flt(0)})});
    std::vector<std::pair<std::string, std::string>> entries;
    entries.push_back({key("/m.py", 1, "f0"), tuple({num(1), num(1), flt(0), flt(0), flagged(dict(callers))})});
    for (int i = 1; i < 2000; ++i) entries.push_back({key("/m.py", 1, "f" + std::to_string(i)), tuple({num(1), num(1), flt(0), flt(0), ref(0)})});
    try {
        read(dict(entries));
        ADD_FAILURE() << "no error";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("back-references re-read more than"), std::string::npos) << e.what();
    }
}

TEST(PstatsReader, ManyModulesWithShortNamesAndClashingFunctions) {
    // Hundreds of objects with short (inline-stored) names, each holding a function "f" and a
    // second file whose basename and module clash: names stay unique and nothing is lost.
    std::vector<std::pair<std::string, std::string>> entries;
    for (int i = 0; i < 300; ++i) {
        std::string m = "/p/m" + std::to_string(i) + ".py";
        entries.push_back({key(m, 1, "f"), tuple({num(1), num(1), flt(1e-6), flt(1e-6), dict({})})});
        entries.push_back({key("/q" + m, 1, "f"), tuple({num(1), num(1), flt(1e-6), flt(1e-6), dict({})})});
        entries.push_back({key("~", 0, "<built-in method b" + std::to_string(i) + ".x>"),
                           tuple({num(1), num(1), flt(0), flt(0), dict({})})});
    }
    Profile p = read(dict(entries));
    ASSERT_EQ(p.function_count(), 900u);
    std::set<std::tuple<std::string, std::string, std::string>> identities;
    for (const Function& f : p.functions()) {
        std::string file = p.file(f.file), object = p.object(f.object);
        identities.insert({f.name, file.substr(file.rfind('/') + 1), object.substr(object.rfind('/') + 1)});
    }
    EXPECT_EQ(identities.size(), 900u);
}

TEST(PstatsReader, ProfileComesInTheWritersOrder) {
    // The callgrind writer skips its sorts when functions are by (object, file) and arcs by
    // caller in that order. Builtins of modules m0..m9 and files m0.py..m9.py share objects,
    // and the builtin file `~` then falls under several objects.
    std::vector<std::pair<std::string, std::string>> entries;
    auto callers = [](int i) {
        return dict({{key("/p/m" + std::to_string((i * 7 + 3) % 10) + ".py", 1, "f"),
                      tuple({num(1), num(1), flt(1e-6), flt(1e-6)})}});
    };
    for (int i = 9; i >= 0; --i) {
        entries.push_back({key("/p/m" + std::to_string(i) + ".py", 1, "f"),
                           tuple({num(1), num(1), flt(1e-6), flt(1e-6), callers(i + 1)})});
        entries.push_back({key("~", 0, "<built-in method m" + std::to_string(i) + ".x>"),
                           tuple({num(1), num(1), flt(0), flt(0), callers(i)})});
    }
    Profile p = read(dict(entries));
    ASSERT_EQ(p.function_count(), 20u);
    const auto& fns = p.functions();
    for (size_t i = 1; i < fns.size(); ++i) {
        EXPECT_LE(fns[i - 1].object.value, fns[i].object.value);
        if (fns[i - 1].object == fns[i].object) {
            EXPECT_LE(fns[i - 1].file.value, fns[i].file.value) << i;
        }
    }
    EXPECT_LT(p.object_count(), 20u);  // objects were shared
    for (size_t a = 1; a < p.arcs().size(); ++a) EXPECT_LE(p.arcs()[a - 1].caller.value, p.arcs()[a].caller.value);
}

TEST(PstatsReader, ProfileModuleEmptyFileIsTheBuiltinFile) {
    std::string stats = dict({{key("", 0, "len"), tuple({num(1), num(1), flt(0), flt(0), dict({})})}});
    Profile p = read(stats);
    const Function* len = find(p, "len");
    ASSERT_NE(len, nullptr);
    EXPECT_EQ(p.file(len->file), "~");
    EXPECT_EQ(p.object(len->object), builtin_object("len"));
}

TEST(PstatsReader, TruncatedAnywhereIsAFormatError) {
    std::string good = read_file(kFixtures + "/yappi.prof");
    ASSERT_NO_THROW(read(good));
    for (size_t n = 0; n < good.size(); ++n) EXPECT_THROW(read(good.substr(0, n)), FormatError) << n;
    std::string big = read_file(kFixtures + "/cprofile.prof");
    for (size_t n = 0; n < big.size(); n += 97) EXPECT_THROW(read(big.substr(0, n)), FormatError) << n;
}

TEST(PstatsReader, NotMarshalOrNotStatsSaySo) {
    auto message = [](const std::string& data) -> std::string {
        try {
            read(data);
        } catch (const FormatError& e) {
            EXPECT_NE(std::string(e.what()).find(" at byte "), std::string::npos);
            return e.what();
        }
        ADD_FAILURE() << "no error";
        return "";
    };
    EXPECT_EQ(message(""), "empty input, expected marshal data at byte 0");
    EXPECT_EQ(message("hello world\n"), "unknown type code 0x68 at byte 0");
    EXPECT_EQ(message("[" + i32(0)), "not a pstats file: expected the stats dict, found list at byte 0");
    EXPECT_NE(message(dict({{num(1), tuple({num(1), num(1), flt(0), flt(0), dict({})})}}))
                  .find("expected a (file, line, name) key"),
              std::string::npos);
    EXPECT_NE(message(dict({{key("/a.py", 1, "f"), tuple({num(1)})}})).find("5-tuple"), std::string::npos);
    EXPECT_NE(message(dict({{key("/a.py", 1, "f"), tuple({num(1), num(1), str("x"), flt(0), dict({})})}}))
                  .find("expected a time, found string"),
              std::string::npos);
    EXPECT_NE(message(dict({{key("/a.py", 1, "f"), tuple({num(1), num(1), flt(0), flt(0), str("x")})}}))
                  .find("expected a callers dict"),
              std::string::npos);
    EXPECT_NE(message(dict({{key("/a.py", 1, "f"),
                             tuple({num(1), num(1), flt(0), flt(0), dict({{key("/b.py", 1, "g"), tuple({num(1)})}})})}}))
                  .find("caller tuple"),
              std::string::npos);
}

// --- gzip input -----------------------------------------------------------------------------
namespace {

std::string gzip(const std::string& data) {
    z_stream z{};
    EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&z, data.size()) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

class TempFile {
public:
    explicit TempFile(const std::string& data) {
        char name[] = "/tmp/calltree_pstats_XXXXXX";
        int fd = mkstemp(name);
        EXPECT_GE(fd, 0);
        close(fd);
        path_ = name;
        std::ofstream(path_, std::ios::binary) << data;
    }
    ~TempFile() { std::remove(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

std::string input_error(const std::string& path, size_t limit = size_t{4} << 30) {
    try {
        read_input(path, limit);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST(GzipInput, DetectedByContent) {
    std::string plain = read_file(kFixtures + "/cprofile.prof");
    TempFile packed(gzip(plain));
    auto data = read_input(packed.path());
    EXPECT_EQ(std::string(data.begin(), data.end()), plain);
    TempFile unpacked(plain);
    data = read_input(unpacked.path());
    EXPECT_EQ(std::string(data.begin(), data.end()), plain);
}

TEST(GzipInput, ConcatenatedMembersAreOneStream) {
    TempFile both(gzip("abc") + gzip("def"));
    auto data = read_input(both.path());
    EXPECT_EQ(std::string(data.begin(), data.end()), "abcdef");
}

TEST(GzipInput, TruncatedCorruptOrTooLargeIsAClearError) {
    std::string packed = gzip(read_file(kFixtures + "/cprofile.prof"));
    for (size_t n : {size_t{2}, size_t{10}, size_t{100}, packed.size() / 2, packed.size() - 1}) {
        TempFile cut(packed.substr(0, n));
        EXPECT_EQ(input_error(cut.path()), "truncated gzip stream") << n;
    }
    std::string corrupt = packed;
    for (size_t i = 20; i < 60; ++i) corrupt[i] = static_cast<char>(~corrupt[i]);
    TempFile bad(corrupt);
    EXPECT_EQ(input_error(bad.path()).rfind("bad gzip stream: ", 0), 0u) << input_error(bad.path());
    // A small file that inflates to 2 MiB of zeros, read with a 1 MiB cap.
    TempFile bomb(gzip(std::string(2 << 20, '\0')));
    EXPECT_EQ(input_error(bomb.path(), 1 << 20), "gzip data expands beyond 1 MiB");
}

TEST(GzipInput, MissingFile) {
    EXPECT_EQ(input_error("/nonexistent/x.prof"), "No such file or directory");
    EXPECT_THROW(read_pstats_file("/nonexistent/x.prof"), std::runtime_error);
}
