#include "formats/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace calltree {

namespace {

std::string directory_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

[[noreturn]] void fail(const std::string& path, const std::string& why) {
    throw std::runtime_error("cannot write output file '" + path + "': " + why);
}

// Devices, FIFOs and the like are written in place: renaming over /dev/null would be a disaster.
bool is_special(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode);
}

}  // namespace

void check_output_writable(const std::string& path) {
    if (path == "-") return;
    if (path.empty()) fail(path, "empty file name");
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) fail(path, "it is a directory");
        if (access(path.c_str(), W_OK) != 0) fail(path, std::strerror(errno));
        if (!S_ISREG(st.st_mode)) return;
    }
    std::string dir = directory_of(path);
    if (stat(dir.c_str(), &st) != 0) fail(path, "directory '" + dir + "' does not exist");
    if (!S_ISDIR(st.st_mode)) fail(path, "'" + dir + "' is not a directory");
    if (access(dir.c_str(), W_OK | X_OK) != 0) fail(path, "directory '" + dir + "': " + std::strerror(errno));
}

AtomicOutputFile::AtomicOutputFile(std::string path) : path_(std::move(path)) {
    if (is_special(path_)) {
        out_.open(path_, std::ios::binary | std::ios::out);
        if (!out_) fail(path_, std::strerror(errno));
        return;
    }
    temp_path_ = directory_of(path_) + "/." + base_of(path_) + ".tmp." + std::to_string(getpid());
    int fd = open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {  // a stale temporary of a crashed run with our pid
        unlink(temp_path_.c_str());
        fd = open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
        std::string why = std::strerror(errno);
        temp_path_.clear();
        fail(path_, why);
    }
    close(fd);
    out_.open(temp_path_, std::ios::binary | std::ios::out | std::ios::trunc);
    if (!out_) fail(path_, std::strerror(errno));
}

AtomicOutputFile::~AtomicOutputFile() {
    if (!committed_ && !temp_path_.empty()) {
        out_.close();
        unlink(temp_path_.c_str());
    }
}

std::ostream& AtomicOutputFile::stream() { return out_; }

void AtomicOutputFile::commit() {
    errno = 0;
    out_.flush();
    if (!out_) fail(path_, errno != 0 ? std::strerror(errno) : "write error");
    out_.close();
    if (out_.fail()) fail(path_, errno != 0 ? std::strerror(errno) : "write error");
    if (temp_path_.empty()) {
        committed_ = true;
        return;
    }
    // The data must be on disk before the name points at it, or a crash could leave an empty file.
    int fd = open(temp_path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        int rc = fsync(fd);
        int err = errno;
        close(fd);
        if (rc != 0 && err != EINVAL) fail(path_, std::strerror(err));
    }
    if (rename(temp_path_.c_str(), path_.c_str()) != 0) fail(path_, std::strerror(errno));
    committed_ = true;
}

}  // namespace calltree
