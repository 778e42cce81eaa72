add_library(calltree_pstats_read STATIC
  ${CMAKE_CURRENT_LIST_DIR}/marshal_reader.cpp
  ${CMAKE_CURRENT_LIST_DIR}/pstats_reader.cpp
  ${CMAKE_CURRENT_LIST_DIR}/pstats_names.cpp
  ${CMAKE_CURRENT_LIST_DIR}/gzip_input.cpp
  ${CMAKE_CURRENT_LIST_DIR}/call_sites.cpp)
target_include_directories(calltree_pstats_read PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(calltree_pstats_read PUBLIC calltree_model ZLIB::ZLIB)
target_link_libraries(calltree_formats INTERFACE calltree_pstats_read)
