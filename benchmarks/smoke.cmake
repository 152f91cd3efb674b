# The bench-smoke check of one benchmark family: runs the benchmarks BENCH_FILTER matches for
# BENCH_MIN_TIME seconds each and fails on a crash, on a benchmark that reported an error, or when
# nothing ran. It measures nothing. Written by cmake/BenchmarkDiscoverTests.cmake into the tests:
#   cmake -D BENCH_EXECUTABLE=<exe> -D BENCH_FILTER=<regex> -D BENCH_MIN_TIME=<s> -D BENCH_OUT=<json>
#         -P smoke.cmake
# Google Benchmark (1.7) exits 0 when a benchmark calls state.SkipWithError(), so the verdict comes
# from the JSON report: an entry with "error_occurred": true fails the test.
cmake_minimum_required(VERSION 3.24)

foreach(variable IN ITEMS BENCH_EXECUTABLE BENCH_FILTER BENCH_MIN_TIME BENCH_OUT)
  if(NOT DEFINED ${variable} OR "${${variable}}" STREQUAL "")
    message(FATAL_ERROR "smoke.cmake: -D ${variable}=... is required")
  endif()
endforeach()

file(REMOVE "${BENCH_OUT}")  # never judge a previous run's report
# The console table goes straight to ctest's log; the JSON report to BENCH_OUT.
execute_process(
  COMMAND "${BENCH_EXECUTABLE}"
    "--benchmark_filter=${BENCH_FILTER}"
    "--benchmark_min_time=${BENCH_MIN_TIME}"
    "--benchmark_out=${BENCH_OUT}"
    "--benchmark_out_format=json"
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "bench-smoke: ${BENCH_EXECUTABLE} --benchmark_filter='${BENCH_FILTER}' "
                      "ended with '${result}' (a crash or an abort)")
endif()
if(NOT EXISTS "${BENCH_OUT}")
  message(FATAL_ERROR "bench-smoke: no report in ${BENCH_OUT}")
endif()

file(READ "${BENCH_OUT}" report)
if(report STREQUAL "")  # what Google Benchmark leaves when the filter matches nothing
  message(FATAL_ERROR "bench-smoke: no benchmark matches '${BENCH_FILTER}'")
endif()
string(JSON runs ERROR_VARIABLE json_error LENGTH "${report}" benchmarks)
if(NOT json_error STREQUAL "NOTFOUND")
  message(FATAL_ERROR "bench-smoke: ${BENCH_OUT} is not a complete report: ${json_error}")
endif()
if(runs EQUAL 0)
  message(FATAL_ERROR "bench-smoke: no benchmark matches '${BENCH_FILTER}'")
endif()

set(failures "")
math(EXPR last "${runs} - 1")
foreach(index RANGE ${last})
  string(JSON name GET "${report}" benchmarks ${index} name)
  string(JSON failed ERROR_VARIABLE absent GET "${report}" benchmarks ${index} error_occurred)
  if(absent STREQUAL "NOTFOUND" AND failed)
    string(JSON why ERROR_VARIABLE absent GET "${report}" benchmarks ${index} error_message)
    string(APPEND failures "\n  ${name}: ${why}")
  endif()
endforeach()
if(NOT failures STREQUAL "")
  message(FATAL_ERROR "bench-smoke: benchmarks reported errors:${failures}")
endif()
message(STATUS "bench-smoke: ${runs} benchmark runs, no error")
