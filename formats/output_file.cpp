#include "formats/output_file.h"

#include <fcntl.h>
#include <stdio.h>
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

// A plain fd-backed buffer: unlike std::ofstream it remembers *why* a write failed, so a full
// disk is reported as "No space left on device", not "write error".
class AtomicOutputFile::FileBuffer : public std::streambuf {
public:
    explicit FileBuffer(int fd) : fd_(fd) { setp(buffer_, buffer_ + sizeof buffer_); }
    ~FileBuffer() override {
        if (fd_ >= 0) ::close(fd_);
    }
    int error() const { return error_; }

    // Flushes and closes; returns 0 or the first errno seen.
    int close() {
        sync();
        if (fd_ >= 0 && ::close(fd_) != 0 && error_ == 0) error_ = errno;
        fd_ = -1;
        return error_;
    }
    int fd() const { return fd_; }

protected:
    int overflow(int c) override {
        if (sync() != 0) return traits_type::eof();
        if (c != traits_type::eof()) {
            *pptr() = static_cast<char>(c);
            pbump(1);
        }
        return traits_type::not_eof(c);
    }

    int sync() override {
        write_all(pbase(), static_cast<size_t>(pptr() - pbase()));
        setp(buffer_, buffer_ + sizeof buffer_);
        return error_ == 0 ? 0 : -1;
    }

    // Writers that buffer themselves hand over large blocks: those skip our buffer (one copy less).
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        if (n < epptr() - pptr()) return std::streambuf::xsputn(s, n);
        if (sync() != 0) return 0;
        write_all(s, static_cast<size_t>(n));
        return error_ == 0 ? n : 0;
    }

private:
    void write_all(const char* p, size_t size) {
        while (size > 0 && error_ == 0) {
            ssize_t n = ::write(fd_, p, size);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                error_ = n < 0 ? errno : EIO;
                break;
            }
            p += n;
            size -= static_cast<size_t>(n);
        }
    }

    int fd_;
    int error_ = 0;
    char buffer_[1 << 16];
};

AtomicOutputFile::AtomicOutputFile(std::string path) : path_(std::move(path)) {
    int fd;
    if (is_special(path_)) {
        fd = open(path_.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) fail(path_, std::strerror(errno));
    } else {
        temp_path_ = directory_of(path_) + "/." + base_of(path_) + ".tmp." + std::to_string(getpid());
        fd = open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EEXIST) {  // a stale temporary of a crashed run with our pid
            unlink(temp_path_.c_str());
            fd = open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        }
        if (fd < 0) {
            std::string why = std::strerror(errno);
            temp_path_.clear();
            fail(path_, why);
        }
    }
    buffer_ = std::make_unique<FileBuffer>(fd);
    out_ = std::make_unique<std::ostream>(buffer_.get());
}

// ext4 (auto_da_alloc) treats a rename over an existing file as a request to write the new
// data out now: for a large output that costs as much as a tenth of a conversion. Exchanging
// the two names and then removing the old file is just as atomic for readers, without it.
// False when there is nothing to replace or the filesystem cannot exchange (then rename).
bool AtomicOutputFile::exchange_into_place() {
#ifdef RENAME_EXCHANGE
    if (renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, path_.c_str(), RENAME_EXCHANGE) != 0) return false;
    unlink(temp_path_.c_str());  // now the previous file
    return true;
#else
    return false;
#endif
}

AtomicOutputFile::~AtomicOutputFile() {
    if (!committed_ && !temp_path_.empty()) unlink(temp_path_.c_str());
}

std::ostream& AtomicOutputFile::stream() { return *out_; }

void AtomicOutputFile::commit(Durability durability) {
    out_->flush();
    // The data must be on disk before the name points at it, or a crash could leave an empty file.
    if (durability == Durability::Synced && buffer_->error() == 0 && !temp_path_.empty() &&
        fsync(buffer_->fd()) != 0 && errno != EINVAL)
        fail(path_, std::strerror(errno));
    if (int error = buffer_->close(); error != 0) fail(path_, std::strerror(error));
    if (!temp_path_.empty()) {
        if (durability == Durability::Unsynced && exchange_into_place()) {
            committed_ = true;
            return;
        }
        if (rename(temp_path_.c_str(), path_.c_str()) != 0) fail(path_, std::strerror(errno));
    }
    committed_ = true;
}

}  // namespace calltree
