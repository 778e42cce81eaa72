#include "collect/shared/registry_naming.h"

#include <unordered_map>

#include "collect/shared/line_table.h"
#include "model/names.h"

namespace calltree {

FunctionNaming naming_of(const CodeRegistry::Entry& e, const std::string& cwd) {
    FunctionNaming n;
    n.name = e.name.empty() ? "<unknown>" : std::string(e.name);
    n.file = std::string(e.file);
    if (!n.file.empty() && n.file[0] != '/' && n.file[0] != '<' && !cwd.empty()) n.file = cwd + "/" + n.file;
    n.object = std::string(e.module);
    if (n.object.empty()) {
        auto slash = n.file.rfind('/');
        n.object = n.file.substr(slash == std::string::npos ? 0 : slash + 1);
        if (auto dot = n.object.rfind('.'); dot != std::string::npos && dot > 0) n.object.resize(dot);
    }
    n.line = e.first_line > 0 ? static_cast<uint32_t>(e.first_line) : 0;
    n.column = body_column_of(e.line_table);
    return n;
}

void add_registry_namings(const CodeRegistry& registry, const std::string& cwd, NameTable& names) {
    size_t count = std::min(registry.size(), registry.capacity());
    for (uint32_t id = 0; id < count; ++id) names.add(naming_of(registry.entry(id), cwd));
}

std::vector<FunctionId> intern_registry_functions(const CodeRegistry& registry, const std::string& cwd,
                                                  Profile& profile, size_t extra, const NameTable& names) {
    size_t count = std::min(registry.size(), registry.capacity());
    std::vector<FunctionId> ids(registry.capacity() + extra);
    for (uint32_t id = 0; id < count; ++id) {
        FunctionNaming n = naming_of(registry.entry(id), cwd);
        ids[id] = profile.intern_function(names.name_of(n), profile.intern_file(n.file), profile.intern_object(n.object),
                                          Line(n.line));
    }
    return ids;
}

FunctionId no_python_frame_function(Profile& profile) {
    return profile.intern_function("<no Python frame>", profile.intern_file(kBuiltinFile), profile.intern_object("<thread>"),
                                   Line(0));
}

FunctionId truncated_stack_function(Profile& profile, const std::string& name) {
    return profile.intern_function(name, profile.intern_file(kBuiltinFile), profile.intern_object("<thread>"), Line(0));
}

size_t program_outermost(const CodeRegistry& registry, std::span<const uint32_t> functions, bool truncated) {
    size_t outermost = functions.size() - 1;
    auto module_is = [&](size_t i, std::string_view name) {
        return functions[i] != CodeRegistry::kNone && registry.entry(functions[i]).module == name;
    };
    if (!truncated && module_is(outermost, "runpy")) {
        for (size_t i = outermost; i-- > 0;)
            if (module_is(i, "__main__")) return i;
    }
    return outermost;
}

}  // namespace calltree
