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

std::string saved_message(const std::string& path, OutputFormat format) {
    if (path == "-") return {};
    if (format == OutputFormat::Pstats)
        return "calltree: wrote " + path + " (view it with: python3 -m pstats " + path + ")";
    return "calltree: wrote " + path + " (view it with: kcachegrind " + path + ")";
}

}  // namespace calltree
