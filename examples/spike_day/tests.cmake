# The demo runs as a test: the story ends in an emergency and a recovery, deterministically.
add_test(NAME examples.spike_day COMMAND ${example})
set_tests_properties(examples.spike_day PROPERTIES LABELS examples TIMEOUT 60
  PASS_REGULAR_EXPRESSION "FAILOVER groq -> gemini.*FAILOVER gemini -> mistral.*EMERGENCY: all AI keys exhausted.*RECOVERED groq.*time to recovery")
# A bad option is refused.
add_test(NAME examples.spike_day.bad_option COMMAND ${example} --groq-keys many)
set_tests_properties(examples.spike_day.bad_option PROPERTIES LABELS examples TIMEOUT 60 WILL_FAIL TRUE)
