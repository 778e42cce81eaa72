// File names are bytes, marshal strings are UTF-8. Python bridges the two with surrogateescape:
// a byte that is not valid UTF-8 (a file named b'\xff') becomes the lone surrogate U+DC80+byte,
// which marshal stores with "surrogatepass" as the three bytes ED B2..B3 xx. The profile model
// keeps the real bytes (so fl= names the file); these convert at the pstats boundary.
#pragma once
#include <string>
#include <string_view>

namespace calltree {

namespace surrogate_detail {
// Length of the valid UTF-8 sequence at the start of `s` (strict, as Python decodes: no
// overlong forms, no surrogates, nothing above U+10FFFF), or 0.
inline size_t utf8_sequence(std::string_view s) {
    auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
    unsigned char b = byte(0);
    if (b < 0x80) return 1;
    size_t n = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
    if (n == 0 || s.size() < n) return 0;
    for (size_t i = 1; i < n; ++i)
        if ((byte(i) & 0xC0) != 0x80) return 0;
    unsigned char second = byte(1);
    if ((b == 0xE0 && second < 0xA0) || (b == 0xED && second > 0x9F) || (b == 0xF0 && second < 0x90) ||
        (b == 0xF4 && second > 0x8F))
        return 0;
    return n;
}
}  // namespace surrogate_detail

// Appends bytes as a marshal string Python can load: each byte of an invalid sequence as its
// escape surrogate. Valid UTF-8 (nearly always) is appended unchanged.
inline void append_marshal_text(std::string& out, std::string_view bytes) {
    size_t copied = 0;
    for (size_t i = 0; i < bytes.size();) {
        size_t n = surrogate_detail::utf8_sequence(bytes.substr(i));
        if (n != 0) {
            i += n;
            continue;
        }
        unsigned code = 0xDC00 + static_cast<unsigned char>(bytes[i]);
        out.append(bytes.substr(copied, i - copied));
        out += static_cast<char>(0xE0 | (code >> 12));
        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code & 0x3F));
        copied = ++i;
    }
    out.append(bytes.substr(copied));
}

// True if `text` holds escape surrogates (U+DC80..U+DCFF), which from_marshal_text turns back
// into the bytes they stand for.
inline bool has_escaped_bytes(std::string_view text) {
    for (size_t at = text.find('\xED'); at != std::string_view::npos; at = text.find('\xED', at + 1))
        if (at + 2 < text.size() && (text[at + 1] == '\xB2' || text[at + 1] == '\xB3')) return true;
    return false;
}

inline std::string from_marshal_text(std::string_view text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\xED' && i + 2 < text.size() && (text[i + 1] == '\xB2' || text[i + 1] == '\xB3')) {
            unsigned code = 0xD000 | ((static_cast<unsigned char>(text[i + 1]) & 0x3F) << 6) |
                            (static_cast<unsigned char>(text[i + 2]) & 0x3F);
            out += static_cast<char>(code - 0xDC00);
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

}  // namespace calltree
