add_executable(test_model ${CMAKE_CURRENT_LIST_DIR}/test_model.cpp)
target_link_libraries(test_model PRIVATE calltree_model GTest::gtest_main)
gtest_discover_tests(test_model PROPERTIES LABELS unit)
