# End-to-end runs of the calltree binary on real programs, compared with python3 and cProfile.
foreach(suite test_callgrind_parse test_call_counts test_behaviour test_signals test_errors test_costs test_convert)
  add_test(NAME e2e_${suite}
           COMMAND /usr/bin/python3 -m unittest -v ${suite}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(e2e_${suite} PROPERTIES
    ENVIRONMENT "CALLTREE=$<TARGET_FILE:calltree>;CALLTREE_SRC=${PROJECT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1"
    LABELS e2e TIMEOUT 300)
endforeach()
