#include "formats/gzip_input.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace calltree {

namespace {

// A regular file is mapped; anything else is read(2) into memory, its size unknown.
InputBytes read_all(const std::string& path) {
    int fd = path == "-" ? STDIN_FILENO : open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        InputBytes mapped = InputBytes::map(fd, static_cast<size_t>(st.st_size));
        if (mapped.data() != nullptr) {
            if (fd != STDIN_FILENO) close(fd);
            return mapped;
        }
    }
    std::vector<uint8_t> data;
    size_t used = 0;
    int err = 0;
    while (true) {
        if (used == data.size()) data.resize(std::max(data.capacity(), used + (size_t{1} << 16)));
        ssize_t n = read(fd, data.data() + used, data.size() - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) err = errno;
        if (n <= 0) break;
        used += static_cast<size_t>(n);
    }
    if (fd != STDIN_FILENO) close(fd);
    if (err != 0) throw std::runtime_error(std::strerror(err));
    data.resize(used);
    return InputBytes(std::move(data));
}

}  // namespace

bool is_gzip(std::span<const uint8_t> data) { return data.size() >= 2 && data[0] == 0x1f && data[1] == 0x8b; }

std::vector<uint8_t> gunzip(std::span<const uint8_t> in, size_t limit) {
    z_stream z{};
    // 15 + 32: the largest window, with the gzip or zlib header detected automatically.
    if (inflateInit2(&z, 15 + 32) != Z_OK) throw std::runtime_error("cannot initialise zlib");
    auto fail = [&z](const std::string& what) {
        inflateEnd(&z);
        throw std::runtime_error(what);
    };
    constexpr size_t kChunk = size_t{1} << 30;  // zlib counts in 32 bits
    std::vector<uint8_t> out(std::min(limit, in.size() * 4 + 4096));
    size_t in_pos = 0, out_pos = 0;
    while (true) {
        if (out_pos == out.size()) {
            if (out.size() >= limit) fail("gzip data expands beyond " + std::to_string(limit >> 20) + " MiB");
            out.resize(std::min(limit, out.size() * 2));
        }
        size_t in_chunk = std::min(in.size() - in_pos, kChunk), out_chunk = std::min(out.size() - out_pos, kChunk);
        z.next_in = const_cast<Bytef*>(in.data() + in_pos);
        z.avail_in = static_cast<uInt>(in_chunk);
        z.next_out = out.data() + out_pos;
        z.avail_out = static_cast<uInt>(out_chunk);
        int rc = inflate(&z, Z_NO_FLUSH);
        in_pos += in_chunk - z.avail_in;
        out_pos += out_chunk - z.avail_out;
        if (rc == Z_STREAM_END) {
            // `cat a.gz b.gz` is a valid gzip file: members follow one another. Anything else
            // after the end is ignored, as gzip(1) does.
            if (!is_gzip(in.subspan(in_pos))) break;
            inflateReset(&z);
        } else if (rc == Z_BUF_ERROR && in_pos == in.size()) {
            fail("truncated gzip stream");
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            fail(std::string("bad gzip stream: ") + (z.msg != nullptr ? z.msg : "corrupt data"));
        }
    }
    inflateEnd(&z);
    out.resize(out_pos);
    return out;
}

InputBytes InputBytes::map(int fd, size_t size) {
    // Populated at once: the whole file is read, and faulting it in page by page costs more.
    // (A file truncated by another process while mapped would end this one with SIGBUS; the
    // input of a conversion is not expected to change under it.)
    void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    InputBytes bytes;
    if (p == MAP_FAILED) return bytes;
    bytes.mapped_ = p;
    bytes.data_ = static_cast<const uint8_t*>(p);
    bytes.size_ = size;
    return bytes;
}

InputBytes& InputBytes::operator=(InputBytes&& other) noexcept {
    if (this == &other) return *this;
    unmap();
    owned_ = std::move(other.owned_);
    mapped_ = std::exchange(other.mapped_, nullptr);
    data_ = mapped_ != nullptr ? std::exchange(other.data_, nullptr) : owned_.data();
    size_ = std::exchange(other.size_, 0);
    other.data_ = nullptr;
    return *this;
}

void InputBytes::unmap() {
    if (mapped_ != nullptr) munmap(mapped_, size_);
    mapped_ = nullptr;
}

InputBytes read_input(const std::string& path, size_t limit) {
    InputBytes data = read_all(path);
    if (is_gzip(data)) return InputBytes(gunzip(data, limit));
    return data;
}

}  // namespace calltree
