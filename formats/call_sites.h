// pstats files have no call sites. When the caller's source is on this machine, the first line
// of its body that calls the callee by name is a far better guess than the caller's `def` line
// (where pyprof2calltree puts every call): KCachegrind's source view then shows each call's cost
// next to the call.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/flat_map.h"

namespace calltree {

class CallSiteFinder {
public:
    // Makes `file` the source that find() looks in, reading it unless it already is; false when
    // it cannot be read. Only the last file and the last body asked about are kept: callers
    // visited grouped by file and by function (as the pstats reader does) read each file and
    // scan each body once, in memory for one file at a time.
    bool open(std::string_view file);

    // A callee as call sites spell it (spelled_name), hashed: made once per function by a
    // reader that looks up the same callee from many callers. Only the hash and length: a
    // lookup that compared the callee's text too would fetch it, a cache miss per call into the
    // reader's input, for the odds of a 64-bit collision between two names of one body.
    struct Spelled {
        uint64_t hash = 0;
        uint32_t size = 0;  // 0: no call spells it
    };
    static Spelled spell(std::string_view callee);

    // Line of the first call to `callee` (a pstats function name) in the body of the function
    // starting at `def_line` of the open file, or `def_line` when there is no such line.
    uint32_t find(uint32_t def_line, const Spelled& callee);
    uint32_t find(uint32_t def_line, std::string_view callee) { return find(def_line, spell(callee)); }

    // Both: `def_line` when `file` cannot be read.
    uint32_t find(std::string_view file, uint32_t def_line, std::string_view callee) {
        return open(file) ? find(def_line, callee) : def_line;
    }

    // The name a call site spells: "len" for "<built-in method builtins.len>", "append" for
    // "<method 'append' of 'list' objects>", "norm" for "Point.norm:12"; empty if none.
    static std::string_view spelled_name(std::string_view callee);

private:
    // The names a function's body calls, each with the first line that calls it: a body is
    // scanned once, however many callees it has. Keyed by a 64-bit hash of the name (see Spelled).
    struct CallAt {
        uint32_t size;
        uint32_t line;
    };
    struct HashHash {
        size_t operator()(uint64_t h) const noexcept { return static_cast<size_t>(h); }
    };
    using Calls = FlatMap<uint64_t, CallAt, HashHash>;

    void scan_body(uint32_t def_line);

    std::string file_;                    // the current source's path
    bool opened_ = false;
    // Its contents, in a buffer reused from file to file (neither zeroed nor reallocated).
    std::unique_ptr<char[]> text_;
    size_t text_capacity_ = 0;
    std::vector<std::string_view> lines_;  // into text_, empty if unreadable
    uint32_t body_ = 0;                   // def line of the body calls_ describes; 0 for none
    Calls calls_{~uint64_t{0}, 16};
};

}  // namespace calltree
