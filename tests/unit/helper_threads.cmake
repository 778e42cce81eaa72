# calltree's own threads and their private heap, against glibc itself. Links the allocator
# interposers (absent from sanitizer builds, which interpose malloc themselves).
if(NOT CALLTREE_SANITIZE)
  add_executable(test_helper_threads ${CMAKE_CURRENT_LIST_DIR}/test_helper_thread.cpp $<TARGET_OBJECTS:calltree_interpose>)
  target_link_libraries(test_helper_threads PRIVATE calltree_collect calltree_libpython GTest::gtest_main)
  gtest_discover_tests(test_helper_threads PROPERTIES LABELS unit)
endif()
# Guarded reads and the fault guard: against the kernel, in every build.
add_executable(test_safe_copy ${CMAKE_CURRENT_LIST_DIR}/test_safe_copy.cpp)
target_link_libraries(test_safe_copy PRIVATE calltree_helper_threads GTest::gtest_main)
gtest_discover_tests(test_safe_copy PROPERTIES LABELS unit)
