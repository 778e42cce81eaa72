// The marshal reader on hand-made byte sequences: every type code, the reference flag, and the
// hostile cases (truncation anywhere, huge declared lengths, deep nesting, bad references).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <string>

#include "formats/marshal_reader.h"

using namespace calltree;
using Type = MarshalDocument::Type;

namespace {

std::span<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string i32(int32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((static_cast<uint32_t>(v) >> (8 * i)) & 0xff);
    return s;
}

std::string f64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((bits >> (8 * i)) & 0xff);
    return s;
}

// Documents point into their input, so the inputs are kept for the whole test run.
MarshalDocument parse(const std::string& s) {
    static std::deque<std::string> inputs;
    inputs.push_back(s);
    return MarshalDocument::parse(bytes(inputs.back()));
}

size_t error_offset(const std::string& s) {
    try {
        MarshalDocument::parse(bytes(s));
    } catch (const FormatError& e) {
        return e.offset;
    }
    ADD_FAILURE() << "no error";
    return 0;
}

}  // namespace

TEST(Marshal, Scalars) {
    EXPECT_EQ(parse("N").value(0).type, Type::None);
    EXPECT_EQ(parse("T").value(0).payload, 1u);
    EXPECT_EQ(parse("F").value(0).payload, 0u);
    EXPECT_EQ(parse("S").value(0).type, Type::Other);
    EXPECT_EQ(parse(".").value(0).type, Type::Other);
    auto d = parse("i" + i32(-5));
    EXPECT_EQ(d.integer(d.root()), -5);
    d = parse("g" + f64(1.5e-9));
    EXPECT_DOUBLE_EQ(d.number(d.root()), 1.5e-9);
    d = parse(std::string("f\x04") + "0.25");
    EXPECT_DOUBLE_EQ(d.number(d.root()), 0.25);
    EXPECT_EQ(error_offset(std::string("f\x03") + "1x5"), 5u);  // not a number
    d = parse(std::string("x\x03" "1.5" "\x02" "-2"));  // text complex (marshal version 0)
    EXPECT_EQ(d.value(d.root()).type, Type::Other);
    d = parse("y" + f64(1) + f64(2));
    EXPECT_EQ(d.value(d.root()).type, Type::Other);
    std::string int64 = "I" + i32(0) + i32(1);  // 2^32
    d = parse(int64);
    EXPECT_EQ(d.integer(d.root()), int64_t{1} << 32);
}

TEST(Marshal, Longs) {
    // 2^40 + 3 = digits (15-bit) 3, 0, 1024
    std::string big = "l" + i32(3) + std::string("\x03\x00\x00\x00\x00\x04", 6);
    auto d = parse(big);
    EXPECT_EQ(d.integer(d.root()), (int64_t{1} << 40) + 3);
    std::string negative = "l" + i32(-1) + std::string("\x07\x00", 2);
    d = parse(negative);
    EXPECT_EQ(d.integer(d.root()), -7);
    std::string huge = "l" + i32(6) + std::string(12, '\x01');  // beyond 64 bits: a double
    d = parse(huge);
    EXPECT_EQ(d.value(d.root()).type, Type::Float);
    EXPECT_GT(d.number(d.root()), 1e20);
    EXPECT_EQ(error_offset("l" + i32(1) + std::string("\xff\xff", 2)), 7u);  // digit >= 2^15
}

TEST(Marshal, Strings) {
    for (char code : {'s', 'u', 't', 'a', 'A'}) {
        auto d = parse(std::string(1, code) + i32(3) + "abc");
        EXPECT_EQ(d.string(d.root()), "abc") << code;
    }
    for (char code : {'z', 'Z'}) {
        auto d = parse(std::string(1, code) + "\x02" + "hi");
        EXPECT_EQ(d.string(d.root()), "hi") << code;
    }
}

TEST(Marshal, Containers) {
    auto d = parse(std::string(")\x02") + "Nz\x01x");
    ASSERT_EQ(d.children(d.root()).size(), 2u);
    EXPECT_EQ(d.string(d.children(d.root())[1]), "x");
    for (char code : {'(', '[', '<', '>'}) {
        d = parse(std::string(1, code) + i32(2) + "TF");
        EXPECT_EQ(d.children(d.root()).size(), 2u) << code;
    }
    d = parse(std::string("{") + "z\x01k" + "i" + i32(1) + "z\x01j" + "N" + "0");
    EXPECT_EQ(d.value(d.root()).type, Type::Dict);
    EXPECT_EQ(d.children(d.root()).size(), 4u);
    d = parse(std::string(":") + "NNN");  // marshal version 5 slice
    EXPECT_EQ(d.children(d.root()).size(), 3u);
}

TEST(Marshal, ReferencesArePreOrder) {
    // [ (flagged tuple #0: ( z"a"(flagged #1), r1 ) ), r0 ]
    std::string tuple = std::string("\xa9\x02") + "\xfa\x01" "a" + "r" + i32(1);
    auto d = parse("[" + i32(2) + tuple + "r" + i32(0));
    auto items = d.children(d.root());
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0], items[1]);  // the back-reference is the same value
    auto inner = d.children(items[0]);
    EXPECT_EQ(inner[0], inner[1]);
    EXPECT_EQ(d.string(inner[1]), "a");
}

TEST(Marshal, FlagRegistersAnyType) {
    // [ i7 (flagged #0), g0.5 (flagged #1), z"s" (flagged #2), r2, r1, r0 ]
    std::string s = "[" + i32(6) + "\xe9" + i32(7) + "\xe7" + f64(0.5) + "\xfa\x01s" + "r" + i32(2) + "r" + i32(1) +
                    "r" + i32(0);
    auto d = parse(s);
    auto items = d.children(d.root());
    ASSERT_EQ(items.size(), 6u);
    EXPECT_EQ(items[3], items[2]);
    EXPECT_EQ(items[4], items[1]);
    EXPECT_EQ(items[5], items[0]);
    EXPECT_EQ(d.integer(items[5]), 7);
    // A flagged dict and a flagged slice, each referred to after it is complete.
    d = parse("[" + i32(4) + "\xfb" + "N" + "T" + "0" + "r" + i32(0) + "\xba" + "NNN" + "r" + i32(1));
    items = d.children(d.root());
    EXPECT_EQ(items[1], items[0]);
    EXPECT_EQ(d.value(items[1]).type, Type::Dict);
    EXPECT_EQ(items[3], items[2]);
}

TEST(Marshal, NullAndFlaggedReferencesAreErrors) {
    EXPECT_EQ(error_offset("0"), 0u);                          // NULL only ends a dict
    EXPECT_EQ(error_offset("[" + i32(1) + "0"), 5u);
    EXPECT_EQ(error_offset("\xe9" + i32(1) + "\xf2" + i32(0)), 5u);  // a reference flagged itself
}

TEST(Marshal, BadReferences) {
    EXPECT_EQ(error_offset("r" + i32(0)), 0u);                       // nothing registered yet
    EXPECT_EQ(error_offset("[" + i32(1) + "r" + i32(7)), 5u);        // out of range
    EXPECT_EQ(error_offset(std::string("\xdb") + i32(1) + "r" + i32(0)), 5u);  // refers to its own container
}

TEST(Marshal, HostileLengthsFailBeforeAllocating) {
    for (char code : {'(', '[', '<', 's', 'u', 'a'}) {
        std::string s = std::string(1, code) + i32(0x7fffffff);
        EXPECT_THROW(parse(s), FormatError) << code;
    }
    EXPECT_THROW(parse("(" + i32(-1)), FormatError);
    EXPECT_THROW(parse(")\xff" "NN"), FormatError);  // small tuple of 255 in 2 bytes
    EXPECT_THROW(parse("{" + std::string(1000, 'N')), FormatError);  // a dict that never ends
    EXPECT_THROW(parse("l" + i32(0x7fffffff)), FormatError);
}

TEST(Marshal, DeepNestingIsAnErrorNotACrash) {
    std::string deep;
    for (int i = 0; i < 100000; ++i) deep += "(" + i32(1);
    deep += "N";
    EXPECT_THROW(parse(deep), FormatError);
    std::string ok;
    for (int i = 0; i < 50; ++i) ok += ")\x01";
    EXPECT_NO_THROW(parse(ok + "N"));
}

TEST(Marshal, TruncationAtEveryOffsetIsAnError) {
    std::string full = std::string("{") + "\xa9\x03" "\xfa\x05" "/a.py" "i" + i32(3) + "z\x01" "f" + ")\x02" "g" +
                       f64(0.5) + "r" + i32(1) + "0";
    ASSERT_NO_THROW(parse(full));
    for (size_t n = 0; n < full.size(); ++n) {
        try {
            MarshalDocument::parse(bytes(full.substr(0, n)));
            ADD_FAILURE() << "prefix of " << n << " bytes parsed";
        } catch (const FormatError& e) {
            EXPECT_LE(e.offset, n);
            EXPECT_NE(std::string(e.what()).find("at byte"), std::string::npos);
        }
    }
}

TEST(Marshal, ErrorsSayWhatAndWhere) {
    try {
        parse("Nx");
        FAIL();
    } catch (const FormatError& e) {
        EXPECT_EQ(e.offset, 1u);
        EXPECT_STREQ(e.what(), "1 unexpected bytes after the data at byte 1");
    }
    try {
        parse("Q");
        FAIL();
    } catch (const FormatError& e) {
        EXPECT_STREQ(e.what(), "unknown type code 0x51 at byte 0");
    }
}

TEST(Marshal, CodeObjectsOfEitherLayoutAndNoExponentialGuessing) {
    // A 3.11+ code object: 5 ints, code, consts, names, localsplusnames, localspluskinds, filename,
    // name, qualname, firstlineno, linetable, exceptiontable.
    auto z = [](const std::string& text) { return "z" + std::string(1, static_cast<char>(text.size())) + text; };
    std::string modern = "c" + i32(0) + i32(0) + i32(0) + i32(1) + i32(0) + z("") + "NNN" + z("") + z("/a.py") + z("f") +
                         z("f") + i32(3) + z("") + z("");
    auto d = parse(modern);
    ASSERT_EQ(d.value(d.root()).type, Type::Code);
    EXPECT_EQ(d.string(d.children(d.root())[1]), "f");
    // 3.8-3.10: 6 ints, code, consts, names, varnames, freevars, cellvars, filename, name, firstlineno, lnotab.
    std::string legacy = "c" + i32(0) + i32(0) + i32(0) + i32(0) + i32(1) + i32(0) + z("") + "NNNNN" + z("/b.py") +
                         z("g") + i32(7) + z("");
    d = parse(legacy);
    EXPECT_EQ(d.string(d.children(d.root())[1]), "g");
    // 3.4-3.7: no posonlyargcount, so 5 ints, then the 3.8 objects.
    std::string older = "c" + i32(0) + i32(0) + i32(0) + i32(1) + i32(0) + z("") + "NNNNN" + z("/c.py") + z("h") +
                        i32(9) + z("");
    d = parse(older);
    EXPECT_EQ(d.string(d.children(d.root())[0]), "/c.py");
    EXPECT_EQ(d.string(d.children(d.root())[1]), "h");
    // Code in code (a module's consts): the inner one is read with the outer's layout.
    std::string inner = "c" + i32(0) + i32(0) + i32(0) + i32(1) + i32(0) + z("") + "NNNNN" + z("/c.py") + z("inner") +
                        i32(2) + z("");
    std::string outer = "c" + i32(0) + i32(0) + i32(0) + i32(1) + i32(0) + z("") + ")\x01" + inner + "NNNN" +
                        z("/c.py") + z("<module>") + i32(1) + z("");
    d = parse("[" + i32(2) + outer + older);
    auto code = d.children(d.root());
    EXPECT_EQ(d.string(d.children(code[0])[1]), "<module>");
    EXPECT_EQ(d.string(d.children(code[1])[1]), "h");
    // A truncated code object reports where its own layout ran out.
    std::string cut = modern.substr(0, modern.size() - 3);
    EXPECT_EQ(error_offset(cut), cut.size());
    // Nested code objects that fit neither layout must fail at once, not after 2^depth retries.
    std::string nested;
    for (int i = 0; i < 150; ++i) nested += "c" + i32(0) + i32(0) + i32(0) + i32(0) + i32(0);
    auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(parse(nested), FormatError);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}
