# The channels pause when Groq's daily quota is spent (provider_exhausted), nothing is written
# while the clock moves through the night, and the monitor's poll at midnight PST (08:00 UTC in
# January) reports the recovery that resumes them. The program checks this itself as well.
add_test(NAME examples.midnight_pacific COMMAND ${example})
set_tests_properties(examples.midnight_pacific PROPERTIES LABELS examples TIMEOUT 60
  PASS_REGULAR_EXPRESSION "WARNING groq quota exhausted, will auto-resume at 00:00 PST.*40 scripts written this evening \\(40 fit in the two keys\\); both channels paused.*\\[23:00 PST\\] quota check: groq paused, 2 of 2 keys exhausted, reset in 60 min.*\\[00:00 PST\\] QUOTA RESET: groq serves again.*resumed at 00:00 PST.*story checked")
