// Decodes CPython 3.11's location table (co_linetable; format in CPython's
// Objects/locations.md) from a copy of its bytes, so line numbers can be computed off the hot path
// after the code object itself may be gone. Plain C++: no Python needed.
#pragma once
#include <cstdint>
#include <string_view>

namespace calltree {

// The source line of the instruction at byte offset `lasti`, or 0 if it has none (or the table
// is cut short).
uint32_t line_for_offset(std::string_view table, int32_t first_line, int32_t lasti);

// The 0-based column where the code's body starts: that of the first instruction with a
// non-empty source span (the prologue sits at column 0 with an empty span), or -1 without column
// information. The same rule as naming.cpp's body_column, which asks the live code object.
int32_t body_column_of(std::string_view table);

}  // namespace calltree
