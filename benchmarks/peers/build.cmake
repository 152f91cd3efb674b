# Builds one peer benchmark program (README.md) into OUT_DIR, offline, from Debian's packages:
#   cmake -D PEER=go|guava -D OUT_DIR=<dir> -P build.cmake
# go:    OUT_DIR/peer_go, from go/main.go with golang.org/x/time/rate (golang-golang-x-time-dev
#        installs its sources as a GOPATH: GOPATH mode, GO111MODULE=off, nothing downloaded).
# guava: OUT_DIR/peer_guava, a launcher of the classes javac compiles from java/PeerGuava.java
#        into OUT_DIR/guava-classes/, against Guava's jar (libguava-java).
# Optional: -D GO=<go> -D JAVAC=<javac> -D JAVA=<java> -D GOPATH_DIR=<dir> -D GUAVA_JAR=<jar>.
# Also include()d by smoke.cmake, with the same variables.
cmake_minimum_required(VERSION 3.24)

if(NOT PEER MATCHES "^(go|guava)$")
  message(FATAL_ERROR "build.cmake: -D PEER=go or -D PEER=guava is required")
endif()
if(NOT OUT_DIR)
  message(FATAL_ERROR "build.cmake: -D OUT_DIR=<dir> is required")
endif()
set(peer_source_dir "${CMAKE_CURRENT_LIST_DIR}")
file(MAKE_DIRECTORY "${OUT_DIR}")

if(PEER STREQUAL "go")
  if(NOT GO)
    find_program(GO go)
  endif()
  if(NOT GOPATH_DIR)
    set(GOPATH_DIR /usr/share/gocode)
  endif()
  if(NOT GO OR NOT EXISTS "${GOPATH_DIR}/src/golang.org/x/time/rate/rate.go")
    message(FATAL_ERROR "peer_go needs Go and golang.org/x/time/rate in ${GOPATH_DIR}: "
                        "install golang-go golang-golang-x-time-dev")
  endif()
  # The build cache goes inside the build tree; GOENV=off and GOFLAGS= keep a user's Go settings
  # out, GOPROXY=off keeps the build offline; no cgo, so no C toolchain is involved.
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -E env
      GO111MODULE=off "GOPATH=${GOPATH_DIR}" "GOCACHE=${OUT_DIR}/go-cache" GOENV=off GOFLAGS=
      GOPROXY=off CGO_ENABLED=0
      "${GO}" build -o "${OUT_DIR}/peer_go" main.go
    WORKING_DIRECTORY "${peer_source_dir}/go"
    RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "peer_go: go build failed (${result})")
  endif()
  return()
endif()

# guava
if(NOT JAVAC)
  find_program(JAVAC javac)
endif()
if(NOT JAVA)
  find_program(JAVA java)
endif()
if(NOT GUAVA_JAR)
  set(GUAVA_JAR /usr/share/java/guava.jar)
endif()
if(NOT JAVAC OR NOT JAVA OR NOT EXISTS "${GUAVA_JAR}")
  message(FATAL_ERROR "peer_guava needs javac, java and ${GUAVA_JAR}: install default-jdk-headless libguava-java")
endif()
set(classes "${OUT_DIR}/guava-classes")
set(source "${peer_source_dir}/java/PeerGuava.java")
if(NOT EXISTS "${classes}/PeerGuava.class" OR "${source}" IS_NEWER_THAN "${classes}/PeerGuava.class")
  file(REMOVE_RECURSE "${classes}")
  execute_process(
    COMMAND "${JAVAC}" -Xlint:all -Werror -cp "${GUAVA_JAR}" -d "${classes}" "${source}"
    RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "peer_guava: javac failed (${result})")
  endif()
endif()
file(WRITE "${OUT_DIR}/peer_guava"
  "#!/bin/sh\n"
  "# Written by benchmarks/peers/build.cmake: runs PeerGuava (java/PeerGuava.java) with its arguments.\n"
  "exec \"${JAVA}\" -cp \"${GUAVA_JAR}:${classes}\" PeerGuava \"$@\"\n")
file(CHMOD "${OUT_DIR}/peer_guava" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
     WORLD_READ WORLD_EXECUTE)
