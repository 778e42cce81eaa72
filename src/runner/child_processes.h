// --subprocesses: the profiled program's Python children are profiled too, each into its own file.
//
// - Spawned children: an exec of the interpreter the program runs in (any name for the same
//   file: a virtualenv's bin/python3, /usr/bin/python3, python3 found on PATH, python3.11)
//   becomes an exec of calltree in child mode with the same options, `--python` naming the
//   file exec'd, and the same python3 command line. The program
//   keeps seeing sys.executable as the real python3, and subprocess, multiprocessing's spawn and
//   forkserver, and os.exec* are all caught at the one place they meet: execve, called from
//   _posixsubprocess's (v)fork child, where only async-signal-safe code may run. So everything
//   the rewrite needs is prepared beforehand and the new argv is built on the stack.
// - Forked children (os.fork, multiprocessing's fork start method): the runner restarts the
//   collectors in the child (see RunHooks::fork_child), and `_exit` is interposed so that
//   os._exit, which multiprocessing's fork workers end with, writes the profile first.
// - multiprocessing's own helper processes, the forkserver (3.14's default start method) and the
//   resource tracker, are followed but write no profile: they run only the standard library's
//   machinery, outlive the program (their files would appear after calltree's last line, named
//   nowhere) and are not what the user started. The workers the forkserver forks run the user's
//   code and write theirs, as fork workers do (is_multiprocessing_helper).
// - Every child names its file from the child template (the parent's -o with %p, or the parent's
//   file with `.%p` appended) and appends the name to a list file the top-level calltree reads
//   when it writes its own profile, to say how many child profiles there are and where.
// - Profiling never stops or changes a child: one whose profile cannot be written (it runs as
//   another user, subprocess's user=, or its directory is not writable or gone) runs as python3
//   alone would, says why in one line on stderr and adds its pid to the list, so the top-level
//   calltree's last line names the children that have no profile. So does a child calltree
//   cannot be run for (not executable for the child's user): python3 is exec'd as asked.
//   A child that cannot reach the list either (a TMPDIR it cannot enter) is not named there.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "runner/program.h"

namespace calltree::child_processes {

// True for a child that is multiprocessing's forkserver or resource tracker: python3 -c with the
// code multiprocessing starts them with (3.11 to 3.14).
bool is_multiprocessing_helper(const Program& program);

// The first argument of calltree in child mode: `calltree --as-child LIST [options] -- ARGV`,
// where ARGV is the python3 command line the program asked for (argv[0] included).
inline constexpr const char* kChildMarker = "--as-child";

struct Settings {
    std::vector<std::string> options;  // calltree's options for every child (-o TEMPLATE ...)
    std::string list_path;             // the file children append their profile's name to
};

// Before the program runs, in the top-level calltree and in every child calltree. Prepares the
// exec rewrite and turns on the `_exit` hook.
void enable(Settings settings);
bool enabled();

// The functions from here to child_output have no Python in them (child_list.cpp), for the
// launcher too.

// The top-level calltree: a new list file in $TMPDIR (or /tmp), that every user can append to.
// Throws std::runtime_error.
std::string create_list();
// A child, after saving its profile: adds `path` to the list (silently nothing if the top-level
// calltree is gone and removed the list, or the child cannot open it).
void add_to_list(const std::string& list_path, const std::string& path);
// A child that has no profile: adds its pid to the list, on a line of its own after this
// prefix (profiles are absolute paths: no line starts with both).
inline constexpr const char* kUnprofiled = "unprofiled ";
void add_unprofiled(const std::string& list_path, pid_t pid);
struct Reports {
    std::vector<std::string> profiles;    // the children's files
    std::vector<std::string> unprofiled;  // the pids of children without a profile
};
// The top-level calltree, when it writes its own profile: what the children reported so far, and
// the list removed (children that end later, such as multiprocessing's resource tracker, still
// write their profile but are not listed).
Reports take_list(const std::string& list_path);

// The file a child writes: `child_template` with %p expanded to this process's id; a name that
// exists already (a profiled process that replaced itself with exec keeps its pid) gets `.1`,
// `.2`... appended.
std::string child_output(const std::string& child_template);

// A child without a profile: the one line on stderr that says why (`ran`: the program ran, its
// profile could not be saved; else it is about to run unprofiled), and its pid in the list.
void say_unprofiled(const std::string& list_path, const std::string& reason, bool ran);
// A child calltree whose profile cannot be written: says so, then execs python3 with the
// command line the program gave it (`program`, a Program::Kind::PythonArgv), in this process.
// Returns (127) only if that exec failed.
int run_unprofiled(const std::string& list_path, const Program& program, const std::string& reason,
                   const std::string& python);

// For the execve interposer. Async-signal-safe. The number of argv entries (the final null
// included) the exec of `path` needs when it is rewritten into calltree, or 0 when it is not.
size_t rewritten_argv_size(const char* path, char* const argv[]);
// Fills `out` with rewritten_argv_size() entries for the exec of `path`; returns the path to
// exec instead.
const char* rewrite_argv(const char* path, char* const argv[], const char** out);

}  // namespace calltree::child_processes
