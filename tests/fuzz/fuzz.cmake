# Built only by a Clang configuration (tests/fuzz/run_fuzz.sh makes one): libFuzzer + ASan + UBSan
# over the marshal and pstats readers, compiled from source with the sanitizers.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  add_executable(fuzz_pstats_reader
    ${CMAKE_CURRENT_LIST_DIR}/fuzz_pstats_reader.cpp
    ${PROJECT_SOURCE_DIR}/formats/marshal_reader.cpp
    ${PROJECT_SOURCE_DIR}/formats/pstats_reader.cpp
    ${PROJECT_SOURCE_DIR}/formats/pstats_names.cpp
    ${PROJECT_SOURCE_DIR}/formats/gzip_input.cpp
    ${PROJECT_SOURCE_DIR}/formats/call_sites.cpp
    ${PROJECT_SOURCE_DIR}/src/model/profile.cpp
    ${PROJECT_SOURCE_DIR}/src/model/names.cpp)
  target_include_directories(fuzz_pstats_reader PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(fuzz_pstats_reader PRIVATE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g)
  target_link_options(fuzz_pstats_reader PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_pstats_reader PRIVATE ZLIB::ZLIB)
endif()
