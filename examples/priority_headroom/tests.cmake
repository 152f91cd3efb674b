# Batch traffic is refused first (at 80% of a key's day), then normal (95%), then critical (100%),
# each refusal because the request would pass its priority's cap on every key.
add_test(NAME examples.priority_headroom COMMAND ${example})
set_tests_properties(examples.priority_headroom PROPERTIES LABELS examples TIMEOUT 60
  PASS_REGULAR_EXPRESSION "re-index \\(batch\\) refused[^\n]*> 11520.*summaries \\(normal\\) refused[^\n]*> 13680.*chat \\(critical\\) refused[^\n]*> 14400.*story checked")
