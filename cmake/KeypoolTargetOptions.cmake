# Compile options for keypool's OWN targets (tests, examples, benchmarks). Never applied to the
# keypool::keypool interface, so users of the library inherit none of them.

# keypool_warnings(<target>): the warnings we keep at zero, and errors when KEYPOOL_WARNINGS_AS_ERRORS
# (CMake's COMPILE_WARNING_AS_ERROR: -Werror, /WX; `cmake --compile-no-warning-as-error` overrides
# it for one build). -Wconversion is deliberately not enabled.
function(keypool_warnings target)
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 /permissive-)
  else()
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  endif()
  set_target_properties(${target} PROPERTIES COMPILE_WARNING_AS_ERROR ${KEYPOOL_WARNINGS_AS_ERRORS})
endfunction()

# keypool_sanitize(<target>): applies KEYPOOL_SANITIZE to the target's compile and link.
#   thread  -> -fsanitize=thread
#   address -> -fsanitize=address,undefined -fno-sanitize-recover=all (UB is fatal)
# plus -fno-omit-frame-pointer -g for readable reports.
function(keypool_sanitize target)
  if(KEYPOOL_SANITIZE STREQUAL "thread")
    set(sanitize_flags -fsanitize=thread)
  elseif(KEYPOOL_SANITIZE STREQUAL "address")
    set(sanitize_flags -fsanitize=address,undefined -fno-sanitize-recover=all)
  else()
    return()
  endif()
  target_compile_options(${target} PRIVATE ${sanitize_flags} -fno-omit-frame-pointer -g)
  target_link_options(${target} PRIVATE ${sanitize_flags})
  # GCC's sanitizer instrumentation produces false -Wmaybe-uninitialized reports (GCC documents
  # this; GCC 12 hits it in libstdc++'s <regex>/<functional> as used by Catch2's main).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
endfunction()

# keypool_own_target(<target>): both of the above.
function(keypool_own_target target)
  keypool_warnings(${target})
  keypool_sanitize(${target})
endfunction()
