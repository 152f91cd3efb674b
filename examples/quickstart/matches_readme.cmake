# Fails unless README's first ```cpp block equals SOURCE (examples/quickstart/main.cpp) exactly.
#   cmake -D README=<README.md> -D SOURCE=<main.cpp> -P matches_readme.cmake
cmake_minimum_required(VERSION 3.24)
foreach(variable README SOURCE)
  if(NOT DEFINED ${variable} OR NOT EXISTS "${${variable}}")
    message(FATAL_ERROR "matches_readme: -D ${variable}=<existing file> is required")
  endif()
endforeach()
include("${CMAKE_CURRENT_LIST_DIR}/../../cmake/ReadmeBlock.cmake")
keypool_first_cpp_block("${README}" block matches_readme)
file(READ "${SOURCE}" source)
string(REPLACE "\r\n" "\n" source "${source}")
if(NOT block STREQUAL source)
  file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/readme_block.cpp" "${block}")
  message(FATAL_ERROR "matches_readme: README's first ```cpp block differs from ${SOURCE}; "
                      "the block is in ${CMAKE_CURRENT_BINARY_DIR}/readme_block.cpp (diff them, then "
                      "make them the same)")
endif()
message(STATUS "matches_readme: README's first cpp block is ${SOURCE}")
