#include "model/names.h"

namespace calltree {

namespace {
// Top-level package of a dotted name: "numpy.core._multiarray_umath" -> "numpy".
std::string top_package(std::string_view dotted) {
    auto dot = dotted.find('.');
    return std::string(dotted.substr(0, dot));
}
}  // namespace

std::string builtin_object(std::string_view name) {
    constexpr std::string_view kBuiltinMethod = "<built-in method ";
    constexpr std::string_view kMethod = "<method '";
    if (name.starts_with(kBuiltinMethod)) {
        std::string_view rest = name.substr(kBuiltinMethod.size());
        auto dot = rest.rfind('.');
        auto end = rest.find('>');
        if (dot != std::string_view::npos && dot < end) return top_package(rest.substr(0, dot));
        return "builtins";
    }
    if (name.starts_with(kMethod)) {
        auto of = name.find(" of '");
        if (of != std::string_view::npos) {
            std::string_view type = name.substr(of + 5);
            type = type.substr(0, type.find('\''));
            auto dot = type.rfind('.');
            if (dot != std::string_view::npos) return top_package(type.substr(0, dot));
        }
    }
    return "builtins";
}

}  // namespace calltree
