# End-to-end runs of the calltree binary on real programs, compared with python3 and cProfile.
set(_e2e_suites test_callgrind_parse test_call_counts test_names test_behaviour test_errors test_costs test_convert test_sampling
    test_identity test_output_paths test_memory)
# A suite file that is renamed, or added without being listed, must not silently stop running.
file(GLOB _e2e_files RELATIVE ${CMAKE_CURRENT_LIST_DIR} CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/test_*.py)
list(TRANSFORM _e2e_files REPLACE "\\.py$" "")
list(SORT _e2e_files)
set(_e2e_listed ${_e2e_suites})
list(SORT _e2e_listed)
if(NOT _e2e_files STREQUAL _e2e_listed)
  message(FATAL_ERROR "tests/e2e: suites listed (${_e2e_listed}) differ from the test_*.py files (${_e2e_files})")
endif()
foreach(suite ${_e2e_suites})
  add_test(NAME e2e_${suite}
           COMMAND /usr/bin/python3 -m unittest -v ${suite}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(e2e_${suite} PROPERTIES
    ENVIRONMENT "CALLTREE=$<TARGET_FILE:calltree>;CALLTREE_SRC=${PROJECT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1"
    LABELS e2e TIMEOUT 300)
endforeach()
# Sampling accuracy is measured against wall time: run it alone, not beside another suite.
set_tests_properties(e2e_test_sampling PROPERTIES RUN_SERIAL TRUE)
