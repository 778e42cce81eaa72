#include "collect/shared/stack_tree.h"

#include <algorithm>
#include <unordered_set>
#include <utility>

namespace calltree {

StackTree::StackTree(size_t events) : events_(events) {
    nodes_.push_back(Node{kRoot, ~0u, 0, 0});
    costs_.assign(events_, 0);
}

uint32_t StackTree::child(uint32_t parent, uint32_t function, uint32_t line) {
    Key key{parent, function, line};
    if (const uint32_t* found = index_.find(key)) return *found;
    auto id = static_cast<uint32_t>(nodes_.size());
    nodes_.push_back(Node{parent, function, line, nodes_[parent].depth + 1});
    costs_.resize(costs_.size() + events_, 0);
    index_.insert(key, id);
    return id;
}

void StackTree::add(uint32_t node, std::span<const uint64_t> costs) {
    uint64_t* c = &costs_[size_t{node} * events_];
    for (size_t i = 0; i < events_ && i < costs.size(); ++i) c[i] += costs[i];
    ++nodes_[node].samples;
}

void StackTree::add_to(Profile& profile, std::span<const FunctionId> functions, bool samples_are_calls) const {
    std::vector<uint32_t> path;  // node ids, outermost first
    // Stacks are shallow almost always; deep recursion gets hash sets instead of linear scans.
    std::vector<uint64_t> seen_small;
    std::unordered_set<uint64_t> seen_large;
    auto first_time = [&](uint64_t key, bool large) {
        if (large) return seen_large.insert(key).second;
        if (std::find(seen_small.begin(), seen_small.end(), key) != seen_small.end()) return false;
        seen_small.push_back(key);
        return true;
    };
    for (uint32_t n = 1; n < nodes_.size(); ++n) {
        const Node& leaf = nodes_[n];
        if (leaf.samples == 0) continue;
        std::span<const uint64_t> costs(&costs_[size_t{n} * events_], events_);
        path.clear();
        for (uint32_t at = n; at != kRoot; at = nodes_[at].parent) path.push_back(at);
        std::reverse(path.begin(), path.end());

        profile.add_self_cost(functions[leaf.function], Line(leaf.line), costs);
        // Each arc and each function is charged once per sample, at its outermost occurrence:
        // KCachegrind sums incoming arcs, so a recursion must not count the same time twice.
        seen_small.clear();
        seen_large.clear();
        const bool large = path.size() > 48;
        for (size_t i = 0; i < path.size(); ++i) {
            const Node& callee = nodes_[path[i]];
            // Function keys have the top bit set so they never equal a (caller, callee) key.
            if (first_time(uint64_t{1} << 63 | callee.function, large))
                profile.add_inclusive(functions[callee.function], costs);
            if (i == 0) continue;
            const Node& caller = nodes_[path[i - 1]];
            if (!first_time(uint64_t{caller.function} << 32 | callee.function, large)) continue;
            Arc& arc = profile.arc(functions[caller.function], Line(caller.line), functions[callee.function]);
            if (samples_are_calls) arc.calls += leaf.samples;  // samples that saw the call: sampling counts no calls
            add_costs(arc.inclusive, costs);
        }
    }
}

}  // namespace calltree
