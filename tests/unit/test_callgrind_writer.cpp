// The callgrind writer against golden files, its own reader (round trip) and valgrind's
// callgrind_annotate. CALLTREE_UPDATE_GOLDEN=1 rewrites the golden files after an intended change.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <tuple>
#include <random>
#include <sstream>

#include "formats/callgrind_reader.h"
#include "formats/callgrind_writer.h"
#include "model/names.h"

using namespace calltree;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void expect_golden(const std::string& name, const std::string& actual) {
    std::string path = std::string(CALLTREE_GOLDEN_DIR) + "/" + name;
    // Regeneration is explicit: only the value 1 rewrites the files (scripts/test.sh, what CI runs,
    // refuses to run with the variable set at all). Any other value is a mistake, not a "no".
    if (const char* update = std::getenv("CALLTREE_UPDATE_GOLDEN")) {
        ASSERT_STREQ(update, "1") << "CALLTREE_UPDATE_GOLDEN must be 1 (regenerate) or unset";
        std::ofstream(path, std::ios::binary) << actual;
        std::printf("regenerated golden file %s\n", path.c_str());
    }
    EXPECT_EQ(actual, slurp(path)) << "golden file " << path << " differs (CALLTREE_UPDATE_GOLDEN=1 regenerates it)";
}

std::string written(const Profile& p, CallgrindOptions options = {}) {
    std::ostringstream out;
    write_callgrind(p, out, options);
    return out.str();
}

void self(Profile& p, FunctionId f, uint32_t line, std::initializer_list<uint64_t> costs) {
    p.add_self_cost(f, Line(line), Costs(costs));
}

void call(Profile& p, FunctionId from, uint32_t line, FunctionId to, uint64_t count, std::initializer_list<uint64_t> incl) {
    Arc& a = p.arc(from, Line(line), to);
    a.calls += count;
    add_costs(a.inclusive, Costs(incl));
}

// The shape of the worked example in valgrind's cl-format.xml: main calls func1 and func2 at
// their call sites, func1 calls func2, two event types.
Profile spec_example() {
    Profile p({{"Instr", "Instruction Fetch"}, {"Flop", "Floating point ops"}});
    p.command = "test";
    p.pid = 4711;
    FileId file1 = p.intern_file("file1.c");
    FileId file2 = p.intern_file("file2.c");
    ObjectId obj = p.intern_object("/usr/bin/example");
    FunctionId main = p.intern_function("main", file1, obj, Line(16));
    FunctionId func1 = p.intern_function("func1", file1, obj, Line(51));
    FunctionId func2 = p.intern_function("func2", file2, obj, Line(20));
    self(p, main, 16, {20});
    self(p, main, 17, {2});
    call(p, main, 16, func1, 1, {400});
    call(p, main, 17, func2, 3, {400});
    self(p, func1, 51, {100});
    call(p, func1, 51, func2, 2, {300});
    self(p, func2, 20, {700, 50});
    return p;
}

Profile python_like(bool with_odd_name = true) {
    Profile p(std::vector<EventType>{{"Time", "Wall time (ns)"}});
    ObjectId main_obj = p.intern_object("__main__");
    ObjectId builtins = p.intern_object(builtin_object("<built-in method builtins.len>"));
    FileId prog = p.intern_file("/tmp/prog.py");
    FileId tilde = p.intern_file(std::string(kBuiltinFile));
    FunctionId module = p.intern_function("<module>", prog, main_obj, Line(1));
    FunctionId fib = p.intern_function("fib", prog, main_obj, Line(3));
    FunctionId append = p.intern_function("<method 'append' of 'list' objects>", tilde, builtins, Line(0));
    FunctionId weird = p.intern_function(with_odd_name ? "Odd.name\nwith newline" : "Odd.name", prog, main_obj, Line(9));
    self(p, module, 1, {1000});
    self(p, fib, 3, {5000});
    self(p, append, 0, {300});
    self(p, weird, 9, {1});
    call(p, module, 12, fib, 1, {5000});
    call(p, fib, 5, fib, 176, {4900});  // recursion: counted at the outermost activation only
    call(p, module, 13, append, 3, {300});
    call(p, module, 14, weird, 1, {1});
    return p;
}

}  // namespace

TEST(CallgrindWriter, SpecExampleGolden) { expect_golden("spec_example.callgrind", written(spec_example())); }

TEST(CallgrindWriter, PythonNamesGolden) { expect_golden("python_names.callgrind", written(python_like())); }

TEST(CallgrindWriter, UncompressedNamesGolden) {
    CallgrindOptions options;
    options.compress_names = false;
    expect_golden("spec_example_uncompressed.callgrind", written(spec_example(), options));
}

TEST(CallgrindWriter, HeaderOrderAndTotals) {
    std::string text = written(spec_example());
    EXPECT_EQ(text.rfind("# callgrind format\nversion: 1\n", 0), 0u);
    auto events = text.find("\nevents: Instr Flop\n");
    ASSERT_NE(events, std::string::npos);
    EXPECT_LT(text.find("positions: line"), events);
    EXPECT_LT(text.find("event: Flop : Floating point ops"), events);
    EXPECT_EQ(text.find("fn="), text.find("fn=", events));  // no body before events:
    EXPECT_NE(text.find("\ntotals: 822 50\n"), std::string::npos);
}

TEST(CallgrindWriter, NewlinesInNamesCannotBreakLines) {
    std::string text = written(python_like());
    EXPECT_NE(text.find("Odd.name with newline"), std::string::npos);
}

// Every line end in a name becomes a space, \r as well as \n, several of them, in short names
// and in ones longer than the writer's slack (copied in pieces).
TEST(CallgrindWriter, EveryLineEndInANameBecomesASpace) {
    Profile p(std::vector<EventType>{{"Time", "Time (ns)"}});
    std::string long_name = std::string(300, 'x') + "\r\n" + std::string(300, 'y') + "\n";
    FunctionId f = p.intern_function("a\nb\rc\n\nd\r", p.intern_file("/x\r.py"), p.intern_object("m\n"), Line(1));
    FunctionId g = p.intern_function(long_name, p.intern_file("/y.py"), p.intern_object("m\n"), Line(2));
    uint64_t one = 1;
    p.add_self_cost(f, Line(1), std::span<const uint64_t>(&one, 1));
    p.arc(f, Line(1), g).calls = 1;
    std::string text = written(p);
    EXPECT_NE(text.find("fn=(1) a b c  d \n"), std::string::npos) << text;
    EXPECT_NE(text.find("fl=(1) /x .py\n"), std::string::npos) << text;
    EXPECT_NE(text.find("ob=(1) m \n"), std::string::npos) << text;
    EXPECT_NE(text.find(std::string(300, 'x') + "  " + std::string(300, 'y') + " \n"), std::string::npos);
    EXPECT_EQ(text.find('\r'), std::string::npos);
}

TEST(CallgrindWriter, StreamFailureThrows) {
    std::ostringstream out;
    out.setstate(std::ios::badbit);
    EXPECT_THROW(write_callgrind(spec_example(), out), std::runtime_error);
}

namespace {

void expect_same_profile(const Profile& a, const Profile& b) {
    ASSERT_EQ(a.event_count(), b.event_count());
    ASSERT_EQ(a.function_count(), b.function_count());
    EXPECT_EQ(a.totals(), b.totals());
    std::map<std::tuple<std::string, std::string, std::string>, const Function*> by_name;
    for (const Function& f : b.functions()) by_name[{f.name, b.file(f.file), b.object(f.object)}] = &f;
    for (const Function& f : a.functions()) {
        auto it = by_name.find({f.name, a.file(f.file), a.object(f.object)});
        ASSERT_NE(it, by_name.end()) << f.name;
        for (const auto& [line, costs] : f.self_by_line) {
            auto other = it->second->self_by_line.find(line);
            ASSERT_NE(other, it->second->self_by_line.end()) << f.name << " line " << line.value;
            Costs expected = costs, actual = other->second;
            expected.resize(a.event_count(), 0);
            actual.resize(a.event_count(), 0);
            EXPECT_EQ(actual, expected) << f.name;
        }
    }
    using ArcName = std::tuple<std::string, std::string, uint32_t>;
    auto arcs = [](const Profile& p) {
        std::map<ArcName, std::pair<uint64_t, Costs>> m;
        for (const Arc& arc : p.arcs()) {
            Costs incl = arc.inclusive;
            incl.resize(p.event_count(), 0);
            m[{p.function(arc.caller).name, p.function(arc.callee).name, arc.call_line.value}] = {arc.calls, incl};
        }
        return m;
    };
    EXPECT_EQ(arcs(a), arcs(b));
}

}  // namespace

TEST(CallgrindReader, RoundTripOfHandMadeProfiles) {
    for (const Profile& p : {spec_example(), python_like(false)}) {
        std::istringstream in(written(p));
        Profile back = read_callgrind(in);
        EXPECT_EQ(back.command, p.command);
        EXPECT_EQ(back.pid, p.pid);
        expect_same_profile(p, back);
    }
}

TEST(CallgrindReader, RoundTripOfALargeRandomProfile) {
    std::mt19937_64 rng(42);
    Profile p({{"Time", "Time (ns)"}, {"Bytes", "Bytes allocated"}});
    std::vector<FunctionId> fns;
    for (int i = 0; i < 3000; ++i) {
        FileId file = p.intern_file("/src/mod" + std::to_string(i % 40) + ".py");
        ObjectId obj = p.intern_object("pkg.mod" + std::to_string(i % 40));
        FunctionId f = p.intern_function("f" + std::to_string(i), file, obj, Line(1 + i % 500));
        self(p, f, 1 + i % 500, {rng() % 1000000, rng() % 3 == 0 ? rng() % 4096 : 0});
        fns.push_back(f);
    }
    for (int i = 0; i < 20000; ++i) {
        FunctionId a = fns[rng() % fns.size()], b = fns[rng() % fns.size()];
        call(p, a, 1 + static_cast<uint32_t>(rng() % 700), b, 1 + rng() % 50, {rng() % 1000000, rng() % 100});
    }
    for (bool compress : {true, false}) {
        CallgrindOptions options;
        options.compress_names = compress;
        std::string text = written(p, options);
        std::istringstream in(text);
        expect_same_profile(p, read_callgrind(in));
    }
}

TEST(CallgrindReader, NumbersOfEveryLengthSurviveTheRoundTrip) {
    // The writer formats numbers itself: every power of ten, one below it, and the extremes.
    Profile p({EventType{"Time", "Time (ns)"}});
    FileId file = p.intern_file("/m.py");
    ObjectId obj = p.intern_object("m");
    std::vector<uint64_t> values{0, 1, 9, UINT64_MAX, UINT64_MAX - 1, uint64_t{1} << 63};
    for (uint64_t power = 10; power <= 10'000'000'000'000'000'000ULL; power *= 10) {
        values.push_back(power - 1);
        values.push_back(power);
        if (power > UINT64_MAX / 10) break;
    }
    for (size_t i = 0; i < values.size(); ++i) {
        FunctionId f = p.intern_function("f" + std::to_string(i), file, obj, Line(static_cast<uint32_t>(i + 1)));
        self(p, f, static_cast<uint32_t>(i + 1), {values[i]});
    }
    std::istringstream in(written(p));
    Profile back = read_callgrind(in);
    ASSERT_EQ(back.function_count(), values.size());
    for (size_t i = 0; i < values.size(); ++i) {
        const Function& f = back.function(FunctionId(static_cast<uint32_t>(i)));
        ASSERT_EQ(f.self_by_line.size(), 1u);
        EXPECT_EQ(f.self_by_line.begin()->second[0], values[i]) << f.name;
    }
}

TEST(CallgrindReader, ReadsValgrindStyleFiles) {
    // Relative positions, fi=/fe= switches, cfl= and a summary line, as valgrind writes them.
    std::istringstream in(
        "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npositions: line\nevents: Ir\nsummary: 30\n"
        "ob=(1) /bin/x\nfl=(1) a.c\nfn=(1) main\n10 5\n+2 3\nfi=(2) b.h\n-1 2\nfe=(1)\n"
        "cfl=(2)\ncfn=(2) helper\ncalls=4 7\n* 20\n\nfl=(2)\nfn=(2)\n7 20\n");
    Profile p = read_callgrind(in);
    ASSERT_EQ(p.function_count(), 2u);
    EXPECT_EQ(p.totals(), Costs{30});
    const Function& main = p.functions()[0];
    EXPECT_EQ(main.self_by_line.at(Line(10)), Costs{5});
    EXPECT_EQ(main.self_by_line.at(Line(12)), Costs{3});
    EXPECT_EQ(main.self_by_line.at(Line(11)), Costs{2});
    ASSERT_EQ(p.arcs().size(), 1u);
    EXPECT_EQ(p.arcs()[0].calls, 4u);
    EXPECT_EQ(p.arcs()[0].call_line, Line(11));
    EXPECT_EQ(p.file(p.function(p.arcs()[0].callee).file), "b.h");
}

TEST(CallgrindReader, RejectsMalformedInput) {
    std::istringstream undefined("events: Ir\nfn=(3)\n1 2\n");
    EXPECT_THROW(read_callgrind(undefined), std::runtime_error);
    std::istringstream no_function("events: Ir\n1 2\n");
    EXPECT_THROW(read_callgrind(no_function), std::runtime_error);
    std::istringstream bad_number("events: Ir\nfn=f\n1 x\n");
    EXPECT_THROW(read_callgrind(bad_number), std::runtime_error);
}

// valgrind's callgrind_annotate is an independent reader: it must accept our files and agree on
// the totals and the top functions.
TEST(CallgrindAnnotate, ParsesOurFiles) {
    if (access("/usr/bin/callgrind_annotate", X_OK) != 0) GTEST_SKIP() << "valgrind not installed";
    char path[] = "/tmp/calltree_annotate_XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    std::ofstream(path) << written(python_like());
    std::string command = std::string("/usr/bin/callgrind_annotate ") + path + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    char buffer[4096];
    while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
    int status = pclose(pipe);
    unlink(path);
    EXPECT_EQ(status, 0) << output;
    EXPECT_NE(output.find("6,301 (100.0%)  PROGRAM TOTALS"), std::string::npos) << output;
    EXPECT_NE(output.find("5,000 (79.35%)  /tmp/prog.py:fib [__main__]"), std::string::npos) << output;
    EXPECT_NE(output.find("~:<method 'append' of 'list' objects> [builtins]"), std::string::npos) << output;
}
