#include <gtest/gtest.h>

#include <algorithm>

#include "model/id_index.h"
#include "model/names.h"
#include "model/profile.h"

using namespace calltree;

namespace {
Profile two_events() { return Profile({{"Time", "Time (ns)"}, {"Alloc", "Bytes allocated"}}); }
}  // namespace

TEST(Profile, InterningGivesStableIds) {
    Profile p = two_events();
    FileId a = p.intern_file("/a.py");
    EXPECT_EQ(p.intern_file("/a.py"), a);
    EXPECT_NE(p.intern_file("/b.py"), a);
    ObjectId m = p.intern_object("mod");
    FunctionId f = p.intern_function("f", a, m, Line(3));
    EXPECT_EQ(p.intern_function("f", a, m, Line(99)), f);  // identity ignores the line
    EXPECT_EQ(p.function(f).line, Line(3));
    // Same name in another object or file is another function (KCachegrind's identity rule).
    EXPECT_NE(p.intern_function("f", a, p.intern_object("other"), Line(3)), f);
    EXPECT_NE(p.intern_function("f", p.intern_file("/b.py"), m, Line(3)), f);
}

// A reader appends functions it knows to be new without indexing them: interning afterwards
// (a merge into the converted profile) still finds each of them, and adds only new ones.
TEST(Profile, AppendedFunctionsAreFoundByLaterInterning) {
    Profile p = two_events();
    FileId a = p.intern_file("/a.py");
    ObjectId m = p.intern_object("mod");
    std::vector<FunctionId> appended;
    for (int i = 0; i < 200; ++i) appended.push_back(p.append_function("f" + std::to_string(i), a, m, Line(i + 1)));
    for (int i = 0; i < 200; ++i) EXPECT_EQ(p.intern_function("f" + std::to_string(i), a, m, Line(7)), appended[i]);
    FunctionId g = p.intern_function("g", a, m, Line(3));
    EXPECT_EQ(g.value, 200u);
    FunctionId h = p.append_function("h", a, m, Line(4));
    EXPECT_EQ(p.intern_function("h", a, m, Line(9)), h);
    EXPECT_EQ(p.intern_function("g", a, m, Line(9)), g);
    EXPECT_EQ(p.function_count(), 202u);
}

TEST(Profile, TotalsAreTheSumOfSelfCosts) {
    Profile p = two_events();
    FileId file = p.intern_file("/a.py");
    ObjectId obj = p.intern_object("m");
    FunctionId f = p.intern_function("f", file, obj, Line(1));
    FunctionId g = p.intern_function("g", file, obj, Line(5));
    uint64_t c1[] = {10, 1}, c2[] = {5, 0}, c3[] = {7, 100};
    p.add_self_cost(f, Line(1), c1);
    p.add_self_cost(f, Line(1), c2);
    p.add_self_cost(g, Line(6), c3);
    Arc& arc = p.arc(f, Line(2), g);
    add_costs(arc.inclusive, c3);  // inclusive costs never count towards totals
    EXPECT_EQ(p.totals(), (Costs{22, 101}));
    EXPECT_EQ(p.function(f).self_by_line.at(Line(1)), (Costs{15, 1}));
}

TEST(Profile, ArcsAreKeyedByCallSite) {
    Profile p = two_events();
    FileId file = p.intern_file("/a.py");
    ObjectId obj = p.intern_object("m");
    FunctionId f = p.intern_function("f", file, obj, Line(1));
    FunctionId g = p.intern_function("g", file, obj, Line(5));
    p.arc(f, Line(2), g).calls += 1;
    p.arc(f, Line(3), g).calls += 2;
    p.arc(f, Line(2), g).calls += 4;
    ASSERT_EQ(p.arcs().size(), 2u);
    EXPECT_EQ(p.arcs()[0].calls, 5u);
    EXPECT_EQ(p.arcs()[1].calls, 2u);
}

TEST(Profile, MergeAddsCostsAndMapsEventsByName) {
    Profile a(std::vector<EventType>{{"Time", "Time (ns)"}});
    Profile b({{"Alloc", "Bytes"}, {"Time", "Time (ns)"}});
    for (Profile* p : {&a, &b}) {
        FileId file = p->intern_file("/x.py");
        ObjectId obj = p->intern_object("x");
        FunctionId f = p->intern_function("f", file, obj, Line(1));
        FunctionId g = p->intern_function("g", file, obj, Line(4));
        p->add_calls(f, 1, 1);
        Costs self(p->event_count(), 0);
        self[static_cast<size_t>(p->event_index("Time"))] = 10;
        p->add_self_cost(f, Line(1), self);
        Arc& arc = p->arc(f, Line(2), g);
        arc.calls += 3;
        arc.inclusive = self;
    }
    a.merge(b);
    ASSERT_EQ(a.event_count(), 2u);
    EXPECT_EQ(a.events()[1].name, "Alloc");
    ASSERT_EQ(a.function_count(), 2u);
    EXPECT_EQ(a.functions()[0].calls, 2u);
    EXPECT_EQ(a.totals(), (Costs{20, 0}));
    ASSERT_EQ(a.arcs().size(), 1u);
    EXPECT_EQ(a.arcs()[0].calls, 6u);
    EXPECT_EQ(a.arcs()[0].inclusive, (Costs{20, 0}));
}

TEST(Names, BuiltinObjectFollowsCProfileNames) {
    EXPECT_EQ(builtin_object("<built-in method builtins.len>"), "builtins");
    EXPECT_EQ(builtin_object("<built-in method time.sleep>"), "time");
    EXPECT_EQ(builtin_object("<method 'append' of 'list' objects>"), "builtins");
    EXPECT_EQ(builtin_object("<method 'sum' of 'numpy.ndarray' objects>"), "numpy");
    EXPECT_EQ(builtin_object("<built-in method numpy.core._multiarray_umath.implement_array_function>"), "numpy");
    EXPECT_EQ(builtin_object("<built-in method sleep>"), "builtins");
    EXPECT_EQ(builtin_object("<lambda>"), "builtins");
}

// Self costs per line: the first line inline, more kept in line order whatever the order of
// arrival, as the callgrind writer emits them.
TEST(LineCosts, KeepsLinesInOrderFromOneToMany) {
    LineCosts lines;
    EXPECT_TRUE(lines.empty());
    EXPECT_EQ(lines.find(Line(3)), lines.end());
    add_costs(lines[Line(7)], Costs{5});
    add_costs(lines[Line(7)], Costs{1});
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines.at(Line(7)), Costs{6});
    add_costs(lines[Line(3)], Costs{2});
    add_costs(lines[Line(9)], Costs{4});
    add_costs(lines[Line(0)], Costs{1});
    add_costs(lines[Line(7)], Costs{1});
    std::vector<uint32_t> order;
    for (const auto& [line, costs] : lines) order.push_back(line.value);
    EXPECT_EQ(order, (std::vector<uint32_t>{0, 3, 7, 9}));
    EXPECT_EQ(lines.at(Line(7)), Costs{7});
    EXPECT_EQ(lines.find(Line(3))->second, Costs{2});
    EXPECT_EQ(lines.find(Line(4)), lines.end());
    EXPECT_THROW(lines.at(Line(4)), std::out_of_range);
    LineCosts copy = lines;
    LineCosts moved = std::move(lines);
    EXPECT_EQ(copy.size(), 4u);
    EXPECT_EQ(moved.at(Line(9)), Costs{4});
}

// The interning tables index by the hash's low bits: names that differ in one character, at any
// position of any length, must spread over them (a weak hash would chain the probes).
TEST(HashText, EveryByteReachesTheLowBits) {
    for (size_t length = 1; length <= 70; ++length) {
        std::string text(length, 'a');
        uint64_t base = hash_text(text);
        for (size_t at = 0; at < length; ++at) {
            std::string other = text;
            other[at] = 'b';
            EXPECT_NE(hash_text(other) & 0xffff, base & 0xffff) << length << " " << at;
        }
    }
    EXPECT_EQ(hash_text(std::string("func_12")), hash_text(std::string_view("xfunc_12").substr(1)));
}

TEST(HashText, SimilarNamesFillATableEvenly) {
    constexpr size_t kSlots = 1 << 16, kNames = 48000;  // a 0.73 load, as IdIndex allows
    std::vector<uint32_t> used(kSlots, 0);
    for (size_t i = 0; i < kNames; ++i) ++used[hash_text("func_" + std::to_string(i)) & (kSlots - 1)];
    size_t empty = std::count(used.begin(), used.end(), 0u);
    // Random placement leaves e^-0.73 = 48% of the slots empty; a poor spread leaves more.
    EXPECT_LT(empty, kSlots * 50 / 100);
    EXPECT_LE(*std::max_element(used.begin(), used.end()), 10u);
}
