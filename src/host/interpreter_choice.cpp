// The interpreter is the one `python3 prog.py` typed in the same shell would start, or --python's.
//
// - The file is searched on PATH as execvp does, and exec'd by the path it was found at, never
//   its realpath: a virtualenv's bin/python3 is a symlink to the base interpreter, and CPython
//   finds the virtualenv (pyvenv.cfg) from the path it was started as. With no python3 on PATH
//   at all, the interpreter calltree was built with runs the program.
// - A script there (a pyenv shim: bash that execs the interpreter pyenv selects) cannot be
//   exec'd with calltree's library preloaded (the library needs the Python C API, which bash
//   does not have): it runs once without the library, in the same environment and directory,
//   and says which interpreter it chose and with what environment; that one runs the program
//   in that environment.
// - The version: libcalltree.so is compiled against one CPython minor version. It is read from
//   the file when the file says (a shared build's DT_NEEDED libpythonX.Y.so, an interpreter
//   named pythonX.Y), else the interpreter is asked, again without the library.
#include "host/interpreter_choice.h"

#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace calltree::host {

namespace {

bool read_at(int fd, void* buf, size_t size, off_t offset) {
    return pread(fd, buf, size, offset) == static_cast<ssize_t>(size);
}

enum class Kind { Missing, Elf, Script, Other };

Kind file_kind(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Kind::Missing;
    char head[4] = {};
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    if (n == 4 && std::memcmp(head, ELFMAG, SELFMAG) == 0) return Kind::Elf;
    if (n >= 2 && head[0] == '#' && head[1] == '!') return Kind::Script;
    return Kind::Other;
}

bool is_executable_file(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// execvp's search: PATH (unset: confstr's default, "/bin:/usr/bin"), an empty entry the current
// directory. Returns the path as found, or empty.
std::string search_path(const std::string& name) {
    if (name.find('/') != std::string::npos) return name;
    const char* env = getenv("PATH");
    std::string path = env != nullptr ? env : "/bin:/usr/bin";
    size_t start = 0;
    while (true) {
        size_t end = path.find(':', start);
        std::string dir = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (is_executable_file(candidate)) return candidate;
        if (end == std::string::npos) return {};
        start = end + 1;
    }
}

// Absolute without resolving symlinks (CPython makes the program name absolute the same way).
std::string absolute(const std::string& path) {
    if (!path.empty() && path[0] == '/') return path;
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == nullptr) return path;
    std::string rest = path;
    while (rest.rfind("./", 0) == 0) rest = rest.substr(2);
    return std::string(cwd) + "/" + rest;
}

// `file -c code` without calltree's library (the launcher has not set LD_PRELOAD yet): its
// standard output, or false if it could not run or did not exit with status 0. Its standard
// error is the user's (a shim's own complaints show).
bool ask(const std::string& file, const char* code, std::string& out) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) return false;
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return false;
    }
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, STDIN_FILENO);
        const char* argv[] = {file.c_str(), "-c", code, nullptr};
        execv(file.c_str(), const_cast<char* const*>(argv));
        _exit(127);
    }
    close(pipefd[1]);
    char buf[4096];
    for (ssize_t n; (n = read(pipefd[0], buf, sizeof buf)) != 0;) {
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        out.append(buf, static_cast<size_t>(n));
    }
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// "X.Y" at the start of `text` (digits, a dot, digits, then anything but a digit).
bool parse_version(const char* text, int& major, int& minor) {
    char* end = nullptr;
    if (*text < '0' || *text > '9') return false;
    long a = strtol(text, &end, 10);
    if (*end != '.' || end[1] < '0' || end[1] > '9') return false;
    long b = strtol(end + 1, &end, 10);
    if (*end >= '0' && *end <= '9') return false;
    major = static_cast<int>(a);
    minor = static_cast<int>(b);
    return true;
}

// The DT_NEEDED entries of a 64-bit ELF file.
std::vector<std::string> needed_libraries(const std::string& path) {
    std::vector<std::string> needed;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return needed;
    Elf64_Ehdr eh{};
    if (!read_at(fd, &eh, sizeof eh, 0) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256) {
        close(fd);
        return needed;
    }
    std::vector<Elf64_Phdr> phdrs(eh.e_phnum);
    if (!read_at(fd, phdrs.data(), phdrs.size() * sizeof(Elf64_Phdr), static_cast<off_t>(eh.e_phoff))) {
        close(fd);
        return needed;
    }
    auto file_offset = [&](uint64_t vaddr, uint64_t& offset) {
        for (const Elf64_Phdr& p : phdrs)
            if (p.p_type == PT_LOAD && vaddr >= p.p_vaddr && vaddr < p.p_vaddr + p.p_filesz) {
                offset = vaddr - p.p_vaddr + p.p_offset;
                return true;
            }
        return false;
    };
    for (const Elf64_Phdr& p : phdrs) {
        if (p.p_type != PT_DYNAMIC || p.p_filesz > (1u << 20)) continue;
        std::vector<Elf64_Dyn> dyn(p.p_filesz / sizeof(Elf64_Dyn));
        if (!read_at(fd, dyn.data(), dyn.size() * sizeof(Elf64_Dyn), static_cast<off_t>(p.p_offset))) break;
        uint64_t strtab = 0, strsz = 0;
        std::vector<uint64_t> names;
        for (const Elf64_Dyn& d : dyn) {
            if (d.d_tag == DT_NULL) break;
            if (d.d_tag == DT_STRTAB) strtab = d.d_un.d_ptr;
            if (d.d_tag == DT_STRSZ) strsz = d.d_un.d_val;
            if (d.d_tag == DT_NEEDED) names.push_back(d.d_un.d_val);
        }
        uint64_t offset = 0;
        if (strsz == 0 || strsz > (16u << 20) || !file_offset(strtab, offset)) break;
        std::string table(strsz, '\0');
        if (!read_at(fd, table.data(), strsz, static_cast<off_t>(offset))) break;
        for (uint64_t name : names)
            if (name < strsz) needed.emplace_back(table.c_str() + name);
        break;
    }
    close(fd);
    return needed;
}

bool find_version(const std::string& path, int& major, int& minor, std::string& error) {
    for (const std::string& lib : needed_libraries(path))
        if (lib.rfind("libpython", 0) == 0 && parse_version(lib.c_str() + 9, major, minor)) return true;
    char real[PATH_MAX];
    if (realpath(path.c_str(), real) != nullptr) {
        const char* base = std::strrchr(real, '/');
        base = base != nullptr ? base + 1 : real;
        if (std::strncmp(base, "python", 6) == 0 && parse_version(base + 6, major, minor)) return true;
    }
    std::string out;
    if (ask(path, "import sys; sys.stdout.write('%d.%d' % sys.version_info[:2])", out) &&
        parse_version(out.c_str(), major, minor) && out.find('\n') == std::string::npos)
        return true;
    error = "cannot tell which Python version " + path + " is";
    return false;
}

}  // namespace

bool choose_interpreter(const std::string& requested, const std::string& fallback, Interpreter& chosen,
                        std::string& error) {
    const std::string name = requested.empty() ? "python3" : requested;
    std::string found = search_path(name);
    if (found.empty() && requested.empty()) found = fallback;
    if (found.empty()) {
        error = "--python: no " + name + " on PATH";
        return false;
    }
    switch (file_kind(found)) {
        case Kind::Missing:
            error = std::string(requested.empty() ? "" : "--python: ") + "cannot read " + found + ": " + std::strerror(errno);
            return false;
        case Kind::Elf:
            break;
        case Kind::Script: {
            // sys.executable, then the environment, NUL-separated.
            std::string answer;
            const char* code =
                "import os, sys; sys.stdout.buffer.write(b'\\0'.join([os.fsencode(sys.executable)] + "
                "[k + b'=' + v for k, v in os.environb.items()]))";
            bool ok = ask(found, code, answer);
            std::string out = answer.substr(0, answer.find('\0'));
            if (!ok || out.empty() || out[0] != '/') {
                error = "cannot find the interpreter " + found + " runs (it was asked for sys.executable)";
                return false;
            }
            chosen.has_environment = true;
            for (size_t at = out.size(); at < answer.size();) {
                size_t end = answer.find('\0', at + 1);
                if (end == std::string::npos) end = answer.size();
                if (end > at + 1) chosen.environment.push_back(answer.substr(at + 1, end - at - 1));
                at = end;
            }
            if (file_kind(out) != Kind::Elf) {
                error = found + " runs " + out + ", which is not an executable (ELF) file";
                return false;
            }
            found = out;
            break;
        }
        case Kind::Other:
            error = found + " is not a Python interpreter (an ELF executable or a script that starts one)";
            return false;
    }
    chosen.path = absolute(found);
    return find_version(chosen.path, chosen.major, chosen.minor, error);
}

}  // namespace calltree::host
