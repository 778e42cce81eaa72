// Output files are written to a temporary file in the target directory and renamed into place,
// so a reader never sees a half-written profile and a failed write leaves nothing behind.
#pragma once
#include <memory>
#include <ostream>
#include <string>

namespace calltree {

// Throws std::runtime_error with a one-line message if `path`'s directory does not exist or is
// not writable, or `path` exists and is not a writable regular file. "-" (stdout) always passes.
void check_output_writable(const std::string& path);

class AtomicOutputFile {
public:
    explicit AtomicOutputFile(std::string path);  // creates the temporary file; throws on failure
    ~AtomicOutputFile();                          // removes the temporary file unless committed
    AtomicOutputFile(const AtomicOutputFile&) = delete;
    AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

    std::ostream& stream();
    // Flushes, checks for write errors (ENOSPC...), fsyncs and renames; throws on any failure.
    void commit();

private:
    class FileBuffer;
    std::string path_;
    std::string temp_path_;
    std::unique_ptr<FileBuffer> buffer_;
    std::unique_ptr<std::ostream> out_;
    bool committed_ = false;
};

}  // namespace calltree
