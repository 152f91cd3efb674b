# Builds and runs the consumer project (tests/consumer/) against keypool in one of three ways.
# Run by ctest (consumer.find_package, consumer.add_subdirectory, consumer.fetchcontent) as
#   cmake -D MODE=<find_package|add_subdirectory|fetchcontent> -D WORK_DIR=<fresh dir>
#         -D KEYPOOL_SOURCE_DIR=... -D KEYPOOL_BINARY_DIR=... -D CONSUMER_SOURCE_DIR=...
#         -D CMAKE_GENERATOR=... -D CMAKE_MAKE_PROGRAM=... -D CMAKE_CXX_COMPILER=... -D CONFIG=...
#         [-D CONSUMER_MAIN=<a .cpp to build instead of main.cpp>] -P run_consumer.cmake
# find_package first installs the keypool build (KEYPOOL_BINARY_DIR) into WORK_DIR/prefix.
cmake_minimum_required(VERSION 3.24)

foreach(required IN ITEMS MODE WORK_DIR KEYPOOL_SOURCE_DIR KEYPOOL_BINARY_DIR CONSUMER_SOURCE_DIR
                          CMAKE_GENERATOR CMAKE_CXX_COMPILER)
  if(NOT DEFINED ${required} OR "${${required}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D ${required}=... is required")
  endif()
endforeach()

# Runs a command, echoing it; stops the test with <what> when it fails.
function(consumer_step what)
  string(REPLACE ";" " " shown "${ARGN}")
  message(STATUS "consumer[${MODE}]: ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "consumer[${MODE}]: ${what} failed (${result})")
  endif()
endfunction()

set(config_args "")
set(build_type_arg "")
if(NOT "${CONFIG}" STREQUAL "")
  set(config_args --config "${CONFIG}")
  set(build_type_arg "-DCMAKE_BUILD_TYPE=${CONFIG}")
endif()
set(make_program_arg "")
if(NOT "${CMAKE_MAKE_PROGRAM}" STREQUAL "")
  set(make_program_arg "-DCMAKE_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}")
endif()
set(main_arg "")
if(DEFINED CONSUMER_MAIN AND NOT "${CONSUMER_MAIN}" STREQUAL "")
  set(main_arg "-DKEYPOOL_CONSUMER_MAIN=${CONSUMER_MAIN}")
endif()

set(build_dir "${WORK_DIR}/build")
file(REMOVE_RECURSE "${build_dir}" "${WORK_DIR}/prefix")
file(MAKE_DIRECTORY "${WORK_DIR}")

if(MODE STREQUAL "find_package")
  set(prefix "${WORK_DIR}/prefix")
  consumer_step("installing keypool"
    "${CMAKE_COMMAND}" --install "${KEYPOOL_BINARY_DIR}" --prefix "${prefix}" ${config_args})
  file(GLOB_RECURSE installed_config "${prefix}/*/keypoolConfig.cmake")
  if(NOT installed_config)
    message(FATAL_ERROR "consumer[find_package]: no keypoolConfig.cmake under ${prefix}")
  endif()
  set(mode_args
    -DKEYPOOL_CONSUMER_MODE=find_package
    "-DCMAKE_PREFIX_PATH=${prefix}"
    "-DKEYPOOL_EXPECTED_PREFIX=${prefix}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
elseif(MODE STREQUAL "add_subdirectory")
  set(mode_args -DKEYPOOL_CONSUMER_MODE=subdirectory "-DKEYPOOL_SOURCE_DIR=${KEYPOOL_SOURCE_DIR}")
elseif(MODE STREQUAL "fetchcontent")
  set(mode_args -DKEYPOOL_CONSUMER_MODE=fetchcontent "-DKEYPOOL_SOURCE_DIR=${KEYPOOL_SOURCE_DIR}")
else()
  message(FATAL_ERROR "run_consumer.cmake: MODE='${MODE}': use find_package, add_subdirectory or fetchcontent")
endif()

consumer_step("configuring"
  "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${build_dir}"
  -G "${CMAKE_GENERATOR}" ${make_program_arg}
  "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}" ${build_type_arg} ${main_arg} ${mode_args})
consumer_step("building" "${CMAKE_COMMAND}" --build "${build_dir}" ${config_args} --parallel 2)

file(GLOB_RECURSE consumer_exe LIST_DIRECTORIES false
  "${build_dir}/consumer" "${build_dir}/consumer.exe" "${build_dir}/*/consumer" "${build_dir}/*/consumer.exe")
list(FILTER consumer_exe EXCLUDE REGEX "/CMakeFiles/")
if(NOT consumer_exe)
  message(FATAL_ERROR "consumer[${MODE}]: built, but no consumer executable under ${build_dir}")
endif()
list(GET consumer_exe 0 consumer_exe)
consumer_step("running" "${consumer_exe}")
message(STATUS "consumer[${MODE}]: ok")
