# Helpers that keep the CMakeLists of each folder short:
#   fs_add_library(name SRCS ... DEPS ...)
#   fs_add_test(name SRCS ... DEPS ... [LABELS unit|integration])
#   fs_add_fuzzer(name SRCS ... DEPS ... CORPUS dir)
# Every target of ours gets the same warnings (-Werror) and, with FS_SANITIZE, ASan+UBSan.

set(FS_WARNINGS -Wall -Wextra -Werror -Wno-missing-field-initializers)
# GCC 12 at -O3 reports false positives from inlined libstdc++ code (GCC bugs 105329, 105651):
# keep them visible as warnings, not errors, so a Release build works.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND FS_WARNINGS -Wno-error=array-bounds -Wno-error=restrict -Wno-error=stringop-overflow
       -Wno-error=stringop-overread)
endif()
set(FS_SANITIZE_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)

function(fs_target_defaults target)
  target_compile_options(${target} PRIVATE ${FS_WARNINGS})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
  if(FS_SANITIZE)
    target_compile_options(${target} PRIVATE ${FS_SANITIZE_FLAGS})
    target_link_options(${target} PUBLIC ${FS_SANITIZE_FLAGS})
  endif()
  if(FS_FUZZ AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # Coverage instrumentation for the libraries too, so the fuzzer sees into the code it tests.
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  endif()
endfunction()

function(fs_add_library name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SRCS})
  fs_target_defaults(${name})
  target_link_libraries(${name} PUBLIC ${A_DEPS})
endfunction()

function(fs_add_executable name)
  cmake_parse_arguments(A "" "OUTPUT_NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${A_SRCS})
  fs_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${A_DEPS})
  if(A_OUTPUT_NAME)
    set_target_properties(${name} PROPERTIES OUTPUT_NAME ${A_OUTPUT_NAME})
  endif()
endfunction()

# A GoogleTest binary; each TEST becomes a CTest test carrying LABELS (default: unit).
# Tests find committed data through FS_SOURCE_DIR.
function(fs_add_test name)
  if(NOT FS_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  add_executable(${name} ${A_SRCS})
  fs_target_defaults(${name})
  target_compile_definitions(${name} PRIVATE FS_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST PROPERTIES LABELS "${A_LABELS}")
endfunction()

# A libFuzzer target when the compiler is clang and FS_FUZZ is on; otherwise a replay binary
# that feeds every file of CORPUS to LLVMFuzzerTestOneInput, registered as a unit test.
function(fs_add_fuzzer name)
  cmake_parse_arguments(A "" "CORPUS" "SRCS;DEPS" ${ARGN})
  if(FS_FUZZ AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    add_executable(${name} ${A_SRCS})
    fs_target_defaults(${name})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${name} PRIVATE ${A_DEPS})
  elseif(FS_BUILD_TESTS)
    add_executable(${name}_replay ${A_SRCS} ${PROJECT_SOURCE_DIR}/common/testing/fuzz_replay_main.cc)
    fs_target_defaults(${name}_replay)
    target_link_libraries(${name}_replay PRIVATE ${A_DEPS})
    add_test(NAME ${name}_corpus_replay COMMAND ${name}_replay ${A_CORPUS})
    set_tests_properties(${name}_corpus_replay PROPERTIES LABELS unit)
  endif()
endfunction()

# One L7 protocol (agent/l7/protocols/<name>/): library fs_l7_<name>, its unit test
# (<name>_test.cc) and its fuzzer (<name>_fuzzer.cc over testdata/corpus/). Tests that need the
# engine (pcap replays) may link fs_l7 through TEST_DEPS.
function(fs_add_protocol name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS;TEST_DEPS" ${ARGN})
  fs_add_library(fs_l7_${name} SRCS ${A_SRCS} DEPS fs_l7_base ${A_DEPS})
  set_property(GLOBAL APPEND PROPERTY FS_L7_PROTOCOL_LIBS fs_l7_${name})
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${name}_test.cc)
    fs_add_test(${name}_test SRCS ${name}_test.cc DEPS fs_l7_${name} ${A_TEST_DEPS})
  endif()
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${name}_fuzzer.cc)
    fs_add_fuzzer(${name}_fuzzer SRCS ${name}_fuzzer.cc DEPS fs_l7_${name}
      CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/testdata/corpus)
  endif()
endfunction()
