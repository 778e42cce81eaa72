# End-to-end runs of the calltree binary on real programs, compared with python3 and cProfile.
foreach(suite test_callgrind_parse test_call_counts test_behaviour test_errors test_costs test_convert
              test_threads test_profile_chain)
  add_test(NAME e2e_${suite}
           COMMAND /usr/bin/python3 -m unittest -v ${suite}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(e2e_${suite} PROPERTIES
    ENVIRONMENT "CALLTREE=$<TARGET_FILE:calltree>;CALLTREE_SRC=${PROJECT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1;CALLTREE_SANITIZED=$<BOOL:${CALLTREE_SANITIZE}>"
    LABELS e2e TIMEOUT 300)
endforeach()
# 100 000 thread starts keep the kernel busy: alone, so wall-time assertions elsewhere (the
# heaviest function of a small example) are not disturbed by it.
set_tests_properties(e2e_test_threads PROPERTIES RUN_SERIAL TRUE)
