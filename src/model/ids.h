// Strong index types: a line number can never be passed where a function id is expected.
#pragma once
#include <cstdint>
#include <functional>

namespace calltree {

template <class Tag>
struct Id {
    uint32_t value = 0;
    constexpr Id() = default;
    constexpr explicit Id(uint32_t v) : value(v) {}
    friend constexpr bool operator==(Id a, Id b) { return a.value == b.value; }
    friend constexpr bool operator!=(Id a, Id b) { return a.value != b.value; }
    friend constexpr bool operator<(Id a, Id b) { return a.value < b.value; }
};

struct FileTag {};
struct ObjectTag {};
struct FunctionTag {};
using FileId = Id<FileTag>;
using ObjectId = Id<ObjectTag>;
using FunctionId = Id<FunctionTag>;

// Source line; 0 means "no line" (builtins, C functions), which readers show without source.
struct Line {
    uint32_t value = 0;
    constexpr Line() = default;
    constexpr explicit Line(uint32_t v) : value(v) {}
    friend constexpr bool operator==(Line a, Line b) { return a.value == b.value; }
    friend constexpr bool operator<(Line a, Line b) { return a.value < b.value; }
};

}  // namespace calltree

template <class Tag>
struct std::hash<calltree::Id<Tag>> {
    size_t operator()(calltree::Id<Tag> id) const noexcept { return std::hash<uint32_t>()(id.value); }
};
