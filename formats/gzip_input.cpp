#include "formats/gzip_input.h"

#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace calltree {

namespace {

std::vector<uint8_t> read_all(const std::string& path) {
    FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
    if (f == nullptr) throw std::runtime_error(std::strerror(errno));
    std::vector<uint8_t> data;
    struct stat st {};
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) data.reserve(static_cast<size_t>(st.st_size));
    uint8_t buffer[1 << 16];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) data.insert(data.end(), buffer, buffer + n);
    bool failed = std::ferror(f) != 0;
    int err = errno;
    if (f != stdin) std::fclose(f);
    if (failed) throw std::runtime_error(std::strerror(err));
    return data;
}

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, size_t limit) {
    z_stream z{};
    if (inflateInit2(&z, 15 + 32) != Z_OK) throw std::runtime_error("cannot initialise zlib");
    std::vector<uint8_t> out;
    out.resize(std::min(limit, in.size() * 4 + 4096));
    z.next_in = const_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (z.total_out == out.size()) {
            if (out.size() >= limit) {
                inflateEnd(&z);
                throw std::runtime_error("gzip data expands beyond " + std::to_string(limit >> 20) + " MiB");
            }
            out.resize(std::min(limit, out.size() * 2));
        }
        z.next_out = out.data() + z.total_out;
        z.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - z.total_out, 1u << 30));
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR && z.avail_in == 0) {
            inflateEnd(&z);
            throw std::runtime_error("truncated gzip stream");
        }
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            std::string why = z.msg != nullptr ? z.msg : "corrupt data";
            inflateEnd(&z);
            throw std::runtime_error("bad gzip stream: " + why);
        }
    }
    out.resize(z.total_out);
    inflateEnd(&z);
    return out;
}

}  // namespace

std::vector<uint8_t> read_input(const std::string& path, size_t limit) {
    std::vector<uint8_t> data = read_all(path);
    if (data.size() >= 2 && data[0] == 0x1f && data[1] == 0x8b) return gunzip(data, limit);
    return data;
}

}  // namespace calltree
