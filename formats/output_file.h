// Output files are written to a temporary file in the target directory and renamed into place,
// so a reader never sees a half-written profile and a failed write leaves nothing behind.
// Symbolic links are written through (the link stays, its final target gets the data), and
// whatever is not a regular file (pipes, ttys, /dev/null, /dev/stdout when it is a pipe) is
// written directly: nothing but a regular file is ever replaced.
#pragma once
#include <memory>
#include <ostream>
#include <string>

namespace calltree {

// Throws std::runtime_error with a one-line message unless `path` can be written: by creating
// (and removing) the temporary file the save will create, or for a device or pipe, by its
// permissions. "-" (stdout) always passes.
void check_output_writable(const std::string& path);

// Throws std::runtime_error with a one-line message if writing `output` would replace the
// regular file `input` (the same file under any name: hard or symbolic links, /dev/stdin...).
// "-" stands for stdout as output and stdin as input.
void check_not_input(const std::string& output, const std::string& input);

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
    std::string path_;         // as the user named it, for messages
    std::string target_path_;  // the file the temporary replaces (symbolic links followed)
    std::string temp_path_;    // empty when writing in place
    std::unique_ptr<FileBuffer> buffer_;
    std::unique_ptr<std::ostream> out_;
    bool committed_ = false;
};

}  // namespace calltree
