#include "formats/callgrind_reader.h"

#include <charconv>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace calltree {

namespace {

class Reader {
public:
    explicit Reader(std::istream& in) : in_(in) {}

    Profile read() {
        std::string line;
        while (std::getline(in_, line)) {
            ++line_no_;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            handle(line);
        }
        return std::move(profile_);
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("line " + std::to_string(line_no_) + ": " + what);
    }

    // "(id) name", "(id)" or "name", per the format's name compression.
    std::string resolve(std::unordered_map<std::string, std::string>& table, std::string_view text) {
        if (text.empty() || text.front() != '(') return std::string(text);
        auto close = text.find(')');
        if (close == std::string_view::npos) fail("unclosed '(' in compressed name");
        std::string id(text.substr(1, close - 1));
        std::string_view rest = text.substr(close + 1);
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        if (rest.empty()) {
            auto it = table.find(id);
            if (it == table.end()) fail("name id (" + id + ") used before it was defined");
            return it->second;
        }
        table[id] = std::string(rest);
        return std::string(rest);
    }

    uint64_t number(std::string_view text) {
        uint64_t value = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc() || end != text.data() + text.size()) fail("bad number '" + std::string(text) + "'");
        return value;
    }

    // Absolute, "+N", "-N" or "*" relative to the previous position.
    uint32_t position(std::string_view text) {
        if (text == "*") return last_position_;
        uint64_t v;
        if (text.front() == '+') v = last_position_ + number(text.substr(1));
        else if (text.front() == '-') v = last_position_ - number(text.substr(1));
        else v = number(text);
        last_position_ = static_cast<uint32_t>(v);
        return last_position_;
    }

    Costs costs(std::istringstream& fields) {
        Costs c(profile_.event_count(), 0);
        std::string field;
        for (size_t i = 0; fields >> field; ++i) {
            if (i >= c.size()) fail("more costs than events");
            c[i] = number(field);
        }
        return c;
    }

    FunctionId function(const std::string& name, const std::string& file, const std::string& object) {
        return profile_.intern_function(name, profile_.intern_file(file), profile_.intern_object(object), Line(0));
    }

    void handle(const std::string& line) {
        if (line.empty() || line[0] == '#') return;
        auto eq = line.find('=');
        auto colon = line.find(':');
        if (std::isdigit(static_cast<unsigned char>(line[0])) || line[0] == '+' || line[0] == '-' || line[0] == '*') {
            cost_line(line);
            return;
        }
        if (eq != std::string::npos && (colon == std::string::npos || eq < colon)) {
            std::string key = line.substr(0, eq);
            std::string_view value = std::string_view(line).substr(eq + 1);
            if (key == "ob") object_ = resolve(objects_, value);
            else if (key == "fl") file_ = fn_file_ = resolve(files_, value);
            else if (key == "fi" || key == "fe") file_ = resolve(files_, value);
            else if (key == "fn") {
                fn_ = function(resolve(functions_, value), fn_file_, object_);
                have_fn_ = true;
                file_ = fn_file_;
            } else if (key == "cob") call_object_ = resolve(objects_, value);
            else if (key == "cfl" || key == "cfi") call_file_ = resolve(files_, value);
            else if (key == "cfn") call_name_ = resolve(functions_, value);
            else if (key == "calls") {
                std::istringstream fields{std::string(value)};
                std::string count, target;
                fields >> count >> target;
                pending_calls_ = number(count);
                pending_target_ = target.empty() ? 0 : static_cast<uint32_t>(number(target));
                in_call_ = true;
            }
            // jump=, jcnd= and unknown keys carry nothing we model.
            return;
        }
        if (colon != std::string::npos) header(line.substr(0, colon), line.substr(colon + 1));
    }

    void header(const std::string& key, std::string value) {
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        if (key == "events") {
            if (events_seen_) return;
            events_seen_ = true;
            std::istringstream names(value);
            std::vector<EventType> events;
            std::string name;
            while (names >> name) {
                auto it = long_names_.find(name);
                events.push_back(EventType{name, it == long_names_.end() ? name : it->second});
            }
            Profile fresh(std::move(events));  // header lines before events: keep their values
            fresh.command = std::move(profile_.command);
            fresh.pid = profile_.pid;
            fresh.descriptions = std::move(profile_.descriptions);
            profile_ = std::move(fresh);
        } else if (key == "event") {
            auto sep = value.find(':');
            std::string name = value.substr(0, sep);
            while (!name.empty() && name.back() == ' ') name.pop_back();
            std::string long_name = sep == std::string::npos ? name : value.substr(sep + 1);
            while (!long_name.empty() && long_name.front() == ' ') long_name.erase(0, 1);
            long_names_[name] = long_name;
        } else if (key == "cmd") {
            profile_.command = value;
        } else if (key == "pid") {
            profile_.pid = number(value);
        } else if (key == "desc") {
            auto sep = value.find(':');
            std::string rest = sep == std::string::npos ? "" : value.substr(sep + 1);
            while (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
            profile_.descriptions.emplace_back(value.substr(0, sep), rest);
        }
        // version, creator, positions, summary, totals, part, thread: nothing to keep.
    }

    void cost_line(const std::string& line) {
        if (!have_fn_) fail("cost line before any fn=");
        std::istringstream fields(line);
        std::string pos;
        fields >> pos;
        uint32_t where = position(pos);
        Costs c = costs(fields);
        if (!in_call_) {
            profile_.add_self_cost(fn_, Line(where), c);
            Function& f = profile_.function(fn_);
            if (f.line.value == 0 || where < f.line.value) f.line = Line(where);
            return;
        }
        // A call's cost line: position is the call site, costs are inclusive.
        std::string callee_file = call_file_.empty() ? fn_file_ : call_file_;
        std::string callee_object = call_object_.empty() ? object_ : call_object_;
        FunctionId callee = function(call_name_, callee_file, callee_object);
        if (profile_.function(callee).line.value == 0) profile_.function(callee).line = Line(pending_target_);
        Arc& arc = profile_.arc(fn_, Line(where), callee);
        arc.calls += pending_calls_;
        add_costs(arc.inclusive, c);
        profile_.add_calls(callee, pending_calls_, 0);
        in_call_ = false;
        call_file_.clear();  // KCachegrind: cfl/cob apply to one call only
        call_object_.clear();
    }

    std::istream& in_;
    Profile profile_;
    size_t line_no_ = 0;
    bool events_seen_ = false;
    std::unordered_map<std::string, std::string> long_names_;
    std::unordered_map<std::string, std::string> objects_, files_, functions_;
    std::string object_, file_, fn_file_;
    FunctionId fn_;
    bool have_fn_ = false;
    std::string call_object_, call_file_, call_name_;
    uint64_t pending_calls_ = 0;
    uint32_t pending_target_ = 0;
    bool in_call_ = false;
    uint32_t last_position_ = 0;
};

}  // namespace

Profile read_callgrind(std::istream& in) { return Reader(in).read(); }

}  // namespace calltree
