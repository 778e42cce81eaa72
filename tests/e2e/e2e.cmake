# End-to-end runs of the calltree binary on real programs, compared with python3 and cProfile.
set(_e2e_suites test_callgrind_parse test_call_counts test_names test_behaviour test_errors test_costs test_convert test_sampling
    test_identity test_output_paths test_threads test_profile_chain test_signals test_subprocesses test_overhead test_memory test_stress test_regrtest test_install
    test_interpreters test_sampling_unnoticed test_docs test_python_api)
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
    ENVIRONMENT "CALLTREE=$<TARGET_FILE:calltree>;CALLTREE_SRC=${PROJECT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1;CALLTREE_SANITIZED=$<BOOL:${CALLTREE_SANITIZE}>"
    LABELS e2e TIMEOUT 300)
endforeach()
# Sampling accuracy is measured against wall time: run it alone, not beside another suite.
set_tests_properties(e2e_test_sampling PROPERTIES RUN_SERIAL TRUE)
# 100 000 thread starts keep the kernel busy: alone, so wall-time assertions elsewhere (the
# heaviest function of a small example) are not disturbed by it.
set_tests_properties(e2e_test_threads PROPERTIES RUN_SERIAL TRUE)
# The memory suite's accuracy programs allocate gigabytes: 160 s alone, 250-270 s beside another
# suite on a loaded machine, where 300 s was too close.
set_tests_properties(e2e_test_memory PROPERTIES TIMEOUT 600)
# The per-call overhead check compares wall-time ratios: alone, like the sampling checks.
set_tests_properties(e2e_test_overhead PROPERTIES RUN_SERIAL TRUE)
# CPython's own suite has timing-sensitive tests (signals, timers): alone, and with time to run.
set_tests_properties(e2e_test_regrtest PROPERTIES RUN_SERIAL TRUE TIMEOUT 1500)
# Suites whose assertions compare timings with ground truth measured by the program itself. On
# this shared virtual machine the program's own speed moves between runs (a function's share by
# a few points), so scripts/test.sh gives these suites one more run when one fails; a second
# failure fails CI. Nothing else is retried.
set_tests_properties(e2e_test_sampling e2e_test_overhead PROPERTIES LABELS "e2e;timing")
