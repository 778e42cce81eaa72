#include "formats/callgrind_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace calltree {

namespace {

// Names end at the line's end: a newline inside one would corrupt the file.
void put_name(std::ostream& out, std::string_view name) {
    for (char c : name) out.put(c == '\n' || c == '\r' ? ' ' : c);
}

// One id table per kind (objects, files, functions), as the format's name compression defines.
class NameTable {
public:
    NameTable(size_t size, bool compress) : written_(size, false), compress_(compress) {}

    void write(std::ostream& out, uint32_t id, std::string_view name) {
        if (!compress_) {
            put_name(out, name);
        } else if (written_[id]) {
            out << '(' << id + 1 << ')';
        } else {
            written_[id] = true;
            out << '(' << id + 1 << ") ";
            put_name(out, name);
        }
        out << '\n';
    }

private:
    std::vector<bool> written_;
    bool compress_;
};

void write_costs(std::ostream& out, uint32_t line, const Costs& costs) {
    out << line;
    size_t used = costs.size();
    while (used > 1 && costs[used - 1] == 0) --used;  // trailing zero costs may be omitted
    for (size_t i = 0; i < used; ++i) out << ' ' << costs[i];
    if (used == 0) out << " 0";
    out << '\n';
}

}  // namespace

void write_callgrind(const Profile& profile, std::ostream& out, const CallgrindOptions& options) {
    errno = 0;
    out << "# callgrind format\n";
    out << "version: 1\n";
    out << "creator: " << options.creator << '\n';
    if (profile.pid != 0) out << "pid: " << profile.pid << '\n';
    if (!profile.command.empty()) {
        out << "cmd: ";
        put_name(out, profile.command);
        out << '\n';
    }
    for (const auto& [key, value] : profile.descriptions) {
        out << "desc: ";
        put_name(out, key);
        out << ": ";
        put_name(out, value);
        out << '\n';
    }
    out << "positions: line\n";
    for (const EventType& e : profile.events()) out << "event: " << e.name << " : " << e.long_name << '\n';
    out << "events:";
    for (const EventType& e : profile.events()) out << ' ' << e.name;
    out << "\n\n";

    const auto& functions = profile.functions();
    // Bucket arcs by caller in O(arcs), keeping their insertion order inside each bucket.
    std::vector<uint32_t> first(functions.size() + 1, 0);
    for (const Arc& a : profile.arcs()) ++first[a.caller.value + 1];
    std::partial_sum(first.begin(), first.end(), first.begin());
    std::vector<uint32_t> by_caller(profile.arcs().size());
    {
        std::vector<uint32_t> next(first.begin(), first.end() - 1);
        for (uint32_t i = 0; i < profile.arcs().size(); ++i) by_caller[next[profile.arcs()[i].caller.value]++] = i;
    }
    // Functions grouped by object, then file, so ob=/fl= lines change rarely.
    std::vector<uint32_t> order(functions.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        const Function& fa = functions[a];
        const Function& fb = functions[b];
        if (fa.object != fb.object) return fa.object < fb.object;
        return fa.file < fb.file;
    });

    NameTable objects(profile.object_count(), options.compress_names);
    NameTable files(profile.file_count(), options.compress_names);
    NameTable names(functions.size(), options.compress_names);
    const size_t events = profile.event_count();
    Costs zero(events, 0);
    bool have_object = false, have_file = false;
    ObjectId current_object;
    FileId current_file;
    for (uint32_t fid : order) {
        const Function& fn = functions[fid];
        if (!have_object || fn.object != current_object) {
            out << "ob=";
            objects.write(out, fn.object.value, profile.object(fn.object));
            current_object = fn.object;
            have_object = true;
        }
        if (!have_file || fn.file != current_file) {
            out << "fl=";
            files.write(out, fn.file.value, profile.file(fn.file));
            current_file = fn.file;
            have_file = true;
        }
        out << "fn=";
        names.write(out, fid, fn.name);
        if (fn.self_by_line.empty()) write_costs(out, fn.line.value, zero);
        for (const auto& [line, costs] : fn.self_by_line) write_costs(out, line.value, costs);
        for (uint32_t k = first[fid]; k < first[fid + 1]; ++k) {
            const Arc& arc = profile.arcs()[by_caller[k]];
            const Function& callee = functions[arc.callee.value];
            if (callee.object != current_object) {
                out << "cob=";
                objects.write(out, callee.object.value, profile.object(callee.object));
            }
            if (callee.file != current_file) {
                out << "cfi=";
                files.write(out, callee.file.value, profile.file(callee.file));
            }
            out << "cfn=";
            names.write(out, arc.callee.value, callee.name);
            out << "calls=" << arc.calls << ' ' << callee.line.value << '\n';
            write_costs(out, arc.call_line.value, arc.inclusive.empty() ? zero : arc.inclusive);
        }
        out << '\n';
    }
    Costs totals = profile.totals();
    out << "totals:";
    for (uint64_t t : totals) out << ' ' << t;
    if (totals.empty()) out << " 0";
    out << '\n';
    out.flush();
    if (!out) throw std::runtime_error(errno != 0 ? std::strerror(errno) : "write error");
}

}  // namespace calltree
