# Ten keys share the traffic evenly (10 each of 100), a resting key gets none of the requests during
# its Retry-After, a disabled key none after, and the burst's refusal names the shortest wait.
add_test(NAME examples.ten_keys COMMAND ${example})
set_tests_properties(examples.ten_keys PROPERTIES LABELS examples TIMEOUT 60
  ENVIRONMENT "GROQ_API_KEY=;GROQ_API_KEYS="
  PASS_REGULAR_EXPRESSION "spread over 10 keys: 10 to 10 requests each.*0 of 15 requests in its 30 s of rest.*credential is refused.*spread over 9 keys: 10 to 10 requests each.*shortest wait.*spread checked: even")
