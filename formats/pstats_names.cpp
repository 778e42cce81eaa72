#include "formats/pstats_names.h"

#include <algorithm>
#include <vector>

namespace calltree {

namespace {

// Offset where the importable module path starts, or npos when the path does not show it.
size_t import_root(const std::string& path) {
    // The innermost package directory wins: a virtualenv inside a lib/python3.X tree, say.
    for (const char* marker : {"/site-packages/", "/dist-packages/"}) {
        size_t at = path.rfind(marker);
        if (at != std::string::npos) return at + std::char_traits<char>::length(marker);
    }
    // /usr/lib/python3.11/json/encoder.py, C:/Python311/Lib/json/encoder.py
    for (size_t at = path.rfind("/python"); at != std::string::npos && at > 0; at = path.rfind("/python", at - 1)) {
        size_t version = at + 7, end = path.find('/', version);
        if (end == std::string::npos || end == version) continue;
        if (std::string_view(path).substr(version, end - version).find_first_not_of("0123456789.") !=
            std::string_view::npos)
            continue;
        size_t root = end + 1;
        if (path.compare(root, 12, "lib-dynload/") == 0) root += 12;
        return root;
    }
    size_t lib = path.rfind("/Lib/");
    return lib == std::string::npos ? std::string::npos : lib + 5;
}

std::vector<std::string_view> components(std::string_view path) {
    std::vector<std::string_view> out;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = std::min(path.find('/', start), path.size());
        if (end > start) out.push_back(path.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

}  // namespace

std::string module_from_path(std::string_view file) {
    if (file.starts_with("<frozen ") && file.ends_with(">")) return std::string(file.substr(8, file.size() - 9));
    if (file.starts_with("<")) return std::string(file);
    std::string path(file);
    std::replace(path.begin(), path.end(), '\\', '/');
    size_t root = import_root(path);
    std::vector<std::string_view> parts = components(path);
    if (parts.empty()) return path;
    // A module's file name holds no dot before its extension(s): json.py, x.cpython-311-x86_64-linux-gnu.so.
    std::string_view& last = parts.back();
    if (size_t dot = last.find('.'); dot != std::string_view::npos && dot > 0) last = last.substr(0, dot);
    size_t first = parts.size() - 1;
    if (root != std::string::npos) {
        first = components(std::string_view(path).substr(0, root)).size();
    } else if ((last == "__init__" || last == "__main__") && parts.size() > 1) {
        first = parts.size() - 2;  // the package directory names it
    }
    if (last == "__init__" && parts.size() - first > 1) parts.pop_back();
    std::string module;
    for (size_t i = first; i < parts.size(); ++i) {
        if (!module.empty()) module += '.';
        module += parts[i];
    }
    return module;
}

}  // namespace calltree
