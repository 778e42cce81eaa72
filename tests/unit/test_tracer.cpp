// The tracer in an embedded interpreter with the counter clock (1000 ns per profile event), so
// every cost in the Profile it builds is exact. The tracer is process state, started once: this
// file has a single test (ctest runs every test in a process of its own anyway).
#include <gtest/gtest.h>

#include <map>

#include "collect/tracer/tracer.h"
#include "embedded_python.h"

using namespace calltree;
using namespace calltree::testing;

namespace {

constexpr uint64_t kStep = 1000;  // ns per event

// Lines 1-8 are costed exactly; 9-13 exec the same source three times (new code objects each
// time) and must still make one function per source function.
const char* kProgram = R"(def f():
    pass
def g(n):
    if n:
        g(n - 1)
    f()
g(1)
len([])
src = "def h():\n    pass\nh()\n"
for i in range(3):
    exec(compile(src, "/virtual/execd.py", "exec"), {})
def k():
    pass
)";

// The first event's cost; an absent cost is 0.
uint64_t first(const Costs& costs) { return costs.empty() ? 0 : costs[0]; }

struct View {
    const Profile& p;
    FunctionId fn(const std::string& name, const std::string& file) const {
        std::vector<FunctionId> found;
        for (uint32_t i = 0; i < p.function_count(); ++i) {
            const Function& f = p.function(FunctionId(i));
            if (f.name == name && p.file(f.file) == file) found.emplace_back(i);
        }
        EXPECT_EQ(found.size(), 1u) << name << " in " << file;
        return found.empty() ? FunctionId(0) : found[0];
    }
    // {(call line): (calls, inclusive)} of the arcs caller -> callee.
    std::map<uint32_t, std::pair<uint64_t, uint64_t>> arcs(FunctionId caller, FunctionId callee) const {
        std::map<uint32_t, std::pair<uint64_t, uint64_t>> out;
        for (const Arc& a : p.arcs())
            if (a.caller == caller && a.callee == callee) out[a.call_line.value] = {a.calls, first(a.inclusive)};
        return out;
    }
    uint64_t self(FunctionId id) const {
        uint64_t sum = 0;
        for (const auto& [line, costs] : p.function(id).self_by_line) sum += first(costs);
        return sum;
    }
};

}  // namespace

TEST(Tracer, ExactCostsCallSitesAndExecdCodeFolding) {
    ensure_python();
    TracerOptions options;
    options.clock = TracerClock::Counter;
    options.cwd = "/cwd";
    ASSERT_TRUE(tracer::start(options));
    run_main(kProgram, "/virtual/prog.py");
    tracer::stop();
    Profile profile = tracer::build_profile();
    View v{profile};
    const std::string prog = "/virtual/prog.py";

    // Events 1-12: call <module>, call g(1), call g(0), call f, return f, return g(0), call f,
    // return f, return g(1), call len, return len, ... (the rest of <module>).
    FunctionId module = v.fn("<module>", prog), f = v.fn("f", prog), g = v.fn("g", prog);
    FunctionId len = v.fn("<built-in method builtins.len>", "~");
    EXPECT_EQ(profile.object(profile.function(f).object), "__main__");
    EXPECT_EQ(profile.object(profile.function(len).object), "builtins");
    EXPECT_EQ(profile.function(g).line.value, 3u);

    EXPECT_EQ(profile.function(f).calls, 2u);
    EXPECT_EQ(v.self(f), 2 * kStep);
    EXPECT_EQ(profile.function(g).calls, 2u);
    EXPECT_EQ(profile.function(g).primitive_calls, 1u);
    EXPECT_EQ(v.self(g), 5 * kStep);                         // g(0): 3 - 1 (f), g(1): 7 - 3 - 1
    EXPECT_EQ(first(profile.function(g).inclusive), 7 * kStep);  // the outermost activation only
    EXPECT_EQ(v.self(len), 1 * kStep);

    using Arcs = std::map<uint32_t, std::pair<uint64_t, uint64_t>>;
    EXPECT_EQ(v.arcs(module, g), (Arcs{{7, {1, 7 * kStep}}}));
    EXPECT_EQ(v.arcs(g, g), (Arcs{{5, {1, 3 * kStep}}}));
    EXPECT_EQ(v.arcs(g, f), (Arcs{{6, {2, 2 * kStep}}}));
    EXPECT_EQ(v.arcs(module, len), (Arcs{{8, {1, 1 * kStep}}}));

    // exec'd three times: one <module> and one h for the exec'd source, each called 3 times.
    FunctionId execd = v.fn("<module>", "/virtual/execd.py"), h = v.fn("h", "/virtual/execd.py");
    EXPECT_EQ(profile.function(execd).calls, 3u);
    EXPECT_EQ(profile.function(h).calls, 3u);
    EXPECT_EQ(v.arcs(execd, h), (Arcs{{3, {3, 3 * kStep}}}));  // call and return: one step each
    for (const Function& fn : profile.functions()) EXPECT_NE(fn.name, "k");  // defined, never called

    // The program's time is all there is: self costs add up to <module>'s inclusive time.
    EXPECT_EQ(first(profile.totals()), first(profile.function(module).inclusive));
}
