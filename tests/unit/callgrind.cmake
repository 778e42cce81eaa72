add_executable(test_callgrind
  ${CMAKE_CURRENT_LIST_DIR}/test_callgrind_writer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_output_file.cpp)
target_link_libraries(test_callgrind PRIVATE calltree_callgrind GTest::gtest_main)
target_compile_definitions(test_callgrind PRIVATE CALLTREE_GOLDEN_DIR="${PROJECT_SOURCE_DIR}/tests/golden/callgrind")
gtest_discover_tests(test_callgrind PROPERTIES LABELS unit)
