#include "cli/profile_output.h"

#include <iostream>
#include <stdexcept>

#include "formats/callgrind_writer.h"
#include "formats/output_file.h"
#include "formats/pstats_writer.h"

namespace calltree {

OutputFormat parse_output_format(const std::string& name) {
    if (name == "callgrind") return OutputFormat::Callgrind;
    if (name == "pstats") return OutputFormat::Pstats;
    throw std::invalid_argument("unknown output format '" + name + "' (use callgrind or pstats)");
}

namespace {
void write(const Profile& profile, std::ostream& out, OutputFormat format) {
    if (format == OutputFormat::Pstats)
        write_pstats(profile, out);
    else
        write_callgrind(profile, out);
}
}  // namespace

void save_profile(const Profile& profile, const std::string& path, OutputFormat format, bool durable) {
    if (path == "-") {
        write(profile, std::cout, format);
        std::cout.flush();
        if (!std::cout) throw std::runtime_error("cannot write profile to stdout");
        return;
    }
    AtomicOutputFile file(path);
    try {
        write(profile, file.stream(), format);
    } catch (const std::runtime_error& e) {
        throw std::runtime_error("cannot write output file '" + path + "': " + e.what());
    }
    file.commit(durable ? AtomicOutputFile::Durability::Synced : AtomicOutputFile::Durability::Unsynced);
}

namespace {
// `path` as one shell word, so the suggested command can be pasted as it is.
std::string shell_quoted(const std::string& path) {
    bool plain = !path.empty() && path.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789_@%+=:,./-") == std::string::npos;
    if (plain) return path;
    std::string quoted = "'";
    for (char c : path) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}
}  // namespace

std::string saved_message(const std::string& path, OutputFormat format) {
    if (path == "-") return {};
    std::string viewer = format == OutputFormat::Pstats ? "python3 -m pstats " : "kcachegrind ";
    return "calltree: wrote " + path + " (view it with: " + viewer + shell_quoted(path) + ")";
}

}  // namespace calltree
