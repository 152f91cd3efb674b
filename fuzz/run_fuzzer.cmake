# Runs one libFuzzer target for a fixed time (the ctest tests fuzz.*; see fuzz/CMakeLists.txt):
#   cmake -DFUZZER=... -DNAME=... -DSEEDS=... -DWORK=... -DARTIFACTS=... [-DDICT=...] -DSECONDS=... -P run_fuzzer.cmake
# The seeds directory is only read: libFuzzer writes new inputs to the first directory it is given,
# the working corpus in the build directory, which persists between runs. A crash, leak, timeout
# or undefined behaviour makes libFuzzer exit non-zero and this script fail; the input is written to
# ARTIFACTS (crash-…, leak-…, timeout-…).
if(DEFINED ENV{KEYPOOL_FUZZ_SECONDS} AND NOT "$ENV{KEYPOOL_FUZZ_SECONDS}" STREQUAL "")
  set(SECONDS "$ENV{KEYPOOL_FUZZ_SECONDS}")
endif()
file(MAKE_DIRECTORY "${WORK}" "${ARTIFACTS}")
set(options -max_total_time=${SECONDS} -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
            -artifact_prefix=${ARTIFACTS}/${NAME}-)
if(DICT)
  list(APPEND options -dict=${DICT})
endif()
message(STATUS "fuzz.${NAME}: ${SECONDS} s from ${SEEDS}, working corpus ${WORK}")
execute_process(COMMAND "${FUZZER}" ${options} "${WORK}" "${SEEDS}" RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "fuzz.${NAME}: the fuzzer failed (${result}); the input is in ${ARTIFACTS}/ "
                      "(reproduce: ${FUZZER} ${ARTIFACTS}/${NAME}-crash-…; see docs/fuzzing.md)")
endif()
