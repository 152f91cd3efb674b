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
                          admin_keys ops_config dashboard_data streaming openai_surface retry_bound model_routing
                          reload_keys reload_limits reload_refused stream_log bounded_estimate)
  add_test(NAME examples.gateway.e2e.${scenario}
           COMMAND gateway_e2e ${scenario} --gateway $<TARGET_FILE:${example}> --fake $<TARGET_FILE:fake_provider>
                   --work "${CMAKE_CURRENT_BINARY_DIR}/gateway_e2e.work/${scenario}")
  set_tests_properties(examples.gateway.e2e.${scenario} PROPERTIES LABELS examples TIMEOUT 120
                       FAIL_REGULAR_EXPRESSION "FAILED")
endforeach()

# The dashboard's own tests, when its files are in the tree.
include("${example_dir}/tests_dashboard.cmake" OPTIONAL)

# The official OpenAI Node SDK against the gateway: the setup installs the openai npm package
# (major version 6: version 7 needs Node.js 22, Debian 12 has 18) into the build directory; the
# test runs e2e/sdk_test.mjs with node against a fake provider and two gateways.
find_program(KEYPOOL_NODE NAMES node nodejs)
find_program(KEYPOOL_NPM npm)
set(keypool_gateway_sdk_dir "${CMAKE_CURRENT_BINARY_DIR}/gateway_sdk")
add_test(NAME examples.gateway.sdk.setup
         COMMAND ${CMAKE_COMMAND} -DNPM=${KEYPOOL_NPM} -DDIR=${keypool_gateway_sdk_dir} -DOPENAI_MAJOR=6
                 -P "${example_dir}/e2e/install_openai.cmake")
set_tests_properties(examples.gateway.sdk.setup PROPERTIES FIXTURES_SETUP gateway_sdk LABELS examples TIMEOUT 600
                     FAIL_REGULAR_EXPRESSION "FAILED")
add_test(NAME examples.gateway.e2e.sdk
         COMMAND gateway_e2e sdk --gateway $<TARGET_FILE:${example}> --fake $<TARGET_FILE:fake_provider>
                 --work "${CMAKE_CURRENT_BINARY_DIR}/gateway_e2e.work/sdk" --node "${KEYPOOL_NODE}"
                 --sdk "${keypool_gateway_sdk_dir}" --sdk-script "${example_dir}/e2e/sdk_test.mjs")
set_tests_properties(examples.gateway.e2e.sdk PROPERTIES FIXTURES_REQUIRED gateway_sdk LABELS examples TIMEOUT 180
                     FAIL_REGULAR_EXPRESSION "FAILED")
