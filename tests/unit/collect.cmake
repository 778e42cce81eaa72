# The collectors' own tests: the clocks, naming of live objects and the tracer, the last two in
# an embedded interpreter (each test in its own process: the tracer is process state).
add_executable(test_collect
  ${CMAKE_CURRENT_LIST_DIR}/test_clock.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_naming.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_tracer.cpp)
target_link_libraries(test_collect PRIVATE calltree_collect calltree_libpython GTest::gtest_main)
gtest_discover_tests(test_collect PROPERTIES LABELS unit)
