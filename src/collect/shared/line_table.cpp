#include "collect/shared/line_table.h"

#include <cstddef>

namespace calltree {

namespace {

// Bytes of one entry: the first has bit 7 set, bits 3-6 the entry's form, bits 0-2 the number
// of code units it covers minus one; the rest carry varints in 6-bit groups (bit 6: more follow).
class Reader {
public:
    explicit Reader(std::string_view t) : t_(t) {}
    bool done() const { return at_ >= t_.size(); }
    uint8_t byte() { return static_cast<uint8_t>(t_[at_++]); }
    bool at_entry_start() const { return done() || (static_cast<uint8_t>(t_[at_]) & 0x80) != 0; }
    uint32_t varint() {
        uint32_t value = 0;
        for (unsigned shift = 0; !at_entry_start() && shift < 32; shift += 6) {
            uint8_t b = byte();
            value |= static_cast<uint32_t>(b & 63) << shift;
            if ((b & 64) == 0) break;
        }
        return value;
    }
    int32_t svarint() {
        uint32_t v = varint();
        return (v & 1) != 0 ? -static_cast<int32_t>(v >> 1) : static_cast<int32_t>(v >> 1);
    }
    void skip_to_entry() {
        while (!at_entry_start()) ++at_;
    }

private:
    std::string_view t_;
    size_t at_ = 0;
};

}  // namespace

uint32_t line_for_offset(std::string_view table, int32_t first_line, int32_t lasti) {
    if (lasti < 0) return 0;
    const int32_t target = lasti / 2;  // code units
    Reader r(table);
    int32_t line = first_line;
    int32_t unit = 0;
    while (!r.done()) {
        uint8_t head = r.byte();
        if ((head & 0x80) == 0) return 0;  // not at an entry: a corrupt copy
        int form = (head >> 3) & 15;
        int32_t length = (head & 7) + 1;
        bool has_line = true;
        if (form == 15) {
            has_line = false;  // no location
        } else if (form == 14) {
            line += r.svarint();  // long form: line delta, then end line and columns
        } else if (form == 13) {
            line += r.svarint();  // no columns
        } else if (form >= 10) {
            line += form - 10;  // one-line form: delta 0..2, then two column bytes
        }
        r.skip_to_entry();
        if (target < unit + length) return has_line && line > 0 ? static_cast<uint32_t>(line) : 0;
        unit += length;
    }
    return 0;
}

int32_t body_column_of(std::string_view table) {
    Reader r(table);
    while (!r.done()) {
        uint8_t head = r.byte();
        if ((head & 0x80) == 0) return -1;
        int form = (head >> 3) & 15;
        int32_t column = -1, end_column = -1, end_line_delta = 0;
        if (form < 10) {  // short form: column = form * 8 + high bits of the next byte
            if (r.at_entry_start()) return -1;
            uint8_t b = r.byte();
            column = form * 8 + ((b >> 4) & 7);
            end_column = column + (b & 15);
        } else if (form <= 12) {  // one-line form: start and end columns as bytes
            if (r.at_entry_start()) return -1;
            column = r.byte();
            if (r.at_entry_start()) return -1;
            end_column = r.byte();
        } else if (form == 14) {  // long form
            r.svarint();
            end_line_delta = static_cast<int32_t>(r.varint());
            column = static_cast<int32_t>(r.varint()) - 1;
            end_column = static_cast<int32_t>(r.varint()) - 1;
        }
        r.skip_to_entry();
        if (column >= 0 && (end_line_delta > 0 || end_column > column)) return column;
    }
    return -1;
}

}  // namespace calltree
