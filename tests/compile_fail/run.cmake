# Compiles SOURCE and checks the outcome named on its first line: "// EXPECT: OK" must compile;
# "// EXPECT: <text>" must fail to compile with <text> in the diagnostics.
# Usage: cmake -DCXX=<compiler> -DINCLUDE=<include dir> -DSOURCE=<file> -DOUT=<dir> -P run.cmake
file(STRINGS "${SOURCE}" first LIMIT_COUNT 1)
string(REGEX REPLACE "^// EXPECT: " "" expected "${first}")
get_filename_component(name "${SOURCE}" NAME_WE)
file(MAKE_DIRECTORY "${OUT}")
execute_process(
  COMMAND "${CXX}" -std=c++20 -fsyntax-only -I "${INCLUDE}" "${SOURCE}"
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(expected STREQUAL "OK")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${name}: expected to compile, but:\n${err}")
  endif()
  return()
endif()
if(result EQUAL 0)
  message(FATAL_ERROR "${name}: expected a compile error mentioning '${expected}', but it compiled")
endif()
string(FIND "${err}" "${expected}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${name}: the compile error does not mention '${expected}':\n${err}")
endif()
message(STATUS "${name}: refused as expected ('${expected}')")
