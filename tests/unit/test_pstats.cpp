// pstats reading and writing: model -> .prof -> model keeps every count and time, and the
// checked-in CPython fixtures load (their numbers are checked against pstats in tests/e2e).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "formats/pstats_reader.h"
#include "formats/pstats_writer.h"
#include "model/names.h"

using namespace calltree;

namespace {

Profile sample() {
    Profile p(std::vector<EventType>{{"Time", "Time (ns)"}});
    FileId prog = p.intern_file("/src/prog.py");
    FileId other = p.intern_file("/src/other/prog.py");
    FileId tilde = p.intern_file(std::string(kBuiltinFile));
    ObjectId main = p.intern_object("__main__");
    ObjectId b = p.intern_object("builtins");
    FunctionId module = p.intern_function("<module>", prog, main, Line(1));
    FunctionId fib = p.intern_function("fib", prog, main, Line(3));
    FunctionId fib2 = p.intern_function("fib", other, p.intern_object("other"), Line(3));
    FunctionId len = p.intern_function("<built-in method builtins.len>", tilde, b, Line(0));
    auto self = [&](FunctionId f, uint64_t ns, uint64_t calls, uint64_t prim, uint64_t incl) {
        p.add_self_cost(f, p.function(f).line, std::span<const uint64_t>(&ns, 1));
        p.add_calls(f, calls, prim);
        p.add_inclusive(f, std::span<const uint64_t>(&incl, 1));
    };
    self(module, 1000, 1, 1, 9000);
    self(fib, 5000, 177, 1, 6000);
    self(fib2, 2000, 1, 1, 2000);
    self(len, 100, 3'000'000'000, 3'000'000'000, 100);  // beyond int32: written as a long
    auto arc = [&](FunctionId a, FunctionId c, uint64_t calls, uint64_t prim, uint64_t tt, uint64_t ct) {
        Arc& x = p.arc(a, p.function(a).line, c);
        x.calls = calls;
        x.primitive_calls = prim;
        x.callee_self = {tt};
        x.inclusive = {ct};
    };
    arc(module, fib, 1, 1, 30, 6000);
    arc(fib, fib, 176, 0, 4970, 5900);
    arc(module, fib2, 1, 1, 2000, 2000);
    arc(module, len, 3'000'000'000, 3'000'000'000, 100, 100);
    return p;
}

Profile round_trip(const Profile& p) {
    std::ostringstream out;
    write_pstats(p, out);
    std::string data = out.str();
    return read_pstats(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

const Function* find(const Profile& p, const std::string& name, const std::string& file) {
    for (const Function& f : p.functions())
        if (f.name == name && p.file(f.file) == file) return &f;
    return nullptr;
}

}  // namespace

TEST(Pstats, WriteThenReadKeepsEveryNumber) {
    Profile original = sample();
    Profile back = round_trip(original);
    ASSERT_EQ(back.function_count(), original.function_count());
    EXPECT_EQ(back.totals(), original.totals());
    const Function* fib = find(back, "fib", "/src/prog.py");
    ASSERT_NE(fib, nullptr);
    EXPECT_EQ(fib->calls, 177u);
    EXPECT_EQ(fib->primitive_calls, 1u);
    EXPECT_EQ(fib->inclusive, Costs{6000});
    EXPECT_EQ(back.object(find(back, "<built-in method builtins.len>", "~")->object), "builtins");
    EXPECT_EQ(find(back, "<built-in method builtins.len>", "~")->calls, 3'000'000'000u);
    ASSERT_EQ(back.arcs().size(), original.arcs().size());
    for (const Arc& a : back.arcs()) {
        const Function& caller = back.function(a.caller);
        const Function& callee = back.function(a.callee);
        bool matched = false;
        for (const Arc& o : original.arcs()) {
            if (original.function(o.caller).name == caller.name && original.function(o.callee).name == callee.name &&
                original.file(original.function(o.callee).file) == back.file(callee.file)) {
                EXPECT_EQ(a.calls, o.calls);
                EXPECT_EQ(a.primitive_calls, o.primitive_calls);
                EXPECT_EQ(a.inclusive, o.inclusive);
                EXPECT_EQ(a.callee_self, o.callee_self);
                matched = true;
            }
        }
        EXPECT_TRUE(matched) << caller.name << " -> " << callee.name;
    }
}

TEST(Pstats, SameNamedFunctionsInSameNamedFilesStayDistinctForKCachegrind) {
    Profile back = round_trip(sample());
    const Function* a = find(back, "fib", "/src/prog.py");
    const Function* b = find(back, "fib", "/src/other/prog.py");
    ASSERT_TRUE(a && b);
    EXPECT_NE(back.object(a->object), back.object(b->object));
}

TEST(Pstats, CProfileFixtureLoads) {
    for (const char* name : {"cprofile.prof", "cprofile.prof.gz", "profile.prof"}) {
        Profile p = read_pstats_file(std::string(CALLTREE_FIXTURES) + "/" + name);
        EXPECT_GT(p.function_count(), 50u) << name;
        // The fixtures keep the paths of the machine that made them: match the file by its tail.
        bool found = false;
        for (const Function& f : p.functions())
            found |= f.name == "fib" && p.file(f.file).ends_with("/src/prog.py") && f.calls == 1973;
        EXPECT_TRUE(found) << name;
    }
}

TEST(Pstats, NotAStatsDict) {
    std::string list = std::string("[") + std::string("\x00\x00\x00\x00", 4);
    EXPECT_THROW(read_pstats(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(list.data()), list.size())),
                 FormatError);
    std::string bad_value = std::string("{") + ")\x03" "z\x01" "a" + "i" + std::string("\x01\x00\x00\x00", 4) +
                            "z\x01" "f" + "N" + "0";
    try {
        read_pstats(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bad_value.data()), bad_value.size()));
        FAIL();
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("expected a (cc, nc, tt, ct, callers) tuple"), std::string::npos) << e.what();
    }
}
