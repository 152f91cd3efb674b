# ctest readme.example: README.md's first ```cpp block must compile, link and run (exit 0).
# The block is written to WORK_DIR/readme_example.cpp and built as a consumer that pulls keypool in
# with add_subdirectory (see run_consumer.cmake for the other -D variables).
cmake_minimum_required(VERSION 3.24)

if(NOT DEFINED README OR NOT EXISTS "${README}")
  message(FATAL_ERROR "readme.example: README.md not found at '${README}'")
endif()
file(READ "${README}" readme)
string(REPLACE "\r\n" "\n" readme "${readme}")

# The first line that is exactly ```cpp opens the block; the next line starting with ``` closes it.
string(FIND "${readme}" "\n```cpp\n" open)
if(open EQUAL -1)
  string(FIND "${readme}" "```cpp\n" open)   # the README may start with the fence
  if(NOT open EQUAL 0)
    message(FATAL_ERROR "readme.example: ${README} has no ```cpp fenced block")
  endif()
  set(open -1)
endif()
math(EXPR start "${open} + 8")
string(SUBSTRING "${readme}" ${start} -1 rest)
string(FIND "${rest}" "\n```" close)
if(close EQUAL -1)
  message(FATAL_ERROR "readme.example: the first ```cpp block in ${README} is never closed")
endif()
math(EXPR close "${close} + 1")  # keep the block's last newline
string(SUBSTRING "${rest}" 0 ${close} example)

file(MAKE_DIRECTORY "${WORK_DIR}")
set(CONSUMER_MAIN "${WORK_DIR}/readme_example.cpp")
file(WRITE "${CONSUMER_MAIN}" "// Extracted from ${README} by readme_example.cmake.\n${example}")
message(STATUS "readme.example: extracted ${CONSUMER_MAIN}")

set(MODE add_subdirectory)
include("${CMAKE_CURRENT_LIST_DIR}/run_consumer.cmake")
