# Every Python file of the project through pyflakes: a name used but never defined (a missing
# import) fails only when that line runs, and a bench or script line may run only in CI's last
# stage (a NameError in bench/convert_bench.py once failed a 25-minute CI run at its end).
file(GLOB_RECURSE _python_files CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/bench/*.py ${PROJECT_SOURCE_DIR}/scripts/*.py ${PROJECT_SOURCE_DIR}/tests/*.py
     ${PROJECT_SOURCE_DIR}/python/*.py ${PROJECT_SOURCE_DIR}/examples/*.py)
add_test(NAME lint_python COMMAND /usr/bin/pyflakes3 ${_python_files})
set_tests_properties(lint_python PROPERTIES LABELS lint)
