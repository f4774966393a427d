# EF21_GIT_COMMIT and EF21_BUILD_TYPE for common/base/build_info.cc.in (common/version.h): `git describe`
# at configure time ("unknown" without git or outside a checkout). CMake configures again when
# git's HEAD or the branch it points to moves, so a rebuild after a commit reports the new one.
set(EF21_GIT_COMMIT "unknown")
set(EF21_BUILD_TYPE "${CMAKE_BUILD_TYPE}")
if(NOT EF21_BUILD_TYPE)
  set(EF21_BUILD_TYPE "unspecified")
endif()
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty --abbrev=12
                  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                  OUTPUT_VARIABLE describe RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(rc EQUAL 0 AND NOT describe STREQUAL "")
    set(EF21_GIT_COMMIT "${describe}")
    execute_process(COMMAND ${GIT_EXECUTABLE} symbolic-ref -q HEAD
                    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                    OUTPUT_VARIABLE branch OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    foreach(ref HEAD ${branch})
      execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --git-path ${ref}
                      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                      OUTPUT_VARIABLE path OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      get_filename_component(path "${path}" ABSOLUTE BASE_DIR ${PROJECT_SOURCE_DIR})
      if(EXISTS "${path}")
        set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${path}")
      endif()
    endforeach()
  endif()
endif()
configure_file(${PROJECT_SOURCE_DIR}/common/base/build_info.cc.in
               ${PROJECT_BINARY_DIR}/generated/build_info.cc @ONLY)
