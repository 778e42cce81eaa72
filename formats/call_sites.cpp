#include "formats/call_sites.h"

#include <cctype>
#include <fstream>

namespace calltree {

namespace {

size_t indentation(const std::string& line) {
    size_t i = 0;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    return i;
}

bool blank_or_comment(const std::string& line) {
    size_t i = indentation(line);
    return i == line.size() || line[i] == '#';
}

bool identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

// `name(` as a whole word, not a definition of it.
bool calls(const std::string& line, const std::string& name) {
    size_t start = indentation(line);
    if (line.compare(start, 4, "def ") == 0 || line.compare(start, 10, "async def ") == 0 ||
        line.compare(start, 6, "class ") == 0)
        return false;
    for (size_t at = line.find(name); at != std::string::npos; at = line.find(name, at + 1)) {
        size_t end = at + name.size();
        if ((at == 0 || !identifier_char(line[at - 1])) && end < line.size()) {
            size_t k = end;
            while (k < line.size() && line[k] == ' ') ++k;
            if (k < line.size() && line[k] == '(') return true;
        }
    }
    return false;
}

}  // namespace

std::string CallSiteFinder::spelled_name(std::string_view callee) {
    constexpr std::string_view kBuiltin = "<built-in method ";
    constexpr std::string_view kMethod = "<method '";
    if (callee.starts_with(kBuiltin)) {
        std::string_view rest = callee.substr(kBuiltin.size());
        rest = rest.substr(0, rest.find_first_of(" >"));
        auto dot = rest.rfind('.');
        return std::string(dot == std::string_view::npos ? rest : rest.substr(dot + 1));
    }
    if (callee.starts_with(kMethod)) {
        std::string_view rest = callee.substr(kMethod.size());
        return std::string(rest.substr(0, rest.find('\'')));
    }
    if (callee.empty() || callee.front() == '<') return {};  // <listcomp>, <lambda>, <genexpr>...
    auto colon = callee.find(':');
    std::string_view name = callee.substr(0, colon);
    auto dot = name.rfind('.');
    if (dot != std::string_view::npos) name = name.substr(dot + 1);
    // Constructors are called by their class's name, dunders by operators: no spelled call.
    if (name.starts_with("__") || name.empty() || name.front() == '<') return {};
    return std::string(name);
}

const std::vector<std::string>* CallSiteFinder::lines(const std::string& file) {
    auto it = sources_.find(file);
    if (it == sources_.end()) {
        std::vector<std::string> text;
        if (!file.empty() && file.front() == '/') {
            std::ifstream in(file);
            for (std::string line; std::getline(in, line);) text.push_back(std::move(line));
        }
        it = sources_.emplace(file, std::move(text)).first;
    }
    return it->second.empty() ? nullptr : &it->second;
}

uint32_t CallSiteFinder::find(const std::string& file, uint32_t def_line, std::string_view callee) {
    std::string name = spelled_name(callee);
    const std::vector<std::string>* text = name.empty() || def_line == 0 ? nullptr : lines(file);
    if (text == nullptr || def_line > text->size()) return def_line;
    const auto& src = *text;
    size_t first = def_line - 1;
    // Decorators come before the def: the body starts after the line that opens the function.
    size_t opener = first;
    while (opener < src.size() && !blank_or_comment(src[opener]) && src[opener].compare(indentation(src[opener]), 1, "@") == 0)
        ++opener;
    bool module_level = def_line == 1 && opener < src.size() &&
                        src[opener].compare(indentation(src[opener]), 4, "def ") != 0 &&
                        src[opener].compare(indentation(src[opener]), 6, "class ") != 0;
    size_t base = module_level ? 0 : indentation(src[std::min(opener, src.size() - 1)]);
    // Module-level code skips the bodies of the functions and classes it defines.
    constexpr size_t kNone = static_cast<size_t>(-1);
    size_t nested = kNone;
    for (size_t i = module_level ? 0 : opener + 1; i < src.size(); ++i) {
        const std::string& line = src[i];
        if (blank_or_comment(line)) continue;
        size_t indent = indentation(line);
        if (!module_level && indent <= base) break;
        if (module_level) {
            if (nested != kNone && indent > nested) continue;
            nested = kNone;
            if (line.compare(indent, 4, "def ") == 0 || line.compare(indent, 10, "async def ") == 0 ||
                line.compare(indent, 6, "class ") == 0 || line.compare(indent, 1, "@") == 0) {
                if (line.compare(indent, 1, "@") != 0) nested = indent;
                continue;
            }
        }
        if (calls(line, name)) return static_cast<uint32_t>(i + 1);
    }
    return def_line;
}

}  // namespace calltree
