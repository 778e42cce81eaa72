#include "collect/shared/stack_tree.h"

#include <gtest/gtest.h>

namespace calltree {
namespace {

struct Fixture {
    Profile profile{{EventType{"Wall", "w"}, EventType{"Idle", "i"}}};
    std::vector<FunctionId> ids;
    explicit Fixture(std::initializer_list<const char*> names) {
        FileId file = profile.intern_file("/p.py");
        ObjectId object = profile.intern_object("m");
        for (const char* n : names) ids.push_back(profile.intern_function(n, file, object, Line(1)));
    }
    const Arc* arc(size_t caller, size_t callee) const {
        for (const Arc& a : profile.arcs())
            if (a.caller == ids[caller] && a.callee == ids[callee]) return &a;
        return nullptr;
    }
};

TEST(StackTree, SelfAtTheInnermostLineAndInclusiveOnArcsAtCallLines) {
    Fixture f{"main", "work"};
    StackTree tree(2);
    uint32_t main_node = tree.child(StackTree::kRoot, 0, 10);
    uint32_t leaf = tree.child(main_node, 1, 21);
    tree.add(leaf, std::vector<uint64_t>{5, 1});
    tree.add(leaf, std::vector<uint64_t>{5, 0});
    tree.add(main_node, std::vector<uint64_t>{3, 3});
    tree.add_to(f.profile, f.ids);
    const Function& work = f.profile.function(f.ids[1]);
    EXPECT_EQ(work.self_by_line.at(Line(21)), (Costs{10, 1}));
    EXPECT_EQ(f.profile.function(f.ids[0]).self_by_line.at(Line(10)), (Costs{3, 3}));
    const Arc* a = f.arc(0, 1);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->call_line, Line(10));
    EXPECT_EQ(a->inclusive, (Costs{10, 1}));
    EXPECT_EQ(a->calls, 2u);  // samples that saw the call
    EXPECT_EQ(f.profile.totals(), (Costs{13, 4}));
}

TEST(StackTree, RecursionIsChargedOncePerSample) {
    // a -> b -> a -> b -> a: the arcs a->b and b->a recur; each is charged once per sample.
    Fixture f{"a", "b"};
    StackTree tree(2);
    uint32_t n = StackTree::kRoot;
    const uint32_t path[] = {0, 1, 0, 1, 0};
    for (uint32_t fn : path) n = tree.child(n, fn, 5 + fn);
    tree.add(n, std::vector<uint64_t>{7, 0});
    tree.add_to(f.profile, f.ids);
    EXPECT_EQ(f.arc(0, 1)->inclusive, (Costs{7, 0}));
    EXPECT_EQ(f.arc(1, 0)->inclusive, (Costs{7, 0}));
    EXPECT_EQ(f.profile.function(f.ids[0]).inclusive, (Costs{7, 0}));
    EXPECT_EQ(f.profile.function(f.ids[1]).inclusive, (Costs{7, 0}));
    EXPECT_EQ(f.profile.totals(), (Costs{7, 0}));
}

TEST(StackTree, DeepRecursionUsesTheSameRule) {
    Fixture f{"r"};
    StackTree tree(2);
    uint32_t n = StackTree::kRoot;
    for (int i = 0; i < 500; ++i) n = tree.child(n, 0, 3);
    tree.add(n, std::vector<uint64_t>{11, 0});
    tree.add_to(f.profile, f.ids);
    EXPECT_EQ(f.arc(0, 0)->inclusive, (Costs{11, 0}));
    EXPECT_EQ(f.profile.function(f.ids[0]).inclusive, (Costs{11, 0}));
}

}  // namespace
}  // namespace calltree
