// Functions the code registry saw, named by the tracer's rules (naming.h) and interned into a
// profile, shared by the collectors that read stacks without the GIL (sampler, memory hooks) so
// their functions merge with each other's and the tracer's.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "collect/shared/code_registry.h"
#include "collect/shared/naming.h"
#include "model/profile.h"

namespace calltree {

// A registry entry named as the tracer names the code object it was copied from.
FunctionNaming naming_of(const CodeRegistry::Entry& e, const std::string& cwd);

// Adds every function the registry saw to the run's name table.
void add_registry_namings(const CodeRegistry& registry, const std::string& cwd, NameTable& names);

// The profile's function for every registry id (entries of the same source, e.g. code
// recreated by exec, are one function), named by the run's table; the result has
// registry.capacity() + `extra` entries, the last `extra` left for the caller's pseudo functions.
std::vector<FunctionId> intern_registry_functions(const CodeRegistry& registry, const std::string& cwd,
                                                  Profile& profile, size_t extra, const NameTable& names);

// The pseudo functions both stack collectors use for what has no Python function.
FunctionId no_python_frame_function(Profile& profile);
FunctionId truncated_stack_function(Profile& profile, const std::string& name);

// Stacks are innermost first. The runner's own frames (runpy, for -m) sit below __main__'s:
// the index of the outermost frame that belongs to the program, as the tracer starts there.
size_t program_outermost(const CodeRegistry& registry, std::span<const uint32_t> functions, bool truncated);

}  // namespace calltree
