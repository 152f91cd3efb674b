# The demo runs as a test: the story ends in an emergency and a recovery, deterministically. The
# wording is checked too: plurals ("1 Mistral key"), the table's two parts (the day, then the next
# morning after the reset), and one wait everywhere (the emergency, the users' answer and the
# summary agree: 15:58 to the 00:00 reset is 8h02m).
add_test(NAME examples.spike_day COMMAND ${example})
set_tests_properties(examples.spike_day PROPERTIES LABELS examples TIMEOUT 60
  PASS_REGULAR_EXPRESSION "3 Groq keys \\(14,400 tokens/day\\), 2 Gemini keys \\(15/min, 1,500/day\\), 1 Mistral key \\(10,000 tokens/day\\).*FAILOVER groq -> gemini.*FAILOVER gemini -> mistral.*15:58  EMERGENCY: all AI keys exhausted; service resumes at 00:00 UTC \\(in 8h02m\\).*Please retry in 8h02m \\(at 00:00 UTC\\).*RECOVERED groq.*the day \\(08:00-24:00\\) +the next morning \\(00:00-00:30\\).*the day \\(08:00-24:00\\): requests.*the next morning \\(00:00-00:30\\): requests.*all keys exhausted at 15:58; the keys reset at 00:00, 8h02m later.*the first request after the reset arrived at 00:02 and was served"
  FAIL_REGULAR_EXPRESSION "[^0-9]1 [A-Z][a-z]+ keys")
# One key of each provider: singular everywhere.
add_test(NAME examples.spike_day.one_key_each COMMAND ${example} --groq-keys 1 --gemini-keys 1)
set_tests_properties(examples.spike_day.one_key_each PROPERTIES LABELS examples TIMEOUT 60
  PASS_REGULAR_EXPRESSION "1 Groq key \\(14,400 tokens/day\\), 1 Gemini key \\(15/min, 1,500/day\\), 1 Mistral key \\("
  FAIL_REGULAR_EXPRESSION "[^0-9]1 [A-Z][a-z]+ keys")
# --help prints the options and exits with 0.
add_test(NAME examples.spike_day.help COMMAND ${example} --help)
set_tests_properties(examples.spike_day.help PROPERTIES LABELS examples TIMEOUT 60
  PASS_REGULAR_EXPRESSION "usage: spike_day .*--mistral-keys N +Mistral keys.*-h, --help")
# A bad option is refused.
add_test(NAME examples.spike_day.bad_option COMMAND ${example} --groq-keys many)
set_tests_properties(examples.spike_day.bad_option PROPERTIES LABELS examples TIMEOUT 60 WILL_FAIL TRUE)
