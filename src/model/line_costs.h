// A function's self costs per source line, in line order. Most functions have costs at one
// line (pstats records only the def line; a traced function often spends all its time at one),
// so the first line lives inline and only a function with several lines allocates: a std::map
// here cost a node per function, 60k allocations and ~1.2k page faults converting a
// 60k-function profile. Iterators are pointers to (line, costs) pairs, as a map's would be.
#pragma once
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include "model/costs.h"
#include "model/ids.h"

namespace calltree {

class LineCosts {
public:
    using value_type = std::pair<Line, Costs>;
    using const_iterator = const value_type*;

    size_t size() const { return many_.empty() ? count_ : many_.size(); }
    bool empty() const { return size() == 0; }
    const_iterator begin() const { return many_.empty() ? &one_ : many_.data(); }
    const_iterator end() const { return begin() + size(); }

    const_iterator find(Line line) const {
        const_iterator it = lower_bound(line);
        return it != end() && it->first == line ? it : end();
    }
    const Costs& at(Line line) const {
        const_iterator it = find(line);
        if (it == end()) throw std::out_of_range("LineCosts::at: no costs at this line");
        return it->second;
    }

    // The costs at `line`, empty ones made if the line has none yet.
    Costs& operator[](Line line) {
        if (count_ == 0) {
            count_ = 1;
            one_.first = line;
            return one_.second;
        }
        if (many_.empty()) {
            if (one_.first == line) return one_.second;
            many_.reserve(2);
            many_.push_back(std::move(one_));
            one_ = value_type{};
        }
        auto it = std::lower_bound(many_.begin(), many_.end(), line,
                                   [](const value_type& e, Line l) { return e.first < l; });
        if (it == many_.end() || !(it->first == line)) it = many_.insert(it, value_type{line, Costs{}});
        return it->second;
    }

private:
    const_iterator lower_bound(Line line) const {
        return std::lower_bound(begin(), end(), line, [](const value_type& e, Line l) { return e.first < l; });
    }

    value_type one_;                // the only line while many_ is empty
    std::vector<value_type> many_;  // every line, in order, once there are two
    uint32_t count_ = 0;            // lines in one_ (0 or 1) while many_ is empty
};

}  // namespace calltree
