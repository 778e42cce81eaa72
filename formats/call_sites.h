// pstats files have no call sites. When the caller's source is on this machine, the first line
// of its body that calls the callee by name is a far better guess than the caller's `def` line
// (where pyprof2calltree puts every call): KCachegrind's source view then shows each call's cost
// next to the call.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace calltree {

class CallSiteFinder {
public:
    // Line of the first call to `callee` (a pstats function name) in the body of the function
    // starting at `def_line` of `file`, or `def_line` when the source is unavailable or no such
    // line exists.
    uint32_t find(const std::string& file, uint32_t def_line, std::string_view callee);

    // The name a call site spells: "len" for "<built-in method builtins.len>", "append" for
    // "<method 'append' of 'list' objects>", "norm" for "Point.norm:12"; empty if none.
    static std::string spelled_name(std::string_view callee);

private:
    const std::vector<std::string>* lines(const std::string& file);
    std::unordered_map<std::string, std::vector<std::string>> sources_;
};

}  // namespace calltree
