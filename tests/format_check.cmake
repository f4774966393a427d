# Fails when a C++ source or header differs from what clang-format (.clang-format: Google style,
# 100 columns) makes of it, naming the files; `clang-format-14 -i FILE` fixes one.
# Run as: cmake -DSOURCE_DIR=<project> -DCLANG_FORMAT=<clang-format> -P tests/format_check.cmake
set(files "")
foreach(dir common server client cli proto tests bench fuzz)
  file(GLOB_RECURSE found ${SOURCE_DIR}/${dir}/*.cc ${SOURCE_DIR}/${dir}/*.h)
  list(APPEND files ${found})
endforeach()
list(FILTER files EXCLUDE REGEX "/build/|/corpus/")
set(unformatted "")
foreach(file ${files})
  execute_process(COMMAND ${CLANG_FORMAT} --style=file --dry-run -Werror ${file}
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(NOT rc EQUAL 0)
    file(RELATIVE_PATH rel ${SOURCE_DIR} ${file})
    list(APPEND unformatted ${rel})
  endif()
endforeach()
list(LENGTH files count)
if(unformatted)
  list(JOIN unformatted "\n  " text)
  message(FATAL_ERROR "not clang-formatted (clang-format-14 -i <file>):\n  ${text}")
endif()
message(STATUS "format: ${count} files as clang-format makes them")
