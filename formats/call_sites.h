// pstats files have no call sites. When the caller's source is on this machine, the first line
// of its body that calls the callee by name is a far better guess than the caller's `def` line
// (where pyprof2calltree puts every call): KCachegrind's source view then shows each call's cost
// next to the call.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/flat_map.h"

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
    struct Source {
        std::string text;
        std::vector<std::string_view> lines;  // into text
    };
    // The names a function's body calls, each with the first line that calls it: every body is
    // scanned once, however many callees it has. Keyed by a 64-bit hash of the name, checked
    // against the text on lookup: a source holds hundreds of thousands of calls.
    struct CallAt {
        const char* name;
        uint32_t size;
        uint32_t line;
    };
    struct HashHash {
        size_t operator()(uint64_t h) const noexcept { return static_cast<size_t>(h); }
    };
    using Calls = FlatMap<uint64_t, CallAt, HashHash>;

    const Source* source(const std::string& file);
    const Calls& calls_in(const std::string& file, uint32_t def_line, const Source& src);

    std::unordered_map<std::string, std::unique_ptr<Source>> sources_;  // stable: Calls point into them
    std::unordered_map<std::string, Calls> bodies_;                      // by file + '\0' + def line
};

}  // namespace calltree
