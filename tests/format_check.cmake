# Fails when a C++ source or header differs from what clang-format (.clang-format: Google style,
# 100 columns) makes of it, naming the files; `clang-format-14 -i FILE` fixes one.
# Run as: cmake -DSOURCE_DIR=<project> -DCLANG_FORMAT=<clang-format> -P tests/format_check.cmake
set(files "")
foreach(dir common server client cli proto tests bench fuzz)
  file(GLOB_RECURSE found ${SOURCE_DIR}/${dir}/*.cc ${SOURCE_DIR}/${dir}/*.h)
  list(APPEND files ${found})
endforeach()
list(FILTER files EXCLUDE REGEX "/build/|/corpus/")
# One clang-format process for all files (a process per file took minutes on a loaded machine);
# its diagnostics ("FILE:LINE:COL: error: code should be clang-formatted") name the files.
execute_process(COMMAND ${CLANG_FORMAT} --style=file --dry-run -Werror ${files}
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE diagnostics)
set(unformatted "")
if(NOT rc EQUAL 0)
  string(REGEX MATCHALL "[^\n]*: error: code should be clang-formatted" hits "${diagnostics}")
  foreach(hit ${hits})
    string(REGEX REPLACE ":[0-9]+:[0-9]+: error: code should be clang-formatted$" "" file "${hit}")
    file(RELATIVE_PATH rel ${SOURCE_DIR} ${file})
    list(APPEND unformatted ${rel})
  endforeach()
  list(REMOVE_DUPLICATES unformatted)
  if(NOT unformatted)
    message(FATAL_ERROR "clang-format failed (exit ${rc}):\n${diagnostics}")
  endif()
endif()
list(LENGTH files count)
if(unformatted)
  list(JOIN unformatted "\n  " text)
  message(FATAL_ERROR "not clang-formatted (clang-format-14 -i <file>):\n  ${text}")
endif()
message(STATUS "format: ${count} files as clang-format makes them")
