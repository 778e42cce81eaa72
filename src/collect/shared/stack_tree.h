// Sampled stacks folded into a tree (a node per distinct path of (function, line) frames), so a
// long run costs memory per distinct stack, not per sample; then turned into the model: self
// cost at the innermost frame's line, inclusive cost on every caller->callee arc at its call
// line, counted once per sample even when the pair recurs deeper in the same stack.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/flat_map.h"
#include "model/profile.h"

namespace calltree {

class StackTree {
public:
    static constexpr uint32_t kRoot = 0;

    explicit StackTree(size_t events);

    // The node for `function` called at `line`-position below `parent`: `line` is the line
    // being executed in that frame (the call site, for all but the innermost frame).
    uint32_t child(uint32_t parent, uint32_t function, uint32_t line);
    // Adds one sample's costs (one per event) to the stack ending at `node`.
    void add(uint32_t node, std::span<const uint64_t> costs);

    size_t node_count() const { return nodes_.size(); }

    // `functions[f]` is the model's id for the tree's function index f. Arcs count the samples
    // that saw them as calls unless `samples_are_calls` is false (memory events count no calls).
    void add_to(Profile& profile, std::span<const FunctionId> functions, bool samples_are_calls = true) const;

private:
    struct Node {
        uint32_t parent;
        uint32_t function;
        uint32_t line;
        uint32_t depth;
        uint64_t samples = 0;
    };
    struct Key {
        uint32_t parent, function, line;
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        size_t operator()(const Key& k) const noexcept {
            return hash_u64((uint64_t{k.parent} << 32 | k.function) ^ (uint64_t{k.line} * 0x9e3779b97f4a7c15ULL));
        }
    };
    size_t events_;
    std::vector<Node> nodes_;
    std::vector<uint64_t> costs_;  // events_ per node
    FlatMap<Key, uint32_t, KeyHash> index_{Key{~0u, ~0u, ~0u}};
};

}  // namespace calltree
