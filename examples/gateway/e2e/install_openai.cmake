# The setup of the OpenAI Node SDK test (ctest fixture gateway_sdk): installs the official `openai`
# npm package, major version OPENAI_MAJOR, into DIR with npm's defaults.
#
#   cmake -DNPM=PATH -DDIR=DIR -DOPENAI_MAJOR=6 -P install_openai.cmake
#
# Without npm: as root, installs Debian's nodejs and npm (as `make deps` does); otherwise, and when
# npm cannot reach its registry, fails with a message saying what to install. Never passes silently.
cmake_minimum_required(VERSION 3.25)

if(NOT NPM OR NPM MATCHES "NOTFOUND$")
  find_program(NPM npm)
endif()
if(NOT NPM OR NPM MATCHES "NOTFOUND$")
  execute_process(COMMAND id -u OUTPUT_VARIABLE uid OUTPUT_STRIP_TRAILING_WHITESPACE)
  find_program(APT_GET apt-get)
  if(uid STREQUAL "0" AND APT_GET)
    message(STATUS "npm is missing: installing nodejs and npm with apt-get")
    execute_process(COMMAND ${APT_GET} update RESULT_VARIABLE rc)
    execute_process(COMMAND ${APT_GET} install -y --no-install-recommends nodejs npm RESULT_VARIABLE rc)
    unset(NPM CACHE)
    find_program(NPM npm)
  endif()
endif()
if(NOT NPM OR NPM MATCHES "NOTFOUND$")
  message(FATAL_ERROR "FAILED: the OpenAI SDK test needs Node.js and npm, which are not installed. Install them "
                      "(make deps, or: sudo apt-get install -y nodejs npm), then run cmake again.")
endif()

set(package "${DIR}/node_modules/openai/package.json")
if(EXISTS "${package}")
  file(READ "${package}" text)
  string(JSON version GET "${text}" version)
  if(version MATCHES "^${OPENAI_MAJOR}\\.")
    message(STATUS "openai ${version} is installed in ${DIR}")
    return()
  endif()
endif()

file(MAKE_DIRECTORY "${DIR}")
if(NOT EXISTS "${DIR}/package.json")
  file(WRITE "${DIR}/package.json" "{\"name\": \"keypool-gateway-sdk-test\", \"private\": true}\n")
endif()
execute_process(COMMAND "${NPM}" install --no-audit --no-fund --prefix "${DIR}" "openai@${OPENAI_MAJOR}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS "${package}")
  message(FATAL_ERROR "FAILED: npm install openai@${OPENAI_MAJOR} failed (${rc}); the OpenAI SDK test needs npm and "
                      "its registry (a network connection, or npm's proxy settings). npm said:\n${out}\n${err}")
endif()
file(READ "${package}" text)
string(JSON version GET "${text}" version)
message(STATUS "installed openai ${version} in ${DIR}")
