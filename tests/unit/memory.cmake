# The memory collector's pure parts: byte-sampling math (unbiased weights, simulated with fixed
# seeds) and the live sampled blocks table.
add_executable(test_memory_parts ${CMAKE_CURRENT_LIST_DIR}/test_byte_sampler.cpp
               ${CMAKE_CURRENT_LIST_DIR}/test_live_table.cpp)
target_link_libraries(test_memory_parts PRIVATE calltree_collect calltree_libpython GTest::gtest_main)
gtest_discover_tests(test_memory_parts PROPERTIES LABELS unit)
