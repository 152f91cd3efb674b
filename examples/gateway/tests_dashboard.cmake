# The gateway's dashboard page and webhook alert sink, tested for real: included by
# examples/gateway/tests.cmake (only when tests are built and httplib is found), with
# ${example_dir} = examples/gateway. docs/dashboard.md describes both tests.

# examples.gateway.dashboard: headless Chromium renders /dashboard against a real pool; the DOM it
# dumps must hold exactly the pool's numbers. Writes dashboard.png and dashboard-phone.png (and
# dashboard-dom.html, dashboard-chromium.log) into this build folder. Without Chromium it fails,
# naming the package, unless KEYPOOL_SKIP_BROWSER=1 (then ctest reports it skipped).
add_executable(gateway_dashboard_test "${example_dir}/dashboard_test/main.cpp")
target_include_directories(gateway_dashboard_test PRIVATE "${example_dir}")
target_link_libraries(gateway_dashboard_test PRIVATE keypool::keypool ${keypool_example_link_httplib}
                                                     ${keypool_example_link_nlohmann_json})
keypool_own_target(gateway_dashboard_test)
add_test(NAME examples.gateway.dashboard
         COMMAND gateway_dashboard_test "${CMAKE_CURRENT_BINARY_DIR}")
set_tests_properties(examples.gateway.dashboard PROPERTIES
  LABELS examples TIMEOUT 120 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)

# examples.gateway.webhook: gateway::Webhook behind alert::Queued posts a pool's events to a local
# receiver (Slack, Telegram and event payloads); a receiver that is down or hangs costs acquire nothing.
add_executable(gateway_webhook_test "${example_dir}/dashboard_test/webhook.cpp")
target_include_directories(gateway_webhook_test PRIVATE "${example_dir}")
target_link_libraries(gateway_webhook_test PRIVATE keypool::keypool ${keypool_example_link_httplib}
                                                   ${keypool_example_link_nlohmann_json})
keypool_own_target(gateway_webhook_test)
add_test(NAME examples.gateway.webhook COMMAND gateway_webhook_test)
set_tests_properties(examples.gateway.webhook PROPERTIES LABELS examples TIMEOUT 60)
