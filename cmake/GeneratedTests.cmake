# Helpers shared by the scripts and functions that turn an executable's own listing (Catch2 test
# cases, Google Benchmark families) into ctest tests after each build.

# keypool_pop_line(<text var> <line var>): moves the first line of <text var> into <line var>.
# Walks a listing without ever making it a CMake list, whose splitting mangles names with ';' or an
# unbalanced '[' ']'.
function(keypool_pop_line text_var line_var)
  string(FIND "${${text_var}}" "\n" end)
  if(end EQUAL -1)
    set(${line_var} "${${text_var}}" PARENT_SCOPE)
    set(${text_var} "" PARENT_SCOPE)
    return()
  endif()
  string(SUBSTRING "${${text_var}}" 0 ${end} line)
  math(EXPR end "${end} + 1")
  string(SUBSTRING "${${text_var}}" ${end} -1 rest)
  set(${line_var} "${line}" PARENT_SCOPE)
  set(${text_var} "${rest}" PARENT_SCOPE)
endfunction()

# keypool_include_generated_tests(<target> <tests file>): ctest includes <tests file> when it
# starts, once a build of <target> has written it; before that, a test named <target>_NOT_BUILT
# fails, so a missing listing never passes as "no tests".
function(keypool_include_generated_tests target tests_file)
  set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_include_generated.cmake")
  file(WRITE "${include_file}"
    "if(EXISTS \"${tests_file}\")\n"
    "  include(\"${tests_file}\")\n"
    "else()\n"
    "  add_test(${target}_NOT_BUILT ${target}_NOT_BUILT)\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()
