# The sampler's parts: CPython internals (checked against the public API in an embedded
# interpreter), the location-table decoder, the stack tree.
add_executable(test_sampler_parts ${CMAKE_CURRENT_LIST_DIR}/test_cpython_internals.cpp
               ${CMAKE_CURRENT_LIST_DIR}/test_stack_tree.cpp)
target_link_libraries(test_sampler_parts PRIVATE calltree_collect calltree_libpython GTest::gtest_main)
gtest_discover_tests(test_sampler_parts PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)

# The GIL's holder and its pin (src/cpython/gil.c), against CPython itself.
add_executable(test_gil_holder ${CMAKE_CURRENT_LIST_DIR}/test_gil_holder.cpp)
target_link_libraries(test_gil_holder PRIVATE calltree_collect calltree_libpython GTest::gtest_main)
gtest_discover_tests(test_gil_holder PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)
