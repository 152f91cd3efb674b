# ctest readme.example: README.md's first ```cpp block must compile, link and run (exit 0).
# The block is written to WORK_DIR/readme_example.cpp and built as a consumer that pulls keypool in
# with add_subdirectory (see run_consumer.cmake for the other -D variables).
cmake_minimum_required(VERSION 3.24)

if(NOT DEFINED README OR NOT EXISTS "${README}")
  message(FATAL_ERROR "readme.example: README.md not found at '${README}'")
endif()
include("${CMAKE_CURRENT_LIST_DIR}/../../cmake/ReadmeBlock.cmake")
keypool_first_cpp_block("${README}" example readme.example)

file(MAKE_DIRECTORY "${WORK_DIR}")
set(CONSUMER_MAIN "${WORK_DIR}/readme_example.cpp")
file(WRITE "${CONSUMER_MAIN}" "// Extracted from ${README} by readme_example.cmake.\n${example}")
message(STATUS "readme.example: extracted ${CONSUMER_MAIN}")

set(MODE add_subdirectory)
include("${CMAKE_CURRENT_LIST_DIR}/run_consumer.cmake")
