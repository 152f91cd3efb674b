# The failovers happen in the story's order, each with its reason: a 429 burst (cooling down) and
# back, then Groq's, Gemini's and Mistral's daily quotas, the emergency, and Groq again at midnight.
# The program also checks the order itself and exits 1 when it differs.
add_test(NAME examples.failover_chain COMMAND ${example})
set_tests_properties(examples.failover_chain PROPERTIES LABELS examples TIMEOUT 60
  PASS_REGULAR_EXPRESSION "FAILOVER groq -> gemini: because [^\n]*cooling_down.*FAILOVER gemini -> groq.*FAILOVER groq -> gemini: because [^\n]*tokens 14400 per day has.*FAILOVER gemini -> mistral: because [^\n]*requests 1500 per day has 0 left.*EMERGENCY.*retry in.*RECOVERED groq.*FAILOVER mistral -> groq.*story checked")
