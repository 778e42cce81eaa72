// Whole-file input with transparent gzip decompression (detected by the 1f 8b magic).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace calltree {

// An input's bytes: a regular file mapped (read where the page cache holds it, with no copy and
// no page zeroed for it), anything else (stdin, a pipe, gzip data inflated) in memory.
class InputBytes {
public:
    InputBytes() = default;
    explicit InputBytes(std::vector<uint8_t> bytes) : owned_(std::move(bytes)), data_(owned_.data()), size_(owned_.size()) {}
    InputBytes(InputBytes&& other) noexcept { *this = std::move(other); }
    InputBytes& operator=(InputBytes&& other) noexcept;
    ~InputBytes() { unmap(); }

    // Maps the regular file open at `fd`; empty (data() null) when it cannot be mapped.
    static InputBytes map(int fd, size_t size);

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const uint8_t* begin() const { return data_; }
    const uint8_t* end() const { return data_ + size_; }
    operator std::span<const uint8_t>() const { return {data_, size_}; }

private:
    void unmap();
    std::vector<uint8_t> owned_;
    void* mapped_ = nullptr;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

// Reads `path` ("-" = stdin). Throws std::runtime_error with a one-line message on I/O errors,
// a truncated or corrupt gzip stream, or output beyond `limit` bytes.
InputBytes read_input(const std::string& path, size_t limit = size_t{4} << 30);

// Whether `data` starts with the gzip magic.
bool is_gzip(std::span<const uint8_t> data);

// Inflates gzip data (members that follow one another are one stream, as gzip(1) reads them).
// Throws std::runtime_error: "truncated gzip stream", "bad gzip stream: ...", or
// "gzip data expands beyond N MiB" past `limit` bytes.
std::vector<uint8_t> gunzip(std::span<const uint8_t> data, size_t limit);

}  // namespace calltree
