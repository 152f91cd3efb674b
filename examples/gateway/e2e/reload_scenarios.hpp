// The reload scenarios of the end-to-end driver (included by e2e.cpp after ops_scenarios.hpp):
// keys files and reloads by SIGHUP and POST /admin/reload (keys added, removed, rotated; limits
// changed with their counts kept; refused reloads that change nothing), and three loose ends of
// the streaming work: one access line per streamed request, one x-request-id, bounded estimates.
#pragma once

namespace {

const std::string reload_token = "e2e-admin-token-reload-0123456789";

/// Writes a keys file readable by its owner only.
void write_keys(const fs::path& path, const std::string& text, fs::perms perms = fs::perms::owner_read | fs::perms::owner_write) {
  write_file(path, text);
  fs::permissions(path, perms, fs::perm_options::replace);
}

/// How many reloads the gateway has finished (applied or refused), from its log.
std::size_t reloads_done(const Child& gateway) {
  const std::string err = gateway.err();
  std::size_t count = 0;
  for (const char* outcome : {"reload: applied", "reload: refused", "reload: the configuration has a mistake", "reload: failed"})
    for (std::size_t at = err.find(outcome); at != std::string::npos; at = err.find(outcome, at + 1)) ++count;
  return count;
}

/// SIGHUP, then waits until the gateway has logged the reload's outcome.
void hangup(Rig& rig) {
  const std::size_t before = reloads_done(*rig.gateway);
  E2E_CHECK(rig.gateway->pid() > 0, "the gateway is not running\n" << rig.logs());
  kill(rig.gateway->pid(), SIGHUP);
  E2E_CHECK(eventually([&] { return reloads_done(*rig.gateway) > before; }), "no reload outcome logged\n" << rig.logs());
}

/// POST /admin/reload with the admin token.
httplib::Result admin_reload(Rig& rig, const std::string& token = reload_token) {
  auto answer = rig.gw->Post("/admin/reload", {{"Authorization", "Bearer " + token}}, "", "text/plain");
  E2E_CHECK(answer, "no answer to POST /admin/reload\n" << rig.logs());
  return answer;
}

/// The labels of the keys in /quota-status.
std::set<std::string> labels_of(const json& status) {
  std::set<std::string> labels;
  for (const json& key : status["keys"]) labels.insert(key["label"].get<std::string>());
  return labels;
}

/// Successful calls the fake saw with each of its keys (by position on its command line).
std::vector<int> fake_ok(Rig& rig) {
  std::vector<int> ok;
  const json stats = rig.fake_stats();
  for (const json& key : stats["keys"]) ok.push_back(key["ok"].get<int>());
  return ok;
}

std::string reload_config(const fs::path& keys, const std::string& limits = "  limit requests 1000 per day\n") {
  return globals + "provider groq\n  base_url FAKE/groq/openai/v1\n  keys_file " + keys.string() + "\n" + limits;
}

// ---- 6: reload keys without losing counts ----------------------------------------------------------

void reload_keys() {
  const fs::path keys = paths.work / "groq.keys";
  write_keys(keys, "# the team's groq keys\n\ngsk_test_reload_a\nteam-x gsk_test_reload_x1  # named: may be rotated\n");
  // The fake knows every key the test will use: a, b, c, x1, x2 (positions 0..4).
  Rig rig{{"groq:gsk_test_reload_a", "groq:gsk_test_reload_b", "groq:gsk_test_reload_c", "groq:gsk_test_reload_x1",
           "groq:gsk_test_reload_x2"},
          reload_config(keys), {{"GATEWAY_ADMIN_TOKEN", reload_token}}};
  E2E_CHECK(labels_of(rig.quota_status()) == (std::set<std::string>{"groq-1", "team-x"}), rig.quota_status().dump());
  for (int i = 0; i < 4; ++i) E2E_CHECK(rig.chat("before")->status == 200, rig.logs());
  json status = rig.quota_status();
  const std::uint64_t used_1 = used_of(status, "groq-1", "requests", "day");
  const std::uint64_t used_x = used_of(status, "team-x", "requests", "day");
  E2E_CHECK(used_1 + used_x == 4 && used_1 >= 1 && used_x >= 1, status.dump());
  note("keys_file: an unnamed key is labelled groq-1, a named one team-x; both serve (" + std::to_string(used_1) + " and " +
       std::to_string(used_x) + " requests)");

  // Add a key + SIGHUP: the new key serves; the old ones keep their day's counts.
  write_keys(keys, "gsk_test_reload_a\nteam-x gsk_test_reload_x1\ngsk_test_reload_b\n");
  hangup(rig);
  E2E_CHECK(rig.gateway->err().find("reload: applied key_added:groq-3") != std::string::npos, rig.logs());
  status = rig.quota_status();
  E2E_CHECK(labels_of(status) == (std::set<std::string>{"groq-1", "team-x", "groq-3"}), status.dump());
  E2E_CHECK(used_of(status, "groq-1", "requests", "day") == used_1 && used_of(status, "team-x", "requests", "day") == used_x &&
                used_of(status, "groq-3", "requests", "day") == 0,
            "the old keys keep their counts: " << status.dump());
  // (Round-robin is per server thread: with the two old keys disabled, the new one must serve.)
  const httplib::Headers admin{{"Authorization", "Bearer " + reload_token}};
  for (const char* label : {"groq-1", "team-x"})
    E2E_CHECK(rig.gw->Post(std::string{"/quota-status/disable?key="} + label, admin, "", "text/plain")->status == 200, "");
  for (int i = 0; i < 3; ++i) {
    const auto served = rig.chat("after add");
    E2E_CHECK(served->status == 200 && header(served, "X-Gateway-Key") == "groq-3", served->status << "\n" << rig.logs());
  }
  E2E_CHECK(fake_ok(rig)[1] == 3, "the added key's secret reached the fake: " << rig.fake_stats().dump());
  for (const char* label : {"groq-1", "team-x"})
    E2E_CHECK(rig.gw->Post(std::string{"/quota-status/enable?key="} + label, admin, "", "text/plain")->status == 200, "");
  status = rig.quota_status();
  E2E_CHECK(used_of(status, "groq-1", "requests", "day") == used_1 && used_of(status, "team-x", "requests", "day") == used_x &&
                used_of(status, "groq-3", "requests", "day") == 3,
            status.dump());
  note("a key added to the keys file + SIGHUP: groq-3 serves; groq-1 and team-x kept their day's counts");

  // Remove the key in the middle (by the admin endpoint): it is never used again; the others keep
  // their labels.
  write_keys(keys, "gsk_test_reload_a\ngsk_test_reload_b\n");  // team-x removed
  auto answer = admin_reload(rig);
  E2E_CHECK(answer->status == 200, answer->status << " " << answer->body << "\n" << rig.logs());
  json body = json::parse(answer->body);
  E2E_CHECK(body["reloaded"] == true && body["changes"].size() == 1 && body["changes"][0]["change"] == "key_removed" &&
                body["changes"][0]["label"] == "team-x" && body["changes"][0]["provider"] == "groq",
            answer->body);
  status = rig.quota_status();
  E2E_CHECK(labels_of(status) == (std::set<std::string>{"groq-1", "groq-3"}), status.dump());
  const std::vector<int> before_removed = fake_ok(rig);
  for (int i = 0; i < 6; ++i) {
    const auto served = rig.chat("after remove");
    E2E_CHECK(served->status == 200 && header(served, "X-Gateway-Key") != "team-x", header(served, "X-Gateway-Key"));
  }
  E2E_CHECK(fake_ok(rig)[3] == before_removed[3], "the removed key was used again: " << rig.fake_stats().dump());
  note("a key removed from the keys file (POST /admin/reload): the answer lists it, it is never used again; "
       "groq-1 and groq-3 keep their labels");

  // The removed name back (the pool takes the label back on its counters), then its secret
  // replaced: the fake sees only the new secret, never the removed key's old one.
  write_keys(keys, "gsk_test_reload_a\ngsk_test_reload_b\nteam-x gsk_test_reload_x1\n");
  answer = admin_reload(rig);
  E2E_CHECK(answer->status == 200 && json::parse(answer->body)["changes"][0]["change"] == "key_added", answer->body);
  E2E_CHECK(rig.gw->Post("/quota-status/disable?key=groq-1", admin, "", "text/plain")->status == 200, "");
  E2E_CHECK(rig.gw->Post("/quota-status/disable?key=groq-3", admin, "", "text/plain")->status == 200, "");
  E2E_CHECK(header(rig.chat("on x1"), "X-Gateway-Key") == "team-x", rig.logs());
  const std::uint64_t team_x_used = used_of(rig.quota_status(), "team-x", "requests", "day");
  write_keys(keys, "gsk_test_reload_a\ngsk_test_reload_b\nteam-x gsk_test_reload_x2\n");
  answer = admin_reload(rig);
  body = json::parse(answer->body);
  E2E_CHECK(answer->status == 200 && body["changes"].size() == 1 && body["changes"][0]["change"] == "key_rotated" &&
                body["changes"][0]["label"] == "team-x",
            answer->body);
  E2E_CHECK(answer->body.find("gsk_test_reload") == std::string::npos && rig.gateway->err().find("gsk_test_reload_x2") == std::string::npos,
            "a secret is never shown");
  const std::vector<int> before_rotation = fake_ok(rig);
  for (int i = 0; i < 3; ++i) {
    const auto served = rig.chat("on x2");
    E2E_CHECK(served->status == 200 && header(served, "X-Gateway-Key") == "team-x", served->status << "\n" << rig.logs());
  }
  const std::vector<int> after_rotation = fake_ok(rig);
  E2E_CHECK(after_rotation[4] == before_rotation[4] + 3 && after_rotation[3] == before_rotation[3],
            "the fake must see the new secret only: " << rig.fake_stats().dump());
  E2E_CHECK(used_of(rig.quota_status(), "team-x", "requests", "day") == team_x_used + 3,
            "a rotated key keeps its counts: " << rig.quota_status().dump());
  note("the removed name added again, then its secret replaced in the keys file: the fake sees only the new secret; "
       "the key keeps its label and counts");
}

void reload_limits() {
  const fs::path keys = paths.work / "groq.keys";
  write_keys(keys, "gsk_test_limits_a\n");
  Rig rig{{"groq:gsk_test_limits_a"}, reload_config(keys, "  limit requests 3 per day\n"), {{"GATEWAY_ADMIN_TOKEN", reload_token}}};
  for (int i = 0; i < 3; ++i) E2E_CHECK(rig.chat("x")->status == 200, rig.logs());
  E2E_CHECK(rig.chat("x")->status == 429, "the day's 3 requests are spent");
  // Rig wrote the config with FAKE replaced: rewrite it the same way.
  const std::string origin = "http://127.0.0.1:" + std::to_string(rig.fake_port);
  auto config_with = [&](const std::string& limits) {
    std::string config = reload_config(keys, limits);
    for (std::size_t at = config.find("FAKE"); at != std::string::npos; at = config.find("FAKE", at)) config.replace(at, 4, origin);
    return config;
  };
  write_file(paths.work / "gateway.conf", config_with("  limit requests 5 per day\n"));
  hangup(rig);
  json status = rig.quota_status();
  E2E_CHECK(used_of(status, "groq-1", "requests", "day") == 3, "the day's usage carries over: " << status.dump() << "\n" << rig.logs());
  const json limited_key = key_of(status, "groq-1");
  for (const json& limit : limited_key["limits"])
    if (limit["metric"] == "requests" && limit["window"] == "day") E2E_CHECK(limit["limit"] == 5, limit.dump());
  E2E_CHECK(rig.chat("x")->status == 200 && rig.chat("x")->status == 200, rig.logs());
  const auto spent = rig.chat("x");
  E2E_CHECK(spent->status == 429, "3 + 2 of 5: the day is spent again: " << spent->status);
  note("limit requests 3 per day raised to 5 + SIGHUP: the 3 used carry over; 2 more are served, then 429");

  // Another window: the day's usage carries over to the new layout too.
  write_file(paths.work / "gateway.conf", config_with("  limit requests 100 per minute\n  limit requests 6 per day\n"));
  const auto answer = admin_reload(rig);
  E2E_CHECK(answer->status == 200 && json::parse(answer->body)["changes"][0]["change"] == "limits_changed", answer->body);
  status = rig.quota_status();
  E2E_CHECK(used_of(status, "groq-1", "requests", "day") == 5, status.dump());
  E2E_CHECK(rig.chat("x")->status == 200 && rig.chat("x")->status == 429, "one more of 6, then 429\n" << rig.logs());
  note("a minute limit added and the day raised to 6: the day's 5 carry over; one more is served");
}

void reload_refused() {
  const fs::path keys = paths.work / "groq.keys";
  write_keys(keys, "gsk_test_refused_a\n");
  Rig rig{{"groq:gsk_test_refused_a", "groq:gsk_test_refused_b", "gemini:AIza_test_refused_c"},
          reload_config(keys), {{"GATEWAY_ADMIN_TOKEN", reload_token}}};
  const std::string origin = "http://127.0.0.1:" + std::to_string(rig.fake_port);
  const fs::path conf = paths.work / "gateway.conf";
  const std::string good = read_file(conf);
  E2E_CHECK(rig.chat("x")->status == 200, rig.logs());
  const json before = rig.quota_status();
  std::uint64_t used = used_of(before, "groq-1", "requests", "day");

  // The admin endpoint: no token, a wrong token.
  auto answer = rig.gw->Post("/admin/reload", "", "text/plain");
  E2E_CHECK(answer && answer->status == 401, (answer ? answer->body : "no answer"));
  check_openai_error(answer->body, "reload without a token");
  answer = admin_reload(rig, "wrong-token-wrong-token-wrong-tok");
  E2E_CHECK(answer->status == 401, answer->body);
  E2E_CHECK(rig.gateway->err().find("reload requested") == std::string::npos, "a refused caller must not reload");
  note("POST /admin/reload without the admin token, or with a wrong one: 401, no reload");

  struct Case {
    std::string what, config, keys_text;
    int status;
    std::string says;
  };
  const std::string groq = "provider groq\n  base_url FAKE/groq/openai/v1\n  keys_file " + keys.string() + "\n";
  const std::vector<Case> cases{
      {"a syntax error", good + "frobnicate 3\n", "gsk_test_refused_a\ngsk_test_refused_b\n", 422, "unknown directive 'frobnicate'"},
      {"a tier change", globals + groq + "  tier 2\n", "gsk_test_refused_a\ngsk_test_refused_b\n", 409, "tier changed (0 to 2)"},
      {"a provider removed", globals + "provider gemini\n  base_url FAKE/gemini/v1beta/openai\n", "", 409,
       "cannot remove a provider"},
      {"a base_url change", globals + "provider groq\n  base_url FAKE/other/v1\n  keys_file " + keys.string() + "\n",
       "gsk_test_refused_a\n", 409, "'base_url' changed"},
      {"keys_env and keys_file together", globals + groq + "  keys_env GROQ_API_KEY\n", "gsk_test_refused_a\ngsk_test_refused_b\n",
       422, "'keys_env' and 'keys_file' exclude each other"},
      {"a bad keys file line", good, "gsk_test_refused_a\na b c\n", 422, ":2: expected SECRET or NAME SECRET"},
      {"a secret twice", good, "gsk_test_refused_a\nother gsk_test_refused_a\n", 422, "this secret is given twice (first at line 1)"},
  };
  for (const Case& c : cases) {
    std::string config = c.config;
    for (std::size_t at = config.find("FAKE"); at != std::string::npos; at = config.find("FAKE", at)) config.replace(at, 4, origin);
    write_file(conf, config);
    write_keys(keys, c.keys_text.empty() ? "gsk_test_refused_a\n" : c.keys_text);
    answer = admin_reload(rig);
    E2E_CHECK(answer->status == c.status && answer->body.find(c.says) != std::string::npos &&
                  answer->body.find("nothing changed") != std::string::npos,
              c.what << ": " << answer->status << " " << answer->body);
    check_openai_error(answer->body, c.what);
    const std::size_t done = reloads_done(*rig.gateway);
    E2E_CHECK(rig.gateway->pid() > 0, "the gateway is not running\n" << rig.logs());
    kill(rig.gateway->pid(), SIGHUP);
    E2E_CHECK(eventually([&] { return reloads_done(*rig.gateway) > done; }), rig.logs());
    const std::string err = rig.gateway->err();
    E2E_CHECK(err.rfind("nothing changed") != std::string::npos && err.rfind(c.says) != std::string::npos &&
                  err.rfind(c.says) > err.rfind("reload requested"),
              c.what << ": the log says why\n" << rig.logs());
    const json status = rig.quota_status();
    E2E_CHECK(labels_of(status) == labels_of(before) && status["keys"].size() == 1 &&
                  used_of(status, "groq-1", "requests", "day") == used,
              c.what << ": something changed: " << status.dump());
    E2E_CHECK(rig.chat("still serving")->status == 200, c.what << "\n" << rig.logs());
    ++used;
  }
  note("a syntax error, a tier change, a provider removed, a base_url change, keys_env with keys_file, a bad keys file line "
       "and a secret given twice: "
       "each reload (endpoint and SIGHUP) changes nothing, says why (422/409 in OpenAI's shape, and a log line), and the "
       "gateway keeps serving");

  // A keys file others can read: refused at reload and at start, with ssh's advice.
  write_file(conf, good);
  write_keys(keys, "gsk_test_refused_a\ngsk_test_refused_b\n",
             fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  answer = admin_reload(rig);
  E2E_CHECK(answer->status == 422 && answer->body.find("permissions 0644 are too open") != std::string::npos &&
                answer->body.find("chmod 600") != std::string::npos,
            answer->status << " " << answer->body);
  E2E_CHECK(rig.quota_status()["keys"].size() == 1, "a refused keys file added a key");
  {
    Child start{"too_open", {paths.gateway, "--config", conf.string(), "--check"}, {}};
    const auto status = start.wait_exit(10s);
    E2E_CHECK(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 2 &&
                  start.err().find("gateway.conf:5: provider 'groq': keys_file") != std::string::npos &&
                  start.err().find("are too open") != std::string::npos,
              (status ? Child::describe(*status) : "still running") << "\n" << start.err());
  }
  note("a keys file others may read: the reload is refused (422) and the gateway refuses to start, at the keys_file line");

  // A new provider: added, serves.
  write_keys(keys, "gsk_test_refused_a\n");
  std::string with_gemini = good + "provider gemini\n  tier 1\n  base_url " + origin + "/gemini/v1beta/openai\n  keys_file " +
                            (paths.work / "gemini.keys").string() + "\n  model gemini-2.0-flash\n";
  write_keys(paths.work / "gemini.keys", "AIza_test_refused_c\n");
  write_file(conf, with_gemini);
  answer = admin_reload(rig);
  E2E_CHECK(answer->status == 200 && answer->body.find("provider_added") != std::string::npos &&
                answer->body.find("gemini-1") != std::string::npos,
            answer->status << " " << answer->body);
  E2E_CHECK(rig.gw->Post("/quota-status/disable?key=groq-1", {{"Authorization", "Bearer " + reload_token}}, "", "text/plain")->status == 200, "");
  const auto served = rig.chat("to gemini");
  E2E_CHECK(served->status == 200 && header(served, "X-Gateway-Provider") == "gemini" &&
                json::parse(served->body)["model"] == "gemini-2.0-flash",
            served->status << " " << served->body << "\n" << rig.logs());
  E2E_CHECK(rig.gw->Get("/metrics")->body.find("provider=\"gemini\",outcome=\"success\"} 1") != std::string::npos,
            rig.gw->Get("/metrics")->body);
  note("a provider added to the configuration: its keys serve (tier 1 after groq), /metrics counts its answers");

  // A limit change the store refuses (the state file keeps a label's counters: a new layout is
  // refused): nothing changes.
  const fs::path state_keys = paths.work / "state.keys";
  write_keys(state_keys, "gsk_test_refused_b\n");
  const std::string state = "state_file " + (paths.work / "quota.kp").string() + "\n";
  Rig stored{{"groq:gsk_test_refused_b"}, state + reload_config(state_keys, "  limit requests 10 per day\n"),
             {{"GATEWAY_ADMIN_TOKEN", reload_token}}, "_state"};
  E2E_CHECK(stored.chat("x")->status == 200, stored.logs());
  std::string refused_limits = state + reload_config(state_keys, "  limit requests 100 per minute\n  limit requests 10 per day\n");
  const std::string stored_origin = "http://127.0.0.1:" + std::to_string(stored.fake_port);
  for (std::size_t at = refused_limits.find("FAKE"); at != std::string::npos; at = refused_limits.find("FAKE", at))
    refused_limits.replace(at, 4, stored_origin);
  write_file(paths.work / "gateway_state.conf", refused_limits);
  answer = admin_reload(stored);
  E2E_CHECK(answer->status == 409 && answer->body.find("limits_refused") != std::string::npos, answer->status << " " << answer->body);
  const json kept = stored.quota_status();
  E2E_CHECK(key_of(kept, "groq-1")["limits"].size() == 1 && used_of(kept, "groq-1", "requests", "day") == 1, kept.dump());
  E2E_CHECK(stored.chat("x")->status == 200, stored.logs());
  note("with state_file, a new limit layout is refused by the store (409 limits_refused): the key keeps its limits and count");
}

// ---- The access line and request id of a streamed answer; bounded estimates ------------------------

void stream_log() {
  Rig rig{{"groq:gsk_test_streamlog_1"}, globals + groq_block, {{"GROQ_API_KEY", "gsk_test_streamlog_1"}}};
  const auto answer = rig.chat(std::string(40, 'x'), {}, R"("stream":true,)");
  E2E_CHECK(answer->status == 200 && sse_data(answer->body).back() == "[DONE]", answer->body);
  E2E_CHECK(answer->headers.count("x-request-id") == 1,
            "one x-request-id, not two: " << answer->headers.count("x-request-id"));
  const std::string id = header(answer, "x-request-id");
  E2E_CHECK(id.starts_with("req_") && !id.starts_with("req_fake_"), "the gateway's own id: " << id);
  E2E_CHECK(header(answer, "X-Provider-Request-Id").starts_with("req_fake_"),
            "the provider's id under X-Provider-Request-Id: '" << header(answer, "X-Provider-Request-Id") << "'");
  note("a streamed answer carries one x-request-id (the gateway's) and the provider's as X-Provider-Request-Id");

  E2E_CHECK(eventually([&] { return !access_lines(rig.gateway->err()).empty(); }), rig.logs());
  const std::vector<json> lines = access_lines(rig.gateway->err());
  E2E_CHECK(lines.size() == 1, "one access line for the stream: " << rig.gateway->err());
  const json& line = lines.back();
  E2E_CHECK(line["request_id"] == id && line["status"] == 200 && line["provider"] == "groq" && line["key"] == "groq-1" &&
                line["attempts"] == 1 && line["tokens"] == 22 && line["result"] == "ok" && line["stream"] == "complete" &&
                line["usage"] == "reported",
            line.dump());
  E2E_CHECK(rig.gateway->err().find(" 200 stream ") == std::string::npos, "no line of its own:\n" << rig.gateway->err());
  note("one JSON access line for the streamed request, with its tokens (22, reported), provider, key and attempts: " + line.dump());
}

void bounded_estimate() {
  Rig rig{{"openai:sk-test-bounded-1"}, globals + R"(
provider openai
  base_url FAKE/openai/v1
  keys_env OPENAI_API_KEY
  limit tokens 2500000 per request
)",
          {{"OPENAI_API_KEY", "sk-test-bounded-1"}}};
  // 2,000,000 token ids (4 MB, under the 4 MiB body limit) and a million completion tokens: an
  // unbounded sum would say 3,000,000 and refuse it; the bounded estimate is 2,048,576.
  std::string prompt = "[[0";
  prompt.reserve(4'000'100);
  for (int i = 1; i < 2'000'000; ++i) prompt += ",0";
  prompt += "]]";
  const std::string body = R"({"model":"m","max_tokens":1000000,"prompt":)" + prompt + "}";
  const auto answer = rig.gw->Post("/v1/completions", body, "application/json");
  E2E_CHECK(answer && answer->status == 200, (answer ? std::to_string(answer->status) + " " + answer->body.substr(0, 400) : "no answer")
                                                 << "\n" << rig.logs());
  note("a 4 MB completions prompt of 2,000,000 token ids with max_tokens 1,000,000: the estimate stays at the bound "
       "(2,048,576 tokens), under the key's 2,500,000 per request");
  std::string input = "[[0";
  input.reserve(4'000'100);
  for (int i = 1; i < 2'090'000; ++i) input += ",0";
  input += "]]";
  const auto embedded = rig.gw->Post("/v1/embeddings", R"({"model":"m","input":)" + input + "}", "application/json");
  E2E_CHECK(embedded && embedded->status == 200, (embedded ? std::to_string(embedded->status) : "no answer") << "\n" << rig.logs());
  note("embeddings of 2,090,000 token ids: served, the estimate within the bound");
}

}  // namespace
