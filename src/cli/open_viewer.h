// `--open`: show a callgrind file in KCachegrind or QCachegrind without waiting for it.
#pragma once
#include <string>

namespace calltree {

// Starts the viewer detached from calltree; prints one line if none is installed.
void open_viewer(const std::string& path);

}  // namespace calltree
