# Each refusal of the pre-check names the limit that refuses and the wait: the minute's requests
# (until the next minute), the per-request cap (waiting will not help), the minute's tokens after
# the provider reported less left, the day's requests (until midnight Pacific); the admin reset
# lets the key serve again. The program also checks each refusal itself.
add_test(NAME examples.gemini_limits COMMAND ${example})
set_tests_properties(examples.gemini_limits PROPERTIES LABELS examples TIMEOUT 60
  PASS_REGULAR_EXPRESSION "no: requests 15 per minute refuses [^\n]*wait 30 s.*no: tokens 32000 per request refuses [^\n]*waiting will not help.*no: tokens 1000000 per minute refuses [^\n]*20000 left.*alert: daily requests at 80%.*alert: daily requests at 95%.*no: requests 1500 per day [^\n]*until 00:00:00 PST.*admin reset[^\n]*\n[^\n]*yes, on gemini-1.*story checked")
