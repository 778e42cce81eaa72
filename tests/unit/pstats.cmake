# Reader tests (marshal, pstats, gzip) and the model -> .prof -> model round trip.
add_executable(test_pstats
  ${CMAKE_CURRENT_LIST_DIR}/test_marshal_reader.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_pstats_reader.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_pstats.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_call_sites.cpp)
target_link_libraries(test_pstats PRIVATE calltree_pstats_read calltree_pstats_write GTest::gtest_main)
target_compile_definitions(test_pstats PRIVATE CALLTREE_FIXTURES="${PROJECT_SOURCE_DIR}/tests/fixtures/pstats")
gtest_discover_tests(test_pstats PROPERTIES LABELS unit)

# pstats writer tests.
add_executable(test_pstats_writer ${CMAKE_CURRENT_LIST_DIR}/test_pstats_writer.cpp)
target_link_libraries(test_pstats_writer PRIVATE calltree_pstats_read calltree_pstats_write GTest::gtest_main)
gtest_discover_tests(test_pstats_writer PROPERTIES LABELS unit)
