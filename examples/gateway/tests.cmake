# The gateway's end-to-end tests: a driver (e2e/e2e.cpp) starts fake_provider and the gateway as
# real processes on loopback ports and checks one scenario per ctest test.
if(NOT TARGET fake_provider)
  message(STATUS "keypool: gateway end-to-end tests skipped: the fake_provider example is not built")
  return()
endif()

add_executable(gateway_e2e "${example_dir}/e2e/e2e.cpp")
target_link_libraries(gateway_e2e PRIVATE keypool::keypool ${keypool_example_link_httplib}
                                          ${keypool_example_link_nlohmann_json})
keypool_own_target(gateway_e2e)
add_dependencies(gateway_e2e ${example} fake_provider)

foreach(scenario IN ITEMS success failover bad_key openai_quota exhausted upstream_failure admin client_limit metrics
                          bad_config shutdown hostile_input slow_clients port_taken access_log state_file redis_fleet
                          admin_keys ops_config dashboard_data)
  add_test(NAME examples.gateway.e2e.${scenario}
           COMMAND gateway_e2e ${scenario} --gateway $<TARGET_FILE:${example}> --fake $<TARGET_FILE:fake_provider>
                   --work "${CMAKE_CURRENT_BINARY_DIR}/gateway_e2e.work/${scenario}")
  set_tests_properties(examples.gateway.e2e.${scenario} PROPERTIES LABELS examples TIMEOUT 120
                       FAIL_REGULAR_EXPRESSION "FAILED")
endforeach()

# The dashboard's own tests, when its files are in the tree.
include("${example_dir}/tests_dashboard.cmake" OPTIONAL)
