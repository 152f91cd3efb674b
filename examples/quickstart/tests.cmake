# The quickstart grants a key of the provider it added and names it by its redacted label.
add_test(NAME examples.quickstart COMMAND ${example})
set_tests_properties(examples.quickstart PROPERTIES LABELS examples TIMEOUT 60
  PASS_REGULAR_EXPRESSION "^calling groq with key gsk_[^\n]*0001\n$")
# README.md's first ```cpp block is this very program, byte for byte: the README cannot drift from
# the example that is built and run.
add_test(NAME examples.quickstart.matches_readme
  COMMAND "${CMAKE_COMMAND}" -D "README=${PROJECT_SOURCE_DIR}/README.md" -D "SOURCE=${example_dir}/main.cpp"
          -P "${example_dir}/matches_readme.cmake")
set_tests_properties(examples.quickstart.matches_readme PROPERTIES LABELS "examples;docs" TIMEOUT 60)
