#include "formats/call_sites.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace calltree {

namespace {

size_t indentation(std::string_view line) {
    size_t i = 0;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    return i;
}

// With the line's indentation already measured.
bool blank_or_comment(std::string_view line, size_t indent) { return indent == line.size() || line[indent] == '#'; }

bool starts_with_at(std::string_view line, size_t at, std::string_view prefix) {
    return line.substr(at).starts_with(prefix);
}

bool defines(std::string_view line, size_t indent) {
    return starts_with_at(line, indent, "def ") || starts_with_at(line, indent, "async def ") ||
           starts_with_at(line, indent, "class ");
}

// ASCII letters, digits and '_' (and any byte of a UTF-8 sequence, which Python allows in names).
constexpr auto kIdentifier = [] {
    std::array<bool, 256> table{};
    for (int c = 0; c < 256; ++c)
        table[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
    return table;
}();

bool identifier_char(char c) { return kIdentifier[static_cast<unsigned char>(c)]; }

// Every whole word followed by `(` on a line (indented by `indent`) that does not define
// something: the names it calls. Found from each `(` backwards, so the rest of the line is
// skipped at memchr speed.
template <class Visit>
void called_names(std::string_view line, size_t indent, Visit&& visit) {
    if (defines(line, indent)) return;
    for (size_t paren = line.find('(', indent); paren != std::string_view::npos; paren = line.find('(', paren + 1)) {
        size_t end = paren;
        while (end > indent && line[end - 1] == ' ') --end;
        size_t start = end;
        while (start > indent && identifier_char(line[start - 1])) --start;
        if (start < end && !(line[start] >= '0' && line[start] <= '9')) visit(line.substr(start, end - start));
    }
}

// FNV-1a, mixed: identifiers are short, and this runs for every call in every source read.
uint64_t name_hash(std::string_view name) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    h = hash_u64(h);
    return h == ~uint64_t{0} ? h - 1 : h;  // ~0 marks the table's empty slots
}

}  // namespace

std::string_view CallSiteFinder::spelled_name(std::string_view callee) {
    constexpr std::string_view kBuiltin = "<built-in method ";
    constexpr std::string_view kMethod = "<method '";
    if (callee.starts_with(kBuiltin)) {
        std::string_view rest = callee.substr(kBuiltin.size());
        rest = rest.substr(0, rest.find_first_of(" >"));
        auto dot = rest.rfind('.');
        return dot == std::string_view::npos ? rest : rest.substr(dot + 1);
    }
    if (callee.starts_with(kMethod)) {
        std::string_view rest = callee.substr(kMethod.size());
        return rest.substr(0, rest.find('\''));
    }
    if (callee.empty() || callee.front() == '<') return {};  // <listcomp>, <lambda>, <genexpr>...
    auto colon = callee.find(':');
    std::string_view name = callee.substr(0, colon);
    auto dot = name.rfind('.');
    if (dot != std::string_view::npos) name = name.substr(dot + 1);
    // Constructors are called by their class's name, dunders by operators: no spelled call.
    if (name.starts_with("__") || name.empty() || name.front() == '<') return {};
    return name;
}

bool CallSiteFinder::open(std::string_view file) {
    if (opened_ && file == file_) return !lines_.empty();
    file_ = file;
    opened_ = true;
    body_ = 0;
    lines_.clear();
    if (file.empty() || file.front() != '/') return false;
    int fd = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    size_t size = 0;
    struct stat st {};
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        auto want = static_cast<size_t>(st.st_size);
        if (want > text_capacity_) {
            text_capacity_ = std::max(want, text_capacity_ * 2);
            text_.reset(new char[text_capacity_]);  // not zeroed: read() fills what is used
        }
        while (size < want) {
            ssize_t n = ::read(fd, text_.get() + size, want - size);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            size += static_cast<size_t>(n);
        }
    }
    ::close(fd);
    std::string_view text(text_.get(), size);
    for (size_t start = 0; start < text.size();) {
        const void* newline = std::memchr(text.data() + start, '\n', text.size() - start);
        size_t end = newline != nullptr ? static_cast<size_t>(static_cast<const char*>(newline) - text.data()) : text.size();
        std::string_view line = text.substr(start, end - start);
        if (line.ends_with('\r')) line.remove_suffix(1);
        lines_.push_back(line);
        start = end + 1;
    }
    return !lines_.empty();
}

void CallSiteFinder::scan_body(uint32_t def_line) {
    body_ = def_line;
    // Most bodies call a few names: the table is reused, unless one body made it large.
    if (calls_.capacity() > 256)
        calls_ = Calls(~uint64_t{0}, 16);
    else
        calls_.clear();
    Calls& calls = calls_;
    const auto& src = lines_;
    size_t first = def_line - 1;
    // Decorators come before the def: the body starts after the line that opens the function.
    size_t opener = first;
    while (opener < src.size()) {
        size_t indent = indentation(src[opener]);
        if (blank_or_comment(src[opener], indent) || !starts_with_at(src[opener], indent, "@")) break;
        ++opener;
    }
    bool module_level = def_line == 1 && opener < src.size() && !starts_with_at(src[opener], indentation(src[opener]), "def ") &&
                        !starts_with_at(src[opener], indentation(src[opener]), "class ");
    size_t base = module_level ? 0 : indentation(src[std::min(opener, src.size() - 1)]);
    // Module-level code skips the bodies of the functions and classes it defines.
    constexpr size_t kNone = static_cast<size_t>(-1);
    size_t nested = kNone;
    for (size_t i = module_level ? 0 : opener + 1; i < src.size(); ++i) {
        std::string_view line = src[i];
        size_t indent = indentation(line);
        if (blank_or_comment(line, indent)) continue;
        if (!module_level && indent <= base) break;
        if (module_level) {
            if (nested != kNone && indent > nested) continue;
            nested = kNone;
            if (defines(line, indent) || starts_with_at(line, indent, "@")) {
                if (!starts_with_at(line, indent, "@")) nested = indent;
                continue;
            }
        }
        called_names(line, indent, [&calls, i](std::string_view name) {  // the first call of each name wins
            uint64_t h = name_hash(name);
            if (calls.find(h) == nullptr)
                calls.insert(h, CallAt{static_cast<uint32_t>(name.size()), static_cast<uint32_t>(i + 1)});
        });
    }
}

CallSiteFinder::Spelled CallSiteFinder::spell(std::string_view callee) {
    std::string_view name = spelled_name(callee);
    return {name.empty() ? 0 : name_hash(name), static_cast<uint32_t>(name.size())};
}

uint32_t CallSiteFinder::find(uint32_t def_line, const Spelled& callee) {
    if (def_line == 0 || def_line > lines_.size() || callee.size == 0) return def_line;
    if (def_line != body_) scan_body(def_line);
    const CallAt* call = calls_.find(callee.hash);
    return call != nullptr && call->size == callee.size ? call->line : def_line;
}

}  // namespace calltree
