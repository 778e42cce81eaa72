add_library(calltree_callgrind STATIC
  ${CMAKE_CURRENT_LIST_DIR}/callgrind_writer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/output_file.cpp
  ${CMAKE_CURRENT_LIST_DIR}/callgrind_reader.cpp)
target_include_directories(calltree_callgrind PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/src)
find_package(Threads REQUIRED)  # large profiles are formatted by two threads
target_link_libraries(calltree_callgrind PUBLIC calltree_model Threads::Threads)
target_link_libraries(calltree_formats INTERFACE calltree_callgrind)
