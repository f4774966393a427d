# The libFuzzer targets in their own configuration (clang-14, coverage + ASan/UBSan over the whole
# tree) under <build>/fuzz, built with the default build, and a bounded run of each in ctest
# (fuzz.<target>, EF21_FUZZ_SECONDS each, default 25) through tools/fuzz.sh. Needs Debian's
# clang-14 and libfuzzer-14-dev (scripts/bootstrap.sh); without them the targets are skipped with a
# warning.
find_program(EF21_FUZZ_CXX NAMES clang++-14)
set(EF21_FUZZ_SECONDS 25 CACHE STRING "Seconds of each bounded fuzz run in ctest")
if(EF21_FUZZ_CXX)
  execute_process(COMMAND ${EF21_FUZZ_CXX} -print-file-name=libclang_rt.fuzzer-x86_64.a
                  OUTPUT_VARIABLE ef21_libfuzzer OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()
if(NOT EF21_FUZZ_CXX OR NOT EXISTS "${ef21_libfuzzer}")
  message(WARNING "clang++-14 with libFuzzer (libfuzzer-14-dev) not found: no fuzz targets")
  return()
endif()
include(ExternalProject)
ExternalProject_Add(ef21_fuzz
  SOURCE_DIR ${PROJECT_SOURCE_DIR}
  BINARY_DIR ${CMAKE_BINARY_DIR}/fuzz
  CMAKE_ARGS -DCMAKE_CXX_COMPILER=${EF21_FUZZ_CXX} -DCMAKE_BUILD_TYPE=Release
             -DEF21_BUILD_FUZZ=ON -DEF21_BUILD_TESTS=OFF -DEF21_BUILD_BENCH=OFF
  BUILD_COMMAND ${CMAKE_COMMAND} --build <BINARY_DIR> --target ef21_fuzzers
  INSTALL_COMMAND ""
  BUILD_ALWAYS ON
  USES_TERMINAL_BUILD ON)
foreach(target libsvm_fuzzer sparse_decoder_fuzzer run_spec_fuzzer worker_message_fuzzer)
  add_test(NAME fuzz.${target}
    COMMAND bash ${PROJECT_SOURCE_DIR}/tools/fuzz.sh --build ${CMAKE_BINARY_DIR}/fuzz
            --seconds ${EF21_FUZZ_SECONDS} ${target})
  # Run alone: each run uses a whole core and its executions/s is reported.
  set_tests_properties(fuzz.${target} PROPERTIES TIMEOUT 300 RUN_SERIAL ON)
endforeach()
