# The bench-smoke check of one peer program (bench-smoke.peer_go, bench-smoke.peer_guava): builds it
# (build.cmake, same variables) and runs every one of its benchmarks for a millisecond, without
# warm-up, failing when the build fails, when the program ends with an error status (it does when
# a benchmark could not admit a request) or when its report is missing, incomplete or lists an
# error. It measures nothing.
#   cmake -D PEER=go|guava -D OUT_DIR=<dir> [-D GO=... -D JAVAC=... ...] -P smoke.cmake
cmake_minimum_required(VERSION 3.24)

include("${CMAKE_CURRENT_LIST_DIR}/build.cmake")

set(report_file "${OUT_DIR}/peer_${PEER}_smoke.json")
file(REMOVE "${report_file}")  # never judge a previous run's report
if(PEER STREQUAL "go")
  set(arguments -min_time=1ms -warmup=0s -threads=1,2 -variants=allow,reserve)
  set(expected_runs 4)
else()
  set(arguments -min_time=0.001 -warmup=0 -threads=1,2)
  set(expected_runs 2)
endif()
execute_process(
  COMMAND "${OUT_DIR}/peer_${PEER}" ${arguments} "-out=${report_file}"
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "bench-smoke: peer_${PEER} ended with '${result}'")
endif()
if(NOT EXISTS "${report_file}")
  message(FATAL_ERROR "bench-smoke: peer_${PEER} wrote no report to ${report_file}")
endif()

file(READ "${report_file}" report)
string(JSON runs ERROR_VARIABLE json_error LENGTH "${report}" benchmarks)
if(NOT json_error STREQUAL "NOTFOUND")
  message(FATAL_ERROR "bench-smoke: ${report_file} is not a complete report: ${json_error}")
endif()
if(NOT runs EQUAL expected_runs)
  message(FATAL_ERROR "bench-smoke: peer_${PEER} reported ${runs} benchmarks, not ${expected_runs}")
endif()
math(EXPR last "${runs} - 1")
foreach(index RANGE ${last})
  string(JSON name GET "${report}" benchmarks ${index} name)
  string(JSON failed ERROR_VARIABLE absent GET "${report}" benchmarks ${index} error_occurred)
  if(absent STREQUAL "NOTFOUND" AND failed)
    message(FATAL_ERROR "bench-smoke: ${name} reported an error")
  endif()
  string(JSON iterations ERROR_VARIABLE absent GET "${report}" benchmarks ${index} iterations)
  if(NOT absent STREQUAL "NOTFOUND" OR NOT iterations GREATER 0)
    message(FATAL_ERROR "bench-smoke: ${name} made no request")
  endif()
endforeach()
message(STATUS "bench-smoke: peer_${PEER}: ${runs} benchmark runs, no error")
