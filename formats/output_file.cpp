#include "formats/output_file.h"

#include <fcntl.h>
#include <limits.h>
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

// Where the bytes for `path` go. A symbolic link is written through, never replaced: the
// temporary file goes beside the link's final target and is renamed over that. Anything that
// is not a regular file (a pipe, a tty, /dev/null, /dev/full, /dev/stdout when it is a pipe)
// is written in place: renaming over it would replace the device node or the link for every
// other process.
struct Target {
    std::string path;       // the real file (links followed), or the given path when in place
    bool in_place = false;  // open and write `path` directly, no temporary file, no rename
};

// The final target of a chain of symbolic links, by name; the path itself if it is no link
// (or does not exist yet: a dangling link's target is created, as a shell's `>` would).
std::string follow_links(std::string path) {
    for (int hops = 0; hops < 40; ++hops) {  // the kernel's own limit (ELOOP)
        char buf[PATH_MAX];
        ssize_t n = readlink(path.c_str(), buf, sizeof buf);
        if (n < 0) return path;
        std::string target(buf, static_cast<size_t>(n));
        path = target.front() == '/' ? target : directory_of(path) + "/" + target;
    }
    fail(path, std::strerror(ELOOP));
}

Target resolve(const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return {follow_links(path), false};
    if (S_ISDIR(st.st_mode)) fail(path, "it is a directory");
    if (!S_ISREG(st.st_mode)) return {path, true};
    // A regular file. /proc/self/fd/N ("magic" links, what /dev/stdout points to) name a file
    // that may be deleted or in another mount namespace: unless the name found is that very
    // file, write through the link itself.
    Target target{follow_links(path), false};
    struct stat real {};
    if (stat(target.path.c_str(), &real) != 0 || real.st_dev != st.st_dev || real.st_ino != st.st_ino)
        return {path, true};
    return target;
}

std::string temp_path_for(const std::string& path) {
    return directory_of(path) + "/." + base_of(path) + ".tmp." + std::to_string(getpid());
}

// Creates the temporary file for `path`; returns its descriptor or -1 with errno set.
int create_temp(const std::string& temp_path) {
    int fd = open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {  // a stale temporary of a crashed run with our pid
        unlink(temp_path.c_str());
        fd = open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    return fd;
}

// The reason a temporary file could not be created, in the user's terms.
std::string create_error(const std::string& path, int error) {
    if (error == ENOENT || error == ENOTDIR) {
        std::string dir = directory_of(path);
        struct stat st {};
        if (stat(dir.c_str(), &st) != 0) return "directory '" + dir + "' does not exist";
        if (!S_ISDIR(st.st_mode)) return "'" + dir + "' is not a directory";
    }
    if (error == EACCES || error == EROFS || error == EPERM)
        return "directory '" + directory_of(path) + "' is not writable (" + std::strerror(error) + ")";
    return std::strerror(error);
}

}  // namespace

void check_output_writable(const std::string& path) {
    if (path == "-") return;
    if (path.empty()) fail(path, "empty file name");
    Target target = resolve(path);
    if (target.in_place) {
        // Opening a FIFO would wait for (and then disappoint) its reader: ask, don't try.
        if (access(target.path.c_str(), W_OK) != 0) fail(path, std::strerror(errno));
        return;
    }
    // Permission bits say nothing for root, /proc or a read-only mount: create the very
    // temporary file the save will create, then remove it.
    std::string temp = temp_path_for(target.path);
    int fd = create_temp(temp);
    if (fd < 0) fail(path, create_error(target.path, errno));
    ::close(fd);
    unlink(temp.c_str());
}

void check_not_input(const std::string& output, const std::string& input) {
    auto identify = [](const std::string& path, int std_fd, struct stat& st) {
        return path == "-" ? fstat(std_fd, &st) == 0 : stat(path.c_str(), &st) == 0;
    };
    struct stat out {}, in {};
    if (!identify(output, STDOUT_FILENO, out) || !identify(input, STDIN_FILENO, in)) return;
    // Only a regular file can be destroyed this way; a terminal may well be both stdin and stdout.
    if (S_ISREG(out.st_mode) && out.st_dev == in.st_dev && out.st_ino == in.st_ino)
        throw std::runtime_error("output file '" + output + "' is the input file '" + input +
                                 "': writing it would destroy the input (choose another -o)");
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
    Target target = resolve(path_);
    int fd;
    if (target.in_place) {
        fd = open(target.path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0) fail(path_, std::strerror(errno));
    } else {
        target_path_ = target.path;
        temp_path_ = temp_path_for(target_path_);
        fd = create_temp(temp_path_);
        if (fd < 0) {
            int error = errno;
            temp_path_.clear();
            fail(path_, create_error(target_path_, error));
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
    if (renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, target_path_.c_str(), RENAME_EXCHANGE) != 0) return false;
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
        if (rename(temp_path_.c_str(), target_path_.c_str()) != 0) fail(path_, std::strerror(errno));
    }
    committed_ = true;
}

}  // namespace calltree
