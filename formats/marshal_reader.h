// A bounds-checked reader of CPython's marshal format (versions 0-5), written without libpython,
// so `calltree convert` reads .prof files from any CPython 3.x on any machine.
//
// Values live in one flat arena: containers refer to their children by index and strings point
// into the input buffer, so a 100k-entry file costs a few allocations, not one per value.
// MarshalDocument::parse reads a whole object; MarshalStream reads a top-level dict one item at
// a time into an arena that is cleared between items, so a large .prof is interpreted while it
// is read, in memory that stays in the cache. A back-reference to a value of an earlier item is
// answered from the reader's tag on it (see tag()) or by reading the value again at its
// recorded offset, within a budget, so nested references cannot multiply the work.
#pragma once
#include <bit>
#include <cstdint>
#include <memory>
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

    static constexpr uint32_t kNone = ~0u;

    struct Value {
        Type type = Type::None;
        uint32_t count = 0;    // string length, or number of children (dict: 2 per entry)
        uint64_t payload = 0;  // int / float bits / string offset in the input / first child index
        uint32_t offset = 0;   // where the value starts in the input, for error messages
        uint32_t slot = kNone;  // its back-reference slot, if the input registered it
    };
    static constexpr size_t kMaxInput = UINT32_MAX;  // offsets are 32-bit

    // Parses `data` (which must outlive the document). Throws FormatError.
    static MarshalDocument parse(std::span<const uint8_t> data);

    uint32_t root() const { return root_; }
    size_t input_size() const { return data_.size(); }
    const Value& value(uint32_t index) const { return values_[index]; }

    // Tags let a reader remember what it made of a value the input registers for
    // back-references (the pstats reader: a key tuple's entry, a string's id). A later reference
    // to a tagged value from an earlier MarshalStream item is not read again: it arrives as a
    // stub of the right type without contents, so a reader that tags must read tags first.
    uint32_t tag(uint32_t index) const {
        uint32_t slot = values_[index].slot;
        return slot == kNone ? kNone : refs_[slot].tag;
    }
    void set_tag(uint32_t index, uint32_t tag) {
        if (uint32_t slot = values_[index].slot; slot != kNone) refs_[slot].tag = tag;
    }
    // Children of a container; a dict's are key, value, key, value, ... Inline, as the
    // accessors below: a reader calls them for every value.
    std::span<const uint32_t> children(uint32_t index) const {
        const Value& v = values_[index];
        return std::span<const uint32_t>(children_).subspan(v.payload, v.count);
    }
    std::string_view string(uint32_t index) const {
        const Value& v = values_[index];
        return std::string_view(reinterpret_cast<const char*>(data_.data()) + v.payload, v.count);
    }
    int64_t integer(uint32_t index) const { return static_cast<int64_t>(values_[index].payload); }
    // An int, bool or float as its type and payload (Value::payload).
    struct Scalar {
        Type type = Type::None;
        uint64_t payload = 0;
    };
    Scalar scalar(uint32_t index) const { return {values_[index].type, values_[index].payload}; }
    // A string of a key read past the document: its text, or the tag a reference found on it;
    // `slot`, when it registers one, takes a tag (MarshalStream::set_slot_tag).
    struct KeyText {
        std::string_view text;
        uint32_t tag = kNone;
        uint32_t slot = kNone;
    };
    // A (file, line, name) tuple read past the document; `slot` as KeyText's.
    struct Key {
        KeyText file, name;
        int64_t line = 0;
        uint32_t slot = kNone;
    };
    double number(uint32_t index) const {  // Int or Float as a double
        const Value& v = values_[index];
        if (v.type == Type::Float) return std::bit_cast<double>(v.payload);
        if (v.type == Type::Bool) return static_cast<double>(v.payload);
        return static_cast<double>(static_cast<int64_t>(v.payload));
    }

    static const char* type_name(Type type);

private:
    friend class MarshalParser;
    friend class MarshalStream;
    std::span<const uint8_t> data_;
    std::vector<Value> values_;
    std::vector<uint32_t> children_;
    uint32_t root_ = 0;
    uint32_t generation_ = 0;  // bumped when values are dropped: older value indices are void
    struct RefSlot {
        // The value in values_, if `generation` is still generation_; for a slot read past the
        // document (kNotKept) that holds a 4-byte int, the int, so a reference to it (a later
        // pstats key's line number, say) does not fetch the input at `offset` again.
        uint32_t index;
        uint32_t generation;  // generation_, or kUnfilled while the value is read, or kNotKept
        uint32_t offset;      // where the value starts in the input, to read it again
        uint32_t tag;
        Type type;
    };
    std::vector<RefSlot> refs_;
};

class MarshalParser;

// Reads a top-level dict item by item:
//     if (!s.begin_dict()) { v = s.read(); ...report document().value(v).type... }
//     while (s.next_item()) { k = s.read(); v = s.read(); ...use document()...; s.clear(); }
//     s.finish();
class MarshalStream {
public:
    explicit MarshalStream(std::span<const uint8_t> data);  // `data` must outlive the stream
    ~MarshalStream();
    MarshalStream(const MarshalStream&) = delete;
    MarshalStream& operator=(const MarshalStream&) = delete;

    // Enters the top-level dict; false (nothing consumed) if the input holds something else.
    bool begin_dict();
    // Whether another key/value pair of the dict being read follows (consumes its end if not).
    bool next_item();

    // Shortcuts past the document for the values most of a large input is made of: each reads
    // the next value when it has the form asked for, and otherwise consumes nothing and returns
    // false (or kNone), and read() reads it (and the caller reports it if it is wrong).
    // Up to `n` ints or floats (plain, registered, or references to one): how many were read,
    // stopping before the first value that is something else.
    size_t read_scalars(MarshalDocument::Scalar* out, size_t n);
    // An unregistered tuple of `count` items: consumes its header, the items follow.
    bool enter_tuple(uint32_t count);
    // A dict (in the top-level one): consumes its header, its items follow (next_item()).
    bool enter_dict();
    // A reference to a registered value of `type` that carries a tag: the tag.
    uint32_t read_tag(MarshalDocument::Type type);
    // A tuple of a string, a 4-byte int and a string (each may be a reference to one, a string
    // only to one that carries a tag): a pstats key.
    bool read_key(MarshalDocument::Key& key);
    // Tags a slot read_key() registered (as MarshalDocument::set_tag tags a value).
    void set_slot_tag(uint32_t slot, uint32_t tag);
    // Reads the next object into document(); returns its index there.
    uint32_t read();
    // Drops the values read so far; back-references to them stay valid.
    void clear();
    // After the top-level dict: the input must end here.
    void finish();

    MarshalDocument& document() { return doc_; }

private:
    MarshalDocument doc_;
    std::unique_ptr<MarshalParser> parser_;
};

}  // namespace calltree
