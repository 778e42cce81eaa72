// A bounds-checked reader of CPython's marshal format (versions 0-5), written without libpython,
// so `calltree convert` reads .prof files from any CPython 3.x on any machine.
//
// Values live in one flat arena: containers refer to their children by index and strings point
// into the input buffer, so a 100k-entry file costs a few allocations, not one per value.
#pragma once
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace calltree {

struct FormatError : std::runtime_error {
    size_t offset;
    FormatError(const std::string& what, size_t offset);
};

class MarshalDocument {
public:
    // Code: a code object (the `profile` module puts one in a key); children = [filename, name].
    enum class Type : uint8_t { None, Bool, Int, Float, String, Tuple, List, Set, Dict, Code, Other };

    static constexpr uint32_t kNoTag = ~0u;

    struct Value {
        Type type = Type::None;
        uint32_t count = 0;    // string length, or number of children (dict: 2 per entry)
        uint64_t payload = 0;  // int / float bits / string offset / first child index
        uint32_t offset = 0;   // where the value starts in the input, for error messages
        // Free for the document's reader: the pstats interpreter caches what it made of a value
        // here, next to the value it reads anyway, instead of in a side table that misses the cache.
        uint32_t tag = kNoTag;
    };
    static constexpr size_t kMaxInput = UINT32_MAX;  // offsets are 32-bit

    // Parses `data` (which must outlive the document). Throws FormatError.
    static MarshalDocument parse(std::span<const uint8_t> data);

    uint32_t root() const { return root_; }
    const Value& value(uint32_t index) const { return values_[index]; }
    void set_tag(uint32_t index, uint32_t tag) { values_[index].tag = tag; }
    // Children of a container; a dict's are key, value, key, value, ...
    std::span<const uint32_t> children(uint32_t index) const;
    std::string_view string(uint32_t index) const;
    int64_t integer(uint32_t index) const;
    double number(uint32_t index) const;  // Int or Float as a double

    static const char* type_name(Type type);

private:
    friend class MarshalParser;
    std::span<const uint8_t> data_;
    std::vector<Value> values_;
    std::vector<uint32_t> children_;
    uint32_t root_ = 0;
};

}  // namespace calltree
