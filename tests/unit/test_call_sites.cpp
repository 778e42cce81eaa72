// Call-site lookup in Python source (pstats files have none): which line of the caller's body
// calls the callee, on a source written here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "formats/call_sites.h"

using namespace calltree;

namespace {

const char* kSource = R"(import os
def helper(x):
    return x

@decorator
@other(arg)
def decorated(a):
    y = a.helper2 (a)     # line 8: a method call with a space before '('
    return helper(a)      # line 9

class C:
    def method(self):
        nothelper(1)      # line 13: a longer name is not helper
        _helper(2)        # line 14: nor is one with a prefix
        self.helper(3)    # line 15
        helper(4)

    def inner(self):
        def nested():
            return len([])   # line 20
        return nested()      # line 21

helper(0)                 # line 23: module-level code calls helper here
print(sorted([2, 1]))     # line 24
)";

class CallSites : public ::testing::Test {
protected:
    void SetUp() override {
        char name[] = "/tmp/calltree_sites_XXXXXX.py";
        int fd = mkstemps(name, 3);
        ASSERT_GE(fd, 0);
        close(fd);
        path_ = name;
        std::ofstream(path_) << kSource;
    }
    void TearDown() override { std::remove(path_.c_str()); }
    std::string path_;
    CallSiteFinder finder_;
};

}  // namespace

TEST_F(CallSites, FirstCallInTheCallersBody) {
    EXPECT_EQ(finder_.find(path_, 5, "helper"), 9u);  // decorators before the def
    EXPECT_EQ(finder_.find(path_, 5, "Mod.helper2"), 8u);
    EXPECT_EQ(finder_.find(path_, 12, "C.helper:2"), 15u);
    EXPECT_EQ(finder_.find(path_, 19, "<built-in method builtins.len>"), 20u);
    EXPECT_EQ(finder_.find(path_, 18, "C.inner.<locals>.nested"), 21u);
    EXPECT_EQ(finder_.find(path_, 18, "<built-in method builtins.len>"), 20u);  // nested bodies count
}

TEST_F(CallSites, ModuleLevelCodeSkipsTheBodiesItDefines) {
    EXPECT_EQ(finder_.find(path_, 1, "helper"), 23u);
    EXPECT_EQ(finder_.find(path_, 1, "<built-in method builtins.sorted>"), 24u);
    EXPECT_EQ(finder_.find(path_, 1, "<built-in method builtins.print>"), 24u);
    EXPECT_EQ(finder_.find(path_, 1, "<built-in method builtins.len>"), 1u);  // only inside a def
}

TEST_F(CallSites, NoSpelledCallOrNoSourceKeepsTheDefLine) {
    EXPECT_EQ(finder_.find(path_, 12, "<listcomp>"), 12u);
    EXPECT_EQ(finder_.find(path_, 12, "C.__init__"), 12u);
    EXPECT_EQ(finder_.find(path_, 12, "absent"), 12u);
    EXPECT_EQ(finder_.find(path_, 5, "helpex"), 5u);  // names are told apart by hash and length
    EXPECT_EQ(finder_.find(path_, 5, "helpe"), 5u);
    EXPECT_EQ(finder_.find(path_, 500, "helper"), 500u);
    EXPECT_EQ(finder_.find("/nonexistent/x.py", 3, "helper"), 3u);
    EXPECT_EQ(finder_.find("relative.py", 3, "helper"), 3u);
}

// The table of a body's calls is reused from body to body (and file to file): nothing a
// body calls may be found in the next one, whether it called few names or many.
TEST(CallSiteBodies, EachBodyFindsOnlyItsOwnCalls) {
    char name[] = "/tmp/calltree_bodies_XXXXXX.py";
    int fd = mkstemps(name, 3);
    ASSERT_GE(fd, 0);
    close(fd);
    std::string source = "def small(x):\n    return one(x)\n";  // lines 1-2
    source += "def big(x):\n";                                     // line 3
    for (int i = 0; i < 400; ++i) source += "    x = g" + std::to_string(i) + "(x)\n";
    source += "def after(x):\n    return two(x)\n";  // lines 404-405
    std::ofstream(name) << source;
    CallSiteFinder finder;
    EXPECT_EQ(finder.find(name, 1, "one"), 2u);
    EXPECT_EQ(finder.find(name, 3, "one"), 3u);  // called by small only
    EXPECT_EQ(finder.find(name, 3, "g399"), 403u);
    EXPECT_EQ(finder.find(name, 404, "g399"), 404u);  // called by big only
    EXPECT_EQ(finder.find(name, 404, "two"), 405u);
    EXPECT_EQ(finder.find(name, 1, "two"), 1u);
    EXPECT_EQ(finder.find(name, 1, "one"), 2u);
    std::remove(name);
}

TEST(CallSiteNames, WhatACallSiteSpells) {
    EXPECT_EQ(CallSiteFinder::spelled_name("<built-in method builtins.len>"), "len");
    EXPECT_EQ(CallSiteFinder::spelled_name("<method 'append' of 'list' objects>"), "append");
    EXPECT_EQ(CallSiteFinder::spelled_name("Point.norm:12"), "norm");
    EXPECT_EQ(CallSiteFinder::spelled_name("<lambda>"), "");
    EXPECT_EQ(CallSiteFinder::spelled_name("Point.__add__"), "");
}
