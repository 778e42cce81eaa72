#include "formats/call_sites.h"

#include <algorithm>
#include <array>
#include <fstream>

namespace calltree {

namespace {

size_t indentation(std::string_view line) {
    size_t i = 0;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    return i;
}

bool blank_or_comment(std::string_view line) {
    size_t i = indentation(line);
    return i == line.size() || line[i] == '#';
}

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

// Every whole word followed by `(` on a line that does not define something: the names it
// calls. Found from each `(` backwards, so the rest of the line is skipped at memchr speed.
template <class Visit>
void called_names(std::string_view line, Visit&& visit) {
    size_t indent = indentation(line);
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
    text_.clear();
    lines_.clear();
    if (file.empty() || file.front() != '/') return false;
    std::ifstream in(file_, std::ios::binary | std::ios::ate);
    if (auto size = static_cast<std::streamoff>(in.tellg()); in && size > 0) {
        text_.resize(static_cast<size_t>(size));
        in.seekg(0);
        in.read(text_.data(), size);
        text_.resize(static_cast<size_t>(in.gcount()));
    }
    std::string_view text(text_);
    for (size_t start = 0; start < text.size();) {
        size_t end = std::min(text.find('\n', start), text.size());
        std::string_view line = text.substr(start, end - start);
        if (line.ends_with('\r')) line.remove_suffix(1);
        lines_.push_back(line);
        start = end + 1;
    }
    return !lines_.empty();
}

void CallSiteFinder::scan_body(uint32_t def_line) {
    body_ = def_line;
    calls_ = Calls(~uint64_t{0}, 16);
    Calls& calls = calls_;
    const auto& src = lines_;
    size_t first = def_line - 1;
    // Decorators come before the def: the body starts after the line that opens the function.
    size_t opener = first;
    while (opener < src.size() && !blank_or_comment(src[opener]) && starts_with_at(src[opener], indentation(src[opener]), "@"))
        ++opener;
    bool module_level = def_line == 1 && opener < src.size() && !starts_with_at(src[opener], indentation(src[opener]), "def ") &&
                        !starts_with_at(src[opener], indentation(src[opener]), "class ");
    size_t base = module_level ? 0 : indentation(src[std::min(opener, src.size() - 1)]);
    // Module-level code skips the bodies of the functions and classes it defines.
    constexpr size_t kNone = static_cast<size_t>(-1);
    size_t nested = kNone;
    for (size_t i = module_level ? 0 : opener + 1; i < src.size(); ++i) {
        std::string_view line = src[i];
        if (blank_or_comment(line)) continue;
        size_t indent = indentation(line);
        if (!module_level && indent <= base) break;
        if (module_level) {
            if (nested != kNone && indent > nested) continue;
            nested = kNone;
            if (defines(line, indent) || starts_with_at(line, indent, "@")) {
                if (!starts_with_at(line, indent, "@")) nested = indent;
                continue;
            }
        }
        called_names(line, [&calls, i](std::string_view name) {  // the first call of each name wins
            uint64_t h = name_hash(name);
            if (calls.find(h) == nullptr)
                calls.insert(h, CallAt{name.data(), static_cast<uint32_t>(name.size()), static_cast<uint32_t>(i + 1)});
        });
    }
}

uint32_t CallSiteFinder::find(uint32_t def_line, std::string_view callee) {
    if (def_line == 0 || def_line > lines_.size()) return def_line;
    std::string_view name = spelled_name(callee);
    if (name.empty()) return def_line;
    if (def_line != body_) scan_body(def_line);
    const CallAt* call = calls_.find(name_hash(name));
    return call != nullptr && std::string_view(call->name, call->size) == name ? call->line : def_line;
}

}  // namespace calltree
