# The empty-callback anchor, loaded by bench/floor_run.py into the python3 it is built for.
add_library(calltree_floor_hook MODULE ${CMAKE_CURRENT_LIST_DIR}/floor_hook.c)
target_include_directories(calltree_floor_hook PRIVATE ${Python3_INCLUDE_DIRS})
set_target_properties(calltree_floor_hook PROPERTIES PREFIX "" SUFFIX ".so")

# Spawns each benchmarked command from a small process so its peak RSS is its own (see the file).
add_executable(calltree_measure_run ${CMAKE_CURRENT_LIST_DIR}/measure_run.c)
