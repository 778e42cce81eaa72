#include "formats/marshal_reader.h"

#include "model/memory_hints.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <optional>

namespace calltree {

FormatError::FormatError(const std::string& what, size_t at)
    : std::runtime_error(what + " at byte " + std::to_string(at)), offset(at) {}

namespace {
constexpr uint8_t kFlagRef = 0x80;
// pstats files nest four levels; anything near this is hostile or not a profile.
constexpr int kMaxDepth = 200;
// Generations of RefSlots that name no document value: one taken while its value is read (a
// reference to it then would be a cycle), and one whose value was read but not kept.
// Document generations never reach them (there are fewer items than bytes of input).
constexpr uint32_t kUnfilled = std::numeric_limits<uint32_t>::max();
constexpr uint32_t kNotKept = kUnfilled - 1;
constexpr size_t kNoSlot = std::numeric_limits<size_t>::max();

void check_input(std::span<const uint8_t> data) {
    if (data.empty()) throw FormatError("empty input, expected marshal data", 0);
    if (data.size() > MarshalDocument::kMaxInput) throw FormatError("input larger than 4 GiB, not a profile", 0);
}
}  // namespace

class MarshalParser {
public:
    MarshalParser(std::span<const uint8_t> data, MarshalDocument& doc) : data_(data), doc_(doc) {}

    // Floats, 4-byte ints, small tuples and references to known values are most of a profile:
    // they are read here, without the frame of the general path (read_any), which reads
    // everything else, and these when truncated, too deep or needing more than a lookup.
    uint32_t read_object(int depth) {
        size_t left = data_.size() - pos_;
        if (left < 9 || depth > kMaxDepth) return read_any(depth);
        const uint8_t* p = data_.data() + pos_;
        auto start = static_cast<uint32_t>(pos_);
        switch (p[0]) {
            case 'g':
                pos_ += 9;
                return add_float(std::bit_cast<double>(load<uint64_t>(p + 1)), start);
            case 'i':
                pos_ += 5;
                return add_int(static_cast<int32_t>(load<uint32_t>(p + 1)), start);
            case 'i' | kFlagRef: {  // cProfile's (nc, cc) when equal: one int, referenced again
                size_t slot = replaying_ == 0 ? reserve_ref(start) : kNoSlot;
                pos_ += 5;
                uint32_t index = add_int(static_cast<int32_t>(load<uint32_t>(p + 1)), start);
                fill_ref(slot, index);
                return index;
            }
            case ')':
            case ')' | kFlagRef: {
                size_t slot = (p[0] & kFlagRef) != 0 && replaying_ == 0 ? reserve_ref(start) : kNoSlot;
                pos_ += 2;
                return read_sequence(')', p[1], start, depth, slot);
            }
            case 'r': {
                uint32_t ref = load<uint32_t>(p + 1);
                if (ref >= refs_.size() || refs_[ref].generation == kUnfilled) break;
                const RefSlot& slot = refs_[ref];
                if (slot.generation == doc_.generation_) {
                    pos_ += 5;
                    return slot.index;
                }
                if (slot.tag == MarshalDocument::kNone) break;
                pos_ += 5;
                return add({slot.type, 0, 0, start, ref});
            }
            default:
                break;
        }
        return read_any(depth);
    }

    uint32_t read_any(int depth) {
        if (depth > kMaxDepth) fail("objects nested more than " + std::to_string(kMaxDepth) + " levels deep");
        auto start = static_cast<uint32_t>(pos_);  // inputs are at most kMaxInput bytes
        uint8_t code = byte("a type code");
        bool flag = (code & kFlagRef) != 0;
        code &= static_cast<uint8_t>(~kFlagRef);
        // The reference slot is taken before the children are read: indices are in pre-order.
        // A value read again for a back-reference registered its slot the first time.
        size_t ref_slot = flag && replaying_ == 0 ? reserve_ref(start) : kNoSlot;
        uint32_t index;
        switch (code) {
            case '0':
                fail_at(start, "unexpected NULL object");
            case 'N':
                index = add({MarshalDocument::Type::None, 0, 0, start});
                break;
            case 'F':
            case 'T':
                index = add({MarshalDocument::Type::Bool, 0, code == 'T' ? 1u : 0u, start});
                break;
            case 'S':  // StopIteration
            case '.':  // Ellipsis
                index = add({MarshalDocument::Type::Other, 0, 0, start});
                break;
            case 'i':
                index = add_int(static_cast<int32_t>(u32("a 4-byte int")), start);
                break;
            case 'I':
                index = add_int(static_cast<int64_t>(u64("an 8-byte int")), start);
                break;
            case 'l':
                index = read_long(start);
                break;
            case 'g':
                index = add_float(std::bit_cast<double>(u64("an 8-byte float")), start);
                break;
            case 'f':
                index = add_float(text_float(), start);
                break;
            case 'y':
                take(16, "a binary complex");
                index = add({MarshalDocument::Type::Other, 0, 0, start});
                break;
            case 'x':
                text_float();
                text_float();
                index = add({MarshalDocument::Type::Other, 0, 0, start});
                break;
            case 's':
            case 'u':
            case 't':
            case 'a':
            case 'A':
                index = read_string(u32("a string length"), start);
                break;
            case 'z':
            case 'Z':
                index = read_string(byte("a short string length"), start);
                break;
            case '(':
            case '[':
            case '<':
            case '>':
                index = read_sequence(code, u32("a container length"), start, depth, ref_slot);
                return index;
            case ')':
                index = read_sequence(code, byte("a small tuple length"), start, depth, ref_slot);
                return index;
            case '{':
                return read_dict(start, depth, ref_slot);
            case ':':  // slice (marshal version 5): start, stop, step
                return read_sequence(code, 3, start, depth, ref_slot);
            case 'r': {
                if (flag) fail_at(start, "a reference cannot itself be registered");
                uint32_t ref = u32("a reference index");
                if (ref >= refs_.size()) fail_at(start, "reference " + std::to_string(ref) + " to an unknown object");
                if (refs_[ref].generation == kUnfilled)
                    fail_at(start, "reference " + std::to_string(ref) + " to an object that is not complete");
                const RefSlot& slot = refs_[ref];
                if (slot.generation == doc_.generation_) return slot.index;
                if (slot.tag != MarshalDocument::kNone) return add({slot.type, 0, 0, start, ref});
                return replay(ref, depth);
            }
            case 'c':
                index = read_code(start, depth, ref_slot);
                return index;
            default:
                fail_at(start, "unknown type code 0x" + hex(code));
        }
        fill_ref(ref_slot, index);
        return index;
    }

    // The int or float at `at` (plain, registered, or a reference to one) without reading it:
    // its value and length, and whether it registers a slot. False for anything else.
    bool peek_scalar(size_t at, MarshalDocument::Scalar& out, size_t& length, bool& registers) const {
        using Type = MarshalDocument::Type;
        size_t left = data_.size() - at;
        if (left < 5) return false;
        const uint8_t* p = data_.data() + at;
        registers = (p[0] & kFlagRef) != 0;
        switch (p[0]) {
            case 'i':
            case 'i' | kFlagRef:
                out = {Type::Int, static_cast<uint64_t>(int64_t{static_cast<int32_t>(load<uint32_t>(p + 1))})};
                length = 5;
                return true;
            case 'g':
            case 'g' | kFlagRef:
                if (left < 9) return false;
                out = {Type::Float, load<uint64_t>(p + 1)};
                length = 9;
                return true;
            case 'r': {
                uint32_t ref = load<uint32_t>(p + 1);
                if (ref >= refs_.size() || refs_[ref].generation == kUnfilled) return false;
                const RefSlot& slot = refs_[ref];
                if (slot.generation == doc_.generation_) {
                    MarshalDocument::Scalar known = doc_.scalar(slot.index);
                    if (known.type != Type::Int && known.type != Type::Float) return false;
                    out = known;
                } else if (slot.generation == kNotKept && slot.type == Type::Int) {
                    out = {Type::Int, static_cast<uint64_t>(int64_t{static_cast<int32_t>(slot.index)})};
                } else if (slot.offset + 9 <= data_.size() && data_[slot.offset] == ('i' | kFlagRef)) {
                    // Not in the document: a 4-byte int or a float is read again where it starts.
                    const uint8_t* q = data_.data() + slot.offset;
                    out = {Type::Int, static_cast<uint64_t>(int64_t{static_cast<int32_t>(load<uint32_t>(q + 1))})};
                } else if (slot.offset + 9 <= data_.size() && data_[slot.offset] == ('g' | kFlagRef)) {
                    out = {Type::Float, load<uint64_t>(data_.data() + slot.offset + 1)};
                } else {
                    return false;
                }
                length = 5;
                registers = false;
                return true;
            }
            default:
                return false;
        }
    }

    // Registers the value at `at` as read but not kept in the document; `value`: a 4-byte int's.
    uint32_t register_not_kept(size_t at, MarshalDocument::Type type, uint32_t value = 0) {
        refs_.push_back(RefSlot{value, kNotKept, static_cast<uint32_t>(at), MarshalDocument::kNone, type});
        return static_cast<uint32_t>(refs_.size() - 1);
    }

    bool read_scalar(MarshalDocument::Scalar& out) {
        size_t length = 0;
        bool registers = false;
        if (replaying_ != 0 || !peek_scalar(pos_, out, length, registers)) return false;
        if (registers) register_not_kept(pos_, out.type, static_cast<uint32_t>(out.payload));
        pos_ += length;
        return true;
    }

    // The string at `at`, or a reference to one that carries a tag, without reading it.
    bool peek_text(size_t at, MarshalDocument::KeyText& out, size_t& length, bool& registers) const {
        size_t left = data_.size() - at;
        if (left < 2) return false;
        const uint8_t* p = data_.data() + at;
        registers = (p[0] & kFlagRef) != 0;
        size_t header = 0, size = 0;
        switch (p[0] & static_cast<uint8_t>(~kFlagRef)) {
            case 'z':
            case 'Z':
                header = 2;
                size = p[1];
                break;
            case 's':
            case 'u':
            case 't':
            case 'a':
            case 'A':
                if (left < 5) return false;
                header = 5;
                size = load<uint32_t>(p + 1);
                break;
            case 'r': {
                if (registers || left < 5) return false;
                uint32_t ref = load<uint32_t>(p + 1);
                if (ref >= refs_.size() || refs_[ref].generation == kUnfilled || refs_[ref].type != MarshalDocument::Type::String ||
                    refs_[ref].tag == MarshalDocument::kNone)
                    return false;
                out = {{}, refs_[ref].tag, MarshalDocument::kNone};
                length = 5;
                return true;
            }
            default:
                return false;
        }
        if (left - header < size) return false;
        out = {std::string_view(reinterpret_cast<const char*>(p + header), size), MarshalDocument::kNone, MarshalDocument::kNone};
        length = header + size;
        return true;
    }

    // A (string, int, string) tuple, checked whole before anything is consumed.
    bool read_key(MarshalDocument::Key& key) {
        using Type = MarshalDocument::Type;
        if (replaying_ != 0 || data_.size() - pos_ < 2) return false;
        uint8_t code = data_[pos_];
        if ((code & static_cast<uint8_t>(~kFlagRef)) != ')' || data_[pos_ + 1] != 3) return false;
        size_t file_at = pos_ + 2, file_length = 0, line_length = 0, name_length = 0;
        bool file_registers = false, line_registers = false, name_registers = false;
        MarshalDocument::Scalar line;
        if (!peek_text(file_at, key.file, file_length, file_registers)) return false;
        size_t line_at = file_at + file_length;
        if (!peek_scalar(line_at, line, line_length, line_registers) || line.type != Type::Int) return false;
        size_t name_at = line_at + line_length;
        if (!peek_text(name_at, key.name, name_length, name_registers)) return false;
        // Registered in pre-order: the tuple, then its items.
        key.slot = (code & kFlagRef) != 0 ? register_not_kept(pos_, Type::Tuple) : MarshalDocument::kNone;
        if (file_registers) key.file.slot = register_not_kept(file_at, Type::String);
        if (line_registers) register_not_kept(line_at, Type::Int, static_cast<uint32_t>(line.payload));
        if (name_registers) key.name.slot = register_not_kept(name_at, Type::String);
        key.line = static_cast<int64_t>(line.payload);
        pos_ = name_at + name_length;
        return true;
    }

    void set_slot_tag(uint32_t slot, uint32_t tag) { refs_[slot].tag = tag; }

    bool enter_tuple(uint32_t count) {
        if (data_.size() - pos_ < 2 || data_[pos_] != ')' || data_[pos_ + 1] != count) return false;
        pos_ += 2;
        return true;
    }

    // A dict read item by item is not kept in the document. If registered, its slot is filled
    // at its end as "not kept": a later reference reads it again where it starts.
    bool enter_nested_dict() {
        if (pos_ >= data_.size() || (data_[pos_] & static_cast<uint8_t>(~kFlagRef)) != '{' || replaying_ != 0) return false;
        open_dict_slot_ = (data_[pos_] & kFlagRef) != 0 ? reserve_ref(static_cast<uint32_t>(pos_)) : kNoSlot;
        ++pos_;
        return true;
    }
    void end_nested_dict() {
        if (open_dict_slot_ == kNoSlot) return;
        RefSlot& slot = refs_[open_dict_slot_];
        slot.index = 0;
        slot.generation = kNotKept;
        slot.type = MarshalDocument::Type::Dict;
        open_dict_slot_ = kNoSlot;
    }

    uint32_t read_tag(MarshalDocument::Type type) {
        if (data_.size() - pos_ < 5 || data_[pos_] != 'r') return MarshalDocument::kNone;
        uint32_t ref = load<uint32_t>(data_.data() + pos_ + 1);
        if (ref >= refs_.size() || refs_[ref].generation == kUnfilled || refs_[ref].type != type) return MarshalDocument::kNone;
        uint32_t tag = refs_[ref].tag;
        if (tag != MarshalDocument::kNone) pos_ += 5;
        return tag;
    }

    size_t position() const { return pos_; }
    void skip(size_t n) { pos_ += n; }
    const std::span<const uint8_t>& data() const { return data_; }
    // The header of a top-level dict: its reference slot stays unfilled (a reference to the dict
    // from inside it would be a cycle).
    void enter_dict() {
        uint8_t code = byte("a type code");
        if ((code & kFlagRef) != 0) reserve_ref(0);
    }

private:
    [[noreturn]] void fail(const std::string& what) const { throw FormatError(what, pos_); }
    [[noreturn]] void fail_at(size_t at, const std::string& what) const { throw FormatError(what, at); }

    static std::string hex(uint8_t b) {
        const char* digits = "0123456789abcdef";
        return {digits[b >> 4], digits[b & 15]};
    }

    const uint8_t* take(size_t n, const char* what) {
        if (data_.size() - pos_ < n) fail(std::string("file ends inside ") + what);
        const uint8_t* p = data_.data() + pos_;
        pos_ += n;
        return p;
    }
    uint8_t byte(const char* what) { return *take(1, what); }
    // Marshal numbers are little-endian.
    template <class T>
    T little_endian(const char* what) {
        return load<T>(take(sizeof(T), what));
    }
    uint32_t u32(const char* what) { return little_endian<uint32_t>(what); }
    // A little-endian number at p, bounds already checked.
    template <class T>
    static T load(const uint8_t* p) {
        T v;
        if constexpr (std::endian::native == std::endian::little) {
            std::memcpy(&v, p, sizeof v);
        } else {
            v = 0;
            for (size_t i = sizeof(T); i-- > 0;) v = static_cast<T>(v << 8 | p[i]);
        }
        return v;
    }
    uint64_t u64(const char* what) { return little_endian<uint64_t>(what); }

    using RefSlot = MarshalDocument::RefSlot;

    size_t reserve_ref(uint32_t start) {
        refs_.push_back(RefSlot{0, kUnfilled, start, MarshalDocument::kNone, MarshalDocument::Type::None});
        return refs_.size() - 1;
    }

    // The slot now names `index` in the current document, and the value knows its slot.
    void point(size_t slot, uint32_t index) {
        refs_[slot].index = index;
        refs_[slot].generation = doc_.generation_;
        doc_.values_[index].slot = static_cast<uint32_t>(slot);
    }

    void fill_ref(size_t slot, uint32_t index) {
        if (slot == kNoSlot) return;
        refs_[slot].type = doc_.values_[index].type;
        point(slot, index);
    }

    // A back-reference to a value no longer in the document: read it again where it starts.
    // Every re-read byte counts against a budget, so references nested in referenced values
    // cannot multiply the work beyond a small multiple of the input.
    uint32_t replay(uint32_t ref, int depth) {
        size_t resume = pos_;
        pos_ = refs_[ref].offset;
        ++replaying_;
        uint32_t index = read_object(depth + 1);
        --replaying_;
        replayed_ += pos_ - refs_[ref].offset + 8;
        if (replayed_ > replay_budget_)
            fail_at(static_cast<uint32_t>(resume - 5), "back-references re-read more than " +
                                                           std::to_string(replay_budget_ >> 20) + " MiB");
        pos_ = resume;
        point(ref, index);
        return index;
    }

    uint32_t add(const MarshalDocument::Value& v) {
        doc_.values_.push_back(v);
        return static_cast<uint32_t>(doc_.values_.size() - 1);
    }
    uint32_t add_int(int64_t v, uint32_t start) {
        return add({MarshalDocument::Type::Int, 0, static_cast<uint64_t>(v), start});
    }
    uint32_t add_float(double v, uint32_t start) {
        return add({MarshalDocument::Type::Float, 0, std::bit_cast<uint64_t>(v), start});
    }

    double text_float() {
        uint8_t n = byte("a text float length");
        const uint8_t* p = take(n, "a text float");
        std::string text(reinterpret_cast<const char*>(p), n);
        char* end = nullptr;
        double v = std::strtod(text.c_str(), &end);
        if (end != text.c_str() + text.size()) fail("malformed text float '" + text + "'");
        return v;
    }

    // Python ints beyond 32 bits: a signed digit count, then 15-bit digits, least significant first.
    uint32_t read_long(uint32_t start) {
        int32_t n = static_cast<int32_t>(u32("a long's digit count"));
        uint64_t digits = n < 0 ? uint64_t(-int64_t{n}) : uint64_t(n);
        if (digits > (data_.size() - pos_) / 2) fail("long with " + std::to_string(digits) + " digits exceeds the file");
        double magnitude = 0;
        uint64_t exact = 0;
        bool fits = digits <= 4;  // 60 bits
        for (uint64_t i = 0; i < digits; ++i) {
            const uint8_t* p = take(2, "a long digit");
            uint32_t d = uint32_t{p[0]} | uint32_t{p[1]} << 8;
            if (d >= (1u << 15)) fail("long digit out of range");
            if (fits) exact |= uint64_t{d} << (15 * i);
            magnitude += std::ldexp(static_cast<double>(d), static_cast<int>(15 * i));
        }
        if (fits) return add_int(n < 0 ? -static_cast<int64_t>(exact) : static_cast<int64_t>(exact), start);
        return add_float(n < 0 ? -magnitude : magnitude, start);
    }

    uint32_t read_string(uint32_t length, uint32_t start) {
        take(length, "a string");
        return add({MarshalDocument::Type::String, length, static_cast<uint64_t>(pos_ - length), start});
    }

    static MarshalDocument::Type container_type(uint8_t code) {
        switch (code) {
            case '[':
                return MarshalDocument::Type::List;
            case '<':
            case '>':
                return MarshalDocument::Type::Set;
            case ':':
                return MarshalDocument::Type::Other;
            default:
                return MarshalDocument::Type::Tuple;
        }
    }

    uint32_t read_sequence(uint8_t code, uint32_t count, uint32_t start, int depth, size_t ref_slot) {
        // Every element takes at least one byte: a larger count is a lie, caught before allocating.
        if (count > data_.size() - pos_)
            fail("container of " + std::to_string(count) + " items exceeds the file");
        uint32_t index = add({container_type(code), count, 0, start});
        // The count is known: the children's slots are taken now, and nested containers take
        // theirs after them.
        size_t first = doc_.children_.size();
        doc_.values_[index].payload = first;
        doc_.children_.resize(first + count);
        for (uint32_t i = 0; i < count; ++i) {
            uint32_t child = read_object(depth + 1);
            doc_.children_[first + i] = child;
        }
        // Filled only now: a reference from inside the container to itself (a cycle) is refused.
        fill_ref(ref_slot, index);
        return index;
    }

    uint32_t read_dict(uint32_t start, int depth, size_t ref_slot) {
        uint32_t index = add({MarshalDocument::Type::Dict, 0, 0, start});
        size_t first = stack_.size();
        while (true) {
            if (pos_ >= data_.size()) fail("file ends inside a dict");
            if (data_[pos_] == '0') {
                ++pos_;
                break;
            }
            stack_.push_back(read_object(depth + 1));
            stack_.push_back(read_object(depth + 1));
        }
        fill_ref(ref_slot, index);
        return finish_container(index, first);
    }

    // Code objects: the field list changed in 3.8 and 3.11, and the file does not say which
    // Python wrote it, so the layouts are tried newest first. Only filename and name are kept.
    struct CodeLayout {
        int ints;              // leading int32 fields
        int through_filename;  // objects up to and including the filename
        bool has_qualname;     // 3.11+
        int trailing;          // objects after the first line (line and exception tables)
    };
    static constexpr CodeLayout kCodeLayouts[] = {
        {5, 6, true, 2},   // 3.11+: argcount, posonly, kwonly, stacksize, flags; code .. localspluskinds, filename
        {6, 7, false, 1},  // 3.8-3.10: + nlocals; code, consts, names, varnames, freevars, cellvars, filename
        {5, 7, false, 1},  // 3.4-3.7: no posonlyargcount
    };
    static constexpr int kNoLayout = -1;

    uint32_t read_code(uint32_t start, int depth, size_t ref_slot) {
        if (code_layout_ != kNoLayout) return read_code_layout(kCodeLayouts[code_layout_], start, depth, ref_slot);
        size_t pos = pos_, values = doc_.values_.size(), refs = refs_.size(), stack = stack_.size();
        // When no layout fits, the attempt that got furthest has the most telling error
        // (a truncated file fails late in the right layout, early in the wrong ones).
        std::optional<FormatError> furthest;
        for (int layout = 0; layout < static_cast<int>(std::size(kCodeLayouts)); ++layout) {
            // One file comes from one Python: code objects nested in this one are read with the
            // layout being tried, never guessed again, so a hostile file costs at most one
            // re-read per layout instead of exponentially many.
            code_layout_ = layout;
            try {
                return read_code_layout(kCodeLayouts[layout], start, depth, ref_slot);
            } catch (const FormatError& e) {
                if (!furthest || e.offset > furthest->offset) furthest = e;
                pos_ = pos;
                doc_.values_.resize(values);
                refs_.resize(refs);
                stack_.resize(stack);
                // Slots updated by a re-read during the attempt may name dropped values.
                ++doc_.generation_;
            }
        }
        code_layout_ = kNoLayout;
        throw *furthest;
    }

    uint32_t read_code_layout(const CodeLayout& layout, uint32_t start, int depth, size_t ref_slot) {
        uint32_t index = add({MarshalDocument::Type::Code, 0, 0, start});
        for (int i = 0; i < layout.ints; ++i) u32("a code object field");
        uint32_t filename = 0;
        for (int i = 0; i < layout.through_filename; ++i) filename = read_object(depth + 1);
        uint32_t name = read_object(depth + 1);
        if (layout.has_qualname) read_object(depth + 1);
        u32("a code object's first line");
        for (int i = 0; i < layout.trailing; ++i) read_object(depth + 1);
        if (doc_.values_[name].type != MarshalDocument::Type::String ||
            doc_.values_[filename].type != MarshalDocument::Type::String)
            fail_at(start, "malformed code object");
        fill_ref(ref_slot, index);
        size_t first = stack_.size();
        stack_.push_back(filename);
        stack_.push_back(name);
        return finish_container(index, first);
    }

    uint32_t finish_container(uint32_t index, size_t first) {
        auto& v = doc_.values_[index];
        v.payload = doc_.children_.size();
        v.count = static_cast<uint32_t>(stack_.size() - first);
        doc_.children_.insert(doc_.children_.end(), stack_.begin() + static_cast<ptrdiff_t>(first), stack_.end());
        stack_.resize(first);
        return index;
    }

    std::span<const uint8_t> data_;
    MarshalDocument& doc_;
    size_t pos_ = 0;
    std::vector<RefSlot>& refs_ = doc_.refs_;
    int replaying_ = 0;
    size_t replayed_ = 0;
    size_t replay_budget_ = data_.size() * 16 + (size_t{1} << 20);
    std::vector<uint32_t> stack_;
    int code_layout_ = kNoLayout;  // index into kCodeLayouts once known (or being tried)
    size_t open_dict_slot_ = kNoSlot;  // of the dict enter_nested_dict() entered
};

MarshalDocument MarshalDocument::parse(std::span<const uint8_t> data) {
    MarshalDocument doc;
    doc.data_ = data;
    check_input(data);
    MarshalParser parser(data, doc);
    doc.root_ = parser.read_object(0);
    if (parser.position() != data.size())
        throw FormatError(std::to_string(data.size() - parser.position()) + " unexpected bytes after the data",
                          parser.position());
    return doc;
}

MarshalStream::MarshalStream(std::span<const uint8_t> data) {
    check_input(data);
    doc_.data_ = data;
    // A registered value takes at least 2 bytes of input (a flagged type code and one byte).
    reserve_large(doc_.refs_, data.size() / 2 + 16);
    parser_ = std::make_unique<MarshalParser>(data, doc_);
}

MarshalStream::~MarshalStream() = default;

bool MarshalStream::begin_dict() {
    if ((parser_->data()[0] & static_cast<uint8_t>(~kFlagRef)) != '{') return false;
    parser_->enter_dict();
    return true;
}

bool MarshalStream::next_item() {
    size_t pos = parser_->position();
    if (pos >= parser_->data().size()) throw FormatError("file ends inside a dict", pos);
    if (parser_->data()[pos] != '0') return true;
    parser_->skip(1);
    parser_->end_nested_dict();  // nothing for the top-level dict, whose items end later
    return false;
}

uint32_t MarshalStream::read() { return parser_->read_object(1); }

size_t MarshalStream::read_scalars(MarshalDocument::Scalar* out, size_t n) {
    size_t k = 0;
    while (k < n && parser_->read_scalar(out[k])) ++k;
    return k;
}

bool MarshalStream::enter_tuple(uint32_t count) { return parser_->enter_tuple(count); }

bool MarshalStream::enter_dict() { return parser_->enter_nested_dict(); }

uint32_t MarshalStream::read_tag(MarshalDocument::Type type) { return parser_->read_tag(type); }

bool MarshalStream::read_key(MarshalDocument::Key& key) { return parser_->read_key(key); }

void MarshalStream::set_slot_tag(uint32_t slot, uint32_t tag) { parser_->set_slot_tag(slot, tag); }

void MarshalStream::clear() {
    doc_.values_.clear();
    doc_.children_.clear();
    ++doc_.generation_;
}

void MarshalStream::finish() {
    size_t pos = parser_->position(), size = parser_->data().size();
    if (pos != size) throw FormatError(std::to_string(size - pos) + " unexpected bytes after the data", pos);
}

const char* MarshalDocument::type_name(Type type) {
    switch (type) {
        case Type::None: return "None";
        case Type::Bool: return "bool";
        case Type::Int: return "int";
        case Type::Float: return "float";
        case Type::String: return "string";
        case Type::Tuple: return "tuple";
        case Type::List: return "list";
        case Type::Set: return "set";
        case Type::Dict: return "dict";
        case Type::Code: return "code";
        case Type::Other: return "object";
    }
    return "object";
}

}  // namespace calltree
