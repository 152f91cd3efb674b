# keypool_inspect never prints a control byte from a file's names (a hostile or damaged state file
# cannot drive the terminal) and marks a corrupted counter word instead of printing what it holds.
add_executable(keypool_inspect_test "${example_dir}/test/inspect_test.cpp")
target_link_libraries(keypool_inspect_test PRIVATE keypool::keypool)
keypool_own_target(keypool_inspect_test)
add_dependencies(keypool_inspect_test ${example})
add_test(NAME examples.keypool_inspect.hostile_file
         COMMAND keypool_inspect_test $<TARGET_FILE:${example}> "${CMAKE_CURRENT_BINARY_DIR}/keypool_inspect_test.work")
set_tests_properties(examples.keypool_inspect.hostile_file PROPERTIES LABELS examples TIMEOUT 60
                     PASS_REGULAR_EXPRESSION "\nOK\n" FAIL_REGULAR_EXPRESSION "FAILED")
