# A fleet of 3 processes against a private redis-server: never over the limit, and Redis agrees.
add_test(NAME examples.fleet COMMAND ${example} --spawn-redis --instances 3 --threads 2 --limit 6000)
set_tests_properties(examples.fleet PROPERTIES LABELS examples TIMEOUT 120 PASS_REGULAR_EXPRESSION "OK: never over the limit")
add_test(NAME examples.fleet.bad_option COMMAND ${example} --instances lots)
set_tests_properties(examples.fleet.bad_option PROPERTIES LABELS examples TIMEOUT 30 WILL_FAIL TRUE)
