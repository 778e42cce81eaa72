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
    // Whether commit() forces the data to disk before the rename, so that even a power loss
    // leaves the old file or the complete new one.
    enum class Durability { Synced, Unsynced };

    // Flushes, checks for write errors (ENOSPC...), fsyncs if asked and renames; throws on any
    // failure.
    void commit(Durability durability = Durability::Synced);

private:
    class FileBuffer;
    bool exchange_into_place();
    std::string path_;
    std::string temp_path_;
    std::unique_ptr<FileBuffer> buffer_;
    std::unique_ptr<std::ostream> out_;
    bool committed_ = false;
};

}  // namespace calltree
