// The pstats writer's exact marshal bytes: the layout cProfile's dict has, with back-references
// for repeated key tuples and file names (what CPython's marshal does for shared objects), and
// keys made unique when pstats' (file, line, name) would merge two model functions.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "formats/pstats_reader.h"
#include "formats/pstats_writer.h"

using namespace calltree;

namespace {

std::string u32(uint32_t v) {
    std::string s;
    for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
}
std::string i32(uint32_t v) { return "i" + u32(v); }
std::string str(const std::string& s, bool ref = false) {
    return std::string(1, static_cast<char>(ref ? 'u' | 0x80 : 'u')) + u32(static_cast<uint32_t>(s.size())) + s;
}
std::string ref(uint32_t index) { return "r" + u32(index); }
std::string key_tuple() { return std::string("\xa9\x03", 2); }  // ')' | FLAG_REF, 3 items
std::string stats_tuple() { return std::string(")\x05", 2); }
std::string callers_tuple() { return std::string(")\x04", 2); }
const std::string kOnePointFive("g\0\0\0\0\0\0\xf8\x3f", 9);  // 1.5 as a little-endian double
const std::string kZero("g\0\0\0\0\0\0\0\0", 9);

std::string written(const Profile& p) {
    std::ostringstream out;
    write_pstats(p, out);
    return out.str();
}

void self(Profile& p, FunctionId f, uint64_t ns, uint64_t calls, uint64_t primitive) {
    p.add_self_cost(f, p.function(f).line, std::span<const uint64_t>(&ns, 1));
    p.add_calls(f, calls, primitive);
    p.add_inclusive(f, std::span<const uint64_t>(&ns, 1));
}

}  // namespace

TEST(PstatsWriter, OneFunctionExactBytes) {
    Profile p(std::vector<EventType>{{"Time", "Time (ns)"}});
    FunctionId f = p.intern_function("f", p.intern_file("/a.py"), p.intern_object("a"), Line(2));
    self(p, f, 1'500'000'000, 1, 1);
    std::string expected = "{" + key_tuple() + str("/a.py", true) + i32(2) + str("f") + stats_tuple() + i32(1) +
                           i32(1) + kOnePointFive + kOnePointFive + "{0" + "0";
    EXPECT_EQ(written(p), expected);
}

TEST(PstatsWriter, RepeatedKeysAndFileNamesAreBackReferences) {
    Profile p(std::vector<EventType>{{"Time", "Time (ns)"}});
    FileId file = p.intern_file("/a.py");
    ObjectId object = p.intern_object("a");
    FunctionId f = p.intern_function("f", file, object, Line(2));
    FunctionId g = p.intern_function("g", file, object, Line(9));
    self(p, f, 0, 2, 1);
    self(p, g, 0, 1, 1);
    Arc& recursive = p.arc(f, Line(2), f);
    recursive.calls = 1;
    recursive.callee_self = {0};
    recursive.inclusive = {0};
    // f's key is ref 0 and its file name ref 1; g's key is ref 2 and reuses the file name.
    std::string expected = "{" + key_tuple() + str("/a.py", true) + i32(2) + str("f") + stats_tuple() + i32(1) +
                           i32(2) + kZero + kZero + "{" + ref(0) + callers_tuple() + i32(1) + i32(0) + kZero +
                           kZero + "0" + key_tuple() + ref(1) + i32(9) + str("g") + stats_tuple() + i32(1) +
                           i32(1) + kZero + kZero + "{0" + "0";
    EXPECT_EQ(written(p), expected);
}

TEST(PstatsWriter, KeysThatPstatsWouldMergeAreMadeUnique) {
    Profile p(std::vector<EventType>{{"Time", "Time (ns)"}});
    FileId file = p.intern_file("/a.py");
    // Same (file, line, name), different objects; a real "f [b]" exists too.
    self(p, p.intern_function("f", file, p.intern_object("a"), Line(1)), 10, 1, 1);
    self(p, p.intern_function("f [b]", file, p.intern_object("c"), Line(1)), 20, 1, 1);
    self(p, p.intern_function("f", file, p.intern_object("b"), Line(1)), 30, 1, 1);
    std::string data = written(p);
    Profile back = read_pstats(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
    ASSERT_EQ(back.function_count(), 3u);
    EXPECT_EQ(back.totals(), Costs{60});
}
