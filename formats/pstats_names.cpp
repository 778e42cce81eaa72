#include "formats/pstats_names.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "model/flat_map.h"
#include "model/id_index.h"
#include "model/names.h"

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

std::string_view basename(std::string_view file) {
    size_t slash = file.rfind('/');
    return slash == std::string_view::npos ? file : file.substr(slash + 1);
}

// Up to `depth` parent directories of `file` dot-joined with a trailing dot ("src.a."), and
// whether the path has directories above them.
std::pair<std::string, bool> parents(std::string_view file, size_t depth) {
    std::string_view dir = file.substr(0, file.size() - basename(file).size());
    auto trim = [&dir] {
        while (!dir.empty() && dir.back() == '/') dir.remove_suffix(1);
    };
    std::string prefix;
    for (trim(); depth > 0 && !dir.empty(); --depth, trim()) {
        std::string_view part = basename(dir);
        dir.remove_suffix(part.size());
        prefix = std::string(part) + "." + prefix;
    }
    return {prefix, !dir.empty()};
}

// Objects of the distinct files (`paths`, builtins excluded): the module name, qualified by as
// many parent directories as needed where two files share their basename and module.
std::vector<std::string> file_objects(const std::vector<std::string_view>& paths) {
    std::vector<std::string> objects(paths.size());
    std::unordered_map<std::string, std::vector<uint32_t>> by_identity;
    for (uint32_t id = 0; id < paths.size(); ++id) {
        objects[id] = module_from_path(paths[id]);
        by_identity[std::string(basename(paths[id])) + '\0' + objects[id]].push_back(id);
    }
    for (auto& [identity, group] : by_identity) {
        for (size_t depth = 1; group.size() > 1; ++depth) {
            std::unordered_set<std::string> seen;
            std::vector<std::string> candidates;
            bool distinct = true, more = false;
            for (uint32_t id : group) {
                auto [prefix, above] = parents(paths[id], depth);
                candidates.push_back(prefix + objects[id]);
                distinct &= seen.insert(candidates.back()).second;
                more |= above;
            }
            if (distinct || !more) {
                for (size_t j = 0; j < group.size(); ++j) objects[group[j]] = std::move(candidates[j]);
                break;
            }
        }
    }
    return objects;
}

// Functions whose (file, name) pair occurs at more than one line. The index holds function
// indices (8 bytes a slot): the pairs are in `functions`.
std::vector<bool> shared_names(std::span<const PstatsFunction> functions) {
    std::vector<bool> shared(functions.size(), false);
    IdIndex first_with;
    first_with.reserve(functions.size());
    for (uint32_t i = 0; i < functions.size(); ++i) {
        const PstatsFunction& f = functions[i];
        uint64_t hash = hash_u64(uint64_t{f.file_id} << 32 | f.name_id);
        uint32_t first = first_with.find(hash, [&](uint32_t j) {
            return functions[j].file_id == f.file_id && functions[j].name_id == f.name_id;
        });
        if (first != IdIndex::kNone)
            shared[first] = shared[i] = true;
        else
            first_with.insert(hash, i);
    }
    return shared;
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

PstatsNames name_pstats_functions(std::span<const PstatsFunction> functions, std::span<const std::string_view> texts) {
    constexpr uint32_t kNone = ~0u;
    PstatsNames out;
    out.names.resize(functions.size());
    out.object_of.resize(functions.size());
    std::vector<bool> shared = shared_names(functions);
    // The files numbered densely: a profile has far fewer files than texts.
    std::vector<uint32_t> file_index(texts.size(), kNone);
    std::vector<std::string_view> paths;
    for (const PstatsFunction& f : functions) {
        if (texts[f.file_id] == kBuiltinFile || file_index[f.file_id] != kNone) continue;
        file_index[f.file_id] = static_cast<uint32_t>(paths.size());
        paths.push_back(texts[f.file_id]);
    }
    std::vector<std::string> by_file = file_objects(paths);
    std::vector<uint32_t> file_object(paths.size(), kNone);
    std::unordered_map<std::string, uint32_t> builtin_objects;
    // KCachegrind tells functions apart by name, basename(file) and object: the last two are
    // one "place" id per distinct pair, found once per file or builtin object, so that a
    // function's identity costs one hash of its name.
    std::unordered_map<std::string, uint32_t> place_ids;
    auto place_of_pair = [&place_ids](std::string_view base, const std::string& object) {
        std::string key = std::string(base) + '\0' + object;
        return place_ids.try_emplace(std::move(key), static_cast<uint32_t>(place_ids.size())).first->second;
    };
    std::vector<uint32_t> file_place(paths.size(), kNone), builtin_place;
    std::vector<uint32_t> place(functions.size());
    IdIndex identities;
    identities.reserve(functions.size());
    for (size_t i = 0; i < functions.size(); ++i) {
        const PstatsFunction& f = functions[i];
        uint32_t& object = out.object_of[i];
        std::string_view file = texts[f.file_id];
        if (file == kBuiltinFile) {
            std::string name = builtin_object(texts[f.name_id]);
            object = builtin_objects.try_emplace(name, static_cast<uint32_t>(out.objects.size())).first->second;
            if (object == out.objects.size()) {
                out.objects.push_back(std::move(name));
                builtin_place.resize(out.objects.size(), kNone);
                builtin_place[object] = place_of_pair(basename(file), out.objects[object]);
            }
            place[i] = builtin_place[object];
        } else {
            uint32_t index = file_index[f.file_id];
            if (file_object[index] == kNone) {
                file_object[index] = static_cast<uint32_t>(out.objects.size());
                out.objects.push_back(std::move(by_file[index]));
                file_place[index] = place_of_pair(basename(file), out.objects.back());
            }
            object = file_object[index];
            place[i] = file_place[index];
        }
        std::string& name = out.names[i];
        name = texts[f.name_id];
        if (shared[i]) name += ":" + std::to_string(f.line);
        // What the rules above cannot separate (a function literally named "f:3" next to two
        // f's, paths equal but for repeated slashes) is numbered.
        size_t plain = name.size();
        for (int n = 2;; ++n) {
            uint64_t hash = hash_text(name) ^ hash_u64(place[i]);
            auto same = [&](uint32_t j) { return place[j] == place[i] && out.names[j] == name; };
            if (identities.find(hash, same) == IdIndex::kNone) {
                identities.insert(hash, static_cast<uint32_t>(i));
                break;
            }
            name.resize(plain);
            name += "#" + std::to_string(n);
        }
    }
    return out;
}

}  // namespace calltree
