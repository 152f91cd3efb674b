// The operations and hardening scenarios of the end-to-end driver (included by e2e.cpp after its
// rig): hostile input, slow clients, a taken port, the access log and /metrics' causes, counts
// kept in a state file and shared through Redis, the admin key endpoints and SIGHUP.
#pragma once

#include <poll.h>

namespace {

/// A gateway on `config` (FAKE replaced by `fake_port`'s origin) as a child named `name`.
std::unique_ptr<Child> start_gateway(const std::string& name, std::string config, int fake_port,
                                     std::map<std::string, std::string> env, std::optional<int> port = 0) {
  const std::string origin = "http://127.0.0.1:" + std::to_string(fake_port);
  for (std::size_t at = config.find("FAKE"); at != std::string::npos; at = config.find("FAKE", at))
    config.replace(at, 4, origin);
  const fs::path conf = paths.work / (name + ".conf");
  write_file(conf, config);
  std::vector<std::string> argv{paths.gateway, "--config", conf.string()};
  if (port) {
    argv.push_back("--port");
    argv.push_back(std::to_string(*port));
  }
  return std::make_unique<Child>(name, argv, std::move(env));
}

/// A TCP connection to 127.0.0.1:`port` (blocking), or a Failure.
int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Failure("socket failed");
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    close(fd);
    throw Failure("cannot connect to port " + std::to_string(port));
  }
  return fd;
}

/// Sends `request` raw and reads the answer until the server closes or `timeout` passes.
std::string raw_exchange(int port, const std::string& request, std::chrono::milliseconds timeout = 10s) {
  const int fd = connect_to(port);
  // Sent on another thread while this one reads: a server that answers before the whole body
  // (a refused one) is heard before it closes.
  std::thread sender{[&] {
    std::size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server closed early
      sent += static_cast<std::size_t>(n);
    }
  }};
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) {
      if (answer.find("\r\n\r\n") != std::string::npos) {
        // A whole answer with Content-Length: done.
        const auto head_end = answer.find("\r\n\r\n");
        std::smatch m;
        const std::string head = answer.substr(0, head_end);
        if (std::regex_search(head, m, std::regex{R"(Content-Length: (\d+))", std::regex::icase}) &&
            answer.size() >= head_end + 4 + std::stoul(m[1]))
          break;
      }
      continue;
    }
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  shutdown(fd, SHUT_RDWR);  // ends a send still blocked
  sender.join();
  close(fd);
  return answer;
}

/// The status and body of a raw HTTP answer (the last one, after any 100 Continue).
std::pair<int, std::string> status_and_body(const std::string& answer) {
  std::size_t at = 0;
  std::smatch match;
  std::string rest = answer;
  while (std::regex_search(rest, match, std::regex{R"(^HTTP/1\.[01] 100[^\r]*\r\n\r\n)"})) rest = match.suffix();
  if (!std::regex_search(rest, match, std::regex{R"(^HTTP/1\.[01] (\d{3}))"})) return {0, answer.substr(0, 200)};
  const int status = std::stoi(match[1]);
  at = rest.find("\r\n\r\n");
  return {status, at == std::string::npos ? std::string{} : rest.substr(at + 4)};
}

/// Checks that `body` is an error in OpenAI's shape and says nothing of a library's internals.
void check_openai_error(const std::string& body, const std::string& what) {
  E2E_CHECK(json::accept(body), what << ": the body is not JSON: " << body.substr(0, 300));
  const json error = json::parse(body)["error"];
  E2E_CHECK(error.is_object() && error["message"].is_string() && error["type"].is_string() && error.contains("param") &&
                error.contains("code"),
            what << ": not OpenAI's error shape: " << body);
  E2E_CHECK(body.find("json.exception") == std::string::npos && body.find("parse_error") == std::string::npos,
            what << ": internal exception text in the answer: " << body);
}

/// VmRSS of process `pid` in KiB.
long resident_kib(pid_t pid) {
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  return -1;
}

/// The JSON access lines of a gateway's stderr (lines that start with '{').
std::vector<json> access_lines(const std::string& err) {
  std::vector<json> lines;
  std::istringstream in{err};
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("{") && line.find("\"request_id\"") != std::string::npos) lines.push_back(json::parse(line));
  return lines;
}

std::string chat_body(const std::string& extra = "") {
  return R"({"model":"client-model",)" + extra + R"("messages":[{"role":"user","content":"hi"}]})";
}

// ---- 7: hostile input -------------------------------------------------------------------------------

void hostile_input() {
  Rig rig{{"groq:gsk_test_hostile_2121"}, globals + groq_block, {{"GROQ_API_KEY", "gsk_test_hostile_2121"}}};
  const auto alive = [&] {
    const auto answer = rig.chat("still there?");
    E2E_CHECK(answer->status == 200, "the gateway must still serve: " << answer->status << "\n" << rig.logs());
  };

  // 100,000 nested arrays (200 KB): refused before any parse, copy or dump.
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  for (const std::string& body : {deep, R"({"model":)" + deep + R"(,"messages":[{"role":"user","content":"x"}]})"}) {
    const auto answer = rig.gw->Post("/v1/chat/completions", body, "application/json");
    E2E_CHECK(answer, "no answer to a deeply nested body (crashed?)\n" << rig.logs());
    E2E_CHECK(answer->status == 400, answer->status << " " << answer->body);
    check_openai_error(answer->body, "deep nesting");
  }
  alive();
  note("100,000 nested arrays (in the body or in \"model\"): 400 with an OpenAI error, and the gateway lives on");

  // Invalid UTF-8 in a string.
  for (const std::string& bad : {std::string{"\xff\xfe"}, std::string{"\xc0\xaf"}, std::string{"\xed\xa0\x80"}}) {
    const std::string body = R"({"messages":[{"role":"user","content":")" + bad + R"("}]})";
    const auto answer = rig.gw->Post("/v1/chat/completions", body, "application/json");
    E2E_CHECK(answer && answer->status == 400, (answer ? std::to_string(answer->status) + " " + answer->body : "no answer"));
    check_openai_error(answer->body, "invalid UTF-8");
    E2E_CHECK(!answer->has_header("EXCEPTION_WHAT"), "internal exception text in a header: " << answer->get_header_value("EXCEPTION_WHAT"));
  }
  for (const std::string& body : {std::string{"not json"}, std::string{"[1,2]"}, std::string{"{\"messages\":"}}) {
    const auto answer = rig.gw->Post("/v1/chat/completions", body, "application/json");
    E2E_CHECK(answer && answer->status == 400, body << ": " << (answer ? answer->body : "no answer"));
    check_openai_error(answer->body, body);
  }
  note("invalid UTF-8 (three kinds) and other bad bodies: 400, OpenAI's error shape, no internal text");

  // max_tokens: nonsense is refused, never replaced.
  const std::uint64_t ok_before = rig.fake_stats()["keys"][0]["ok"].get<std::uint64_t>();
  for (const std::string value : {"-1", "0", "1.5", "1e30", "\"100\"", "18446744073709551614", "1000001", "true", "[]"}) {
    for (const std::string name : {"max_tokens", "max_completion_tokens"}) {
      const auto answer = rig.gw->Post("/v1/chat/completions", chat_body("\"" + name + "\":" + value + ","), "application/json");
      E2E_CHECK(answer && answer->status == 400, name << "=" << value << ": " << (answer ? answer->body : "no answer"));
      check_openai_error(answer->body, name + "=" + value);
      E2E_CHECK(json::parse(answer->body)["error"]["param"] == name, answer->body);
    }
  }
  E2E_CHECK(rig.fake_stats()["keys"][0]["ok"].get<std::uint64_t>() == ok_before, "a refused request reached the provider");
  // 1,000,000 is valid, but more than this key's 100,000 tokens a day: the pool's 413, not a 400.
  auto answer = rig.gw->Post("/v1/chat/completions", chat_body("\"max_tokens\":1000000,"), "application/json");
  E2E_CHECK(answer && answer->status == 413 && json::parse(answer->body)["error"]["type"] == "request_too_large",
            (answer ? answer->body : "no answer"));
  answer = rig.gw->Post("/v1/chat/completions", chat_body("\"max_tokens\":5000,"), "application/json");
  E2E_CHECK(answer && answer->status == 200, (answer ? answer->body : "no answer"));
  answer = rig.gw->Post("/v1/chat/completions", chat_body("\"max_tokens\":null,"), "application/json");
  E2E_CHECK(answer && answer->status == 200, (answer ? answer->body : "no answer"));
  note("max_tokens of -1, 0, 1.5, 1e30, \"100\", 2^64-2, 1000001, true, []: 400 naming the field; 5000 and null pass, "
       "1000000 passes the check and is refused by the pool as too large for any key (413)");

  // Bodies above 4 MiB: declared, or chunked (the limit holds before the body is buffered).
  const pid_t pid = rig.gateway->pid();
  const long before = resident_kib(pid);
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";
  {
    const std::string big(64u << 20, 'a');  // 64 MiB, in 1 MiB chunks
    std::string request = head + "Transfer-Encoding: chunked\r\n\r\n";
    request.reserve(big.size() + 1'000);
    const std::size_t chunk = 1u << 20;
    for (std::size_t at = 0; at < big.size(); at += chunk) {
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", chunk);
      request += size;
      request.append(big, at, chunk);
      request += "\r\n";
    }
    request += "0\r\n\r\n";
    const auto [status, body] = status_and_body(raw_exchange(rig.gateway_port, request));
    E2E_CHECK(status == 413, "a 64 MiB chunked body: status " << status << " " << body << "\n" << rig.logs());
    check_openai_error(body, "chunked 413");
  }
  const long after = resident_kib(pid);
  E2E_CHECK(after - before < 32 * 1024, "64 MiB chunked body: resident memory grew from " << before << " KiB to " << after << " KiB");
  {
    const std::string request = head + "Content-Length: 8388608\r\n\r\n" + std::string(8u << 20, 'a');
    const auto [status, body] = status_and_body(raw_exchange(rig.gateway_port, request));
    E2E_CHECK(status == 413, "an 8 MiB body: status " << status << " " << body);
    check_openai_error(body, "declared 413");
  }
  alive();
  note("a 64 MiB chunked body and an 8 MiB declared one: 413 with an OpenAI error; resident memory grew " +
       std::to_string((after - before) / 1024) + " MiB");

  // A percent-encoded newline in the path (and in a header value) cannot forge a log line.
  answer = rig.gw->Get("/v1/models%0AFORGED%20chat%2010.0.0.1%0D%0A%7B%22request_id%22:%22x%22%7D");
  E2E_CHECK(answer, "no answer");
  answer = rig.gw->Post("/quota-status/reset%0AFORGED", "", "text/plain");
  E2E_CHECK(eventually([&] {
              std::size_t forged_paths = 0;
              for (const json& line : access_lines(rig.gateway->err()))
                if (line["path"].get<std::string>().find("\nFORGED") != std::string::npos) ++forged_paths;
              return forged_paths == 2;
            }),
            "both requests' paths, newline and all, must be in their own access lines\n" << rig.logs());
  std::istringstream lines{rig.gateway->err()};
  for (std::string line; std::getline(lines, line);) {
    E2E_CHECK(!line.starts_with("FORGED") && !line.starts_with("{\"request_id\":\"x\"}"), "a forged log line: " << line);
    if (line.starts_with("{")) E2E_CHECK(json::accept(line), "an access line is not JSON: " << line);
  }
  note("a percent-encoded CR LF in the path stays inside its (JSON) log line");

  const std::string metrics = rig.gw->Get("/metrics")->body;
  E2E_CHECK(metrics.find("keypool_gateway_requests_total{result=\"payload_too_large\"} 2") != std::string::npos, metrics);
  E2E_CHECK(metrics.find("keypool_gateway_requests_total{result=\"keys_exhausted\"} 0") != std::string::npos, metrics);
  note("/metrics counts the two 413s as payload_too_large, not keys_exhausted");
}

// ---- 7: slow clients --------------------------------------------------------------------------------

void slow_clients() {
  Rig rig{{"groq:gsk_test_slow_2222"}, "threads 4\n" + globals + groq_block, {{"GROQ_API_KEY", "gsk_test_slow_2222"}}};
  // 16 connections that send their headers one byte every 500 ms (each read comes well within
  // the read timeout): four times the threads.
  std::vector<int> slow;
  for (int i = 0; i < 16; ++i) slow.push_back(connect_to(rig.gateway_port));
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  std::atomic<bool> stop{false};
  std::thread dribbler{[&] {
    std::size_t at = 0;
    while (!stop.load()) {
      for (const int fd : slow) send(fd, head.data() + (at % head.size()), 1, MSG_NOSIGNAL);
      ++at;
      for (int i = 0; i < 10 && !stop.load(); ++i) std::this_thread::sleep_for(50ms);
    }
  }};
  std::this_thread::sleep_for(1500ms);  // they hold their workers now
  std::string failure;
  for (int i = 0; i < 3 && failure.empty(); ++i) {
    const auto started = std::chrono::steady_clock::now();
    httplib::Client client{"127.0.0.1", rig.gateway_port};
    client.set_read_timeout(4, 0);
    const auto answer = client.Post("/v1/chat/completions", chat_body(), "application/json");
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    if (!answer || answer->status != 200 || took > 1500ms)
      failure = "request " + std::to_string(i + 1) + " while 16 clients dribble their headers: " +
                (answer ? std::to_string(answer->status) : httplib::to_string(answer.error())) + " after " +
                std::to_string(took.count()) + " ms";
  }
  stop.store(true);
  dribbler.join();
  for (const int fd : slow) close(fd);
  E2E_CHECK(failure.empty(), failure << "\n" << rig.logs());
  note("16 slow-header connections (4 threads configured): three normal requests are each served within 1.5 s");

  // A client that stops sending is dropped after the read timeout (client_timeout, 5 s).
  const int idle = connect_to(rig.gateway_port);
  send(idle, head.data(), 10, MSG_NOSIGNAL);
  const auto started = std::chrono::steady_clock::now();
  char byte;
  pollfd p{idle, POLLIN, 0};
  const int ready = poll(&p, 1, 9000);
  const ssize_t n = ready > 0 ? recv(idle, &byte, 1, 0) : -1;
  const auto took = std::chrono::steady_clock::now() - started;
  close(idle);
  E2E_CHECK(ready > 0 && took < 8s, "a silent client must be dropped within the read timeout (read " << n << ")");
  note("a client that goes silent mid-headers is dropped after " +
       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) + " ms");
}

// ---- 5: one gateway per port ----------------------------------------------------------------------

void port_taken() {
  Rig rig{{"groq:gsk_test_port_2323"}, globals + groq_block, {{"GROQ_API_KEY", "gsk_test_port_2323"}}};
  auto second = start_gateway("gateway_second", globals + groq_block, rig.fake_port,
                              {{"GROQ_API_KEY", "gsk_test_port_2323"}}, rig.gateway_port);
  const auto status = second->wait_exit(10s);
  E2E_CHECK(status, "a second gateway on port " << rig.gateway_port << " keeps running:\n" << second->out() << second->err());
  E2E_CHECK(WIFEXITED(*status) && WEXITSTATUS(*status) == 1, Child::describe(*status) << "\n" << second->err());
  E2E_CHECK(second->err().find("cannot listen") != std::string::npos && second->out().find("listening") == std::string::npos,
            second->out() << second->err());
  for (int i = 0; i < 4; ++i) E2E_CHECK(rig.chat("hi")->status == 200, rig.logs());
  // (The access line is written just after the answer.)
  E2E_CHECK(eventually([&] { return access_lines(rig.gateway->err()).size() >= 4; }),
            "the first gateway must serve every request\n" << rig.logs());
  note("a second gateway on a taken port exits 1 ('cannot listen'); the first serves every request");
}

// ---- 8: access log and metrics ------------------------------------------------------------------------

void access_log() {
  Rig rig{{"groq:gsk_test_log_2424"}, "client_limit 3 per minute\nbackoff 10ms\n" + groq_block,
          {{"GROQ_API_KEY", "gsk_test_log_2424"}}};
  auto answer = rig.chat("0123456789abcdef", {}, R"("max_tokens":5,)");
  E2E_CHECK(answer->status == 200, answer->body << rig.logs());
  const std::string id = header(answer, "x-request-id");
  E2E_CHECK(std::regex_match(id, std::regex{"req_[0-9a-f]{16}"}), "x-request-id: '" << id << "'");
  E2E_CHECK(eventually([&] { return !access_lines(rig.gateway->err()).empty(); }), rig.logs());
  json line = access_lines(rig.gateway->err()).back();
  E2E_CHECK(line["request_id"] == id && line["client"] == "127.0.0.1" && line["method"] == "POST" &&
                line["path"] == "/v1/chat/completions" && line["model"] == "client-model" && line["provider"] == "groq" &&
                line["key"] == "groq-1" && line["status"] == 200 && line["attempts"] == 1 && line["tokens"] == 9 &&
                line["result"] == "ok" && line["latency_ms"].is_number(),
            line.dump());
  E2E_CHECK(std::regex_match(line["time"].get<std::string>(), std::regex{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"}),
            line.dump());
  note("one JSON line per request: " + line.dump());

  E2E_CHECK(rig.chat("x")->status == 200 && rig.chat("x")->status == 200, rig.logs());
  answer = rig.chat("x");
  E2E_CHECK(answer->status == 429, answer->status << " " << answer->body);
  E2E_CHECK(eventually([&] { return access_lines(rig.gateway->err()).back()["status"] == 429; }), rig.logs());
  line = access_lines(rig.gateway->err()).back();
  E2E_CHECK(line["status"] == 429 && line["cause"] == "client_limit" && line["result"] == "client_limited", line.dump());
  note("a client's 429 says cause client_limit");

  Rig keys{{"groq:gsk_test_keys_2525:rpd=1"}, globals + R"(
provider groq
  base_url FAKE/groq/openai/v1
  limit requests 1 per day
)",
           {{"GROQ_API_KEY", "gsk_test_keys_2525"}}, "_keys"};
  E2E_CHECK(keys.chat("x")->status == 200, keys.logs());
  answer = keys.chat("x");
  E2E_CHECK(answer->status == 429, answer->status << " " << answer->body);
  E2E_CHECK(eventually([&] { return access_lines(keys.gateway->err()).size() >= 2; }), keys.logs());
  line = access_lines(keys.gateway->err()).back();
  E2E_CHECK(line["status"] == 429 && line["cause"] == "keys" && line["reason"] == "exhausted" &&
                line["result"] == "keys_exhausted",
            line.dump());
  note("the keys' 429 says cause keys, reason exhausted");

  // Two keys both refused by the provider (unknown to it): every key is disabled; the docs say 503.
  Rig refused{{"groq:gsk_test_other_2626"}, "max_attempts 2\n" + globals + R"(
provider groq
  base_url FAKE/groq/openai/v1
)",
              {{"GROQ_API_KEYS", "gsk_unknown_1,gsk_unknown_2"}}, "_refused"};
  answer = refused.chat("x");
  E2E_CHECK(answer->status == 503, "every key refused: " << answer->status << " " << answer->body << "\n" << refused.logs());
  E2E_CHECK(json::parse(answer->body)["error"]["type"] == "no_keys_available", answer->body);
  answer = refused.chat("x");
  E2E_CHECK(answer->status == 503, answer->status << " " << answer->body);
  const std::string metrics = refused.gw->Get("/metrics")->body;
  E2E_CHECK(metrics.find("keypool_gateway_requests_total{result=\"no_keys\"} 2") != std::string::npos &&
                metrics.find("keypool_gateway_requests_total{result=\"upstream_failed\"} 0") != std::string::npos &&
                metrics.find("keypool_gateway_requests_total{result=\"keys_exhausted\"} 0") != std::string::npos,
            metrics);
  note("every key refused by the provider: 503 no_keys_available (as documented), counted as no_keys");

  const auto bad = keys.gw->Post("/v1/chat/completions", "{", "application/json");
  const std::string keys_metrics = keys.gw->Get("/metrics")->body;
  E2E_CHECK(keys_metrics.find("keypool_gateway_requests_total{result=\"invalid_request\"} 1") != std::string::npos &&
                keys_metrics.find("keypool_gateway_requests_total{result=\"keys_exhausted\"} 1") != std::string::npos,
            keys_metrics);
  note("/metrics counts invalid_request and keys_exhausted apart");
}

// ---- 4: counts in a state file, and in Redis ----------------------------------------------------------

const std::string daily_block = R"(
provider groq
  base_url FAKE/groq/openai/v1
  limit requests 3 per day
)";

/// Alternates `count` requests over `gateways`; returns how many were served (200).
int spread(std::vector<std::unique_ptr<httplib::Client>>& gateways, int count) {
  int served = 0;
  for (int i = 0; i < count; ++i) {
    const auto answer = gateways[static_cast<std::size_t>(i) % gateways.size()]->Post("/v1/chat/completions", chat_body(),
                                                                                     "application/json");
    E2E_CHECK(answer, "no answer");
    E2E_CHECK(answer->status == 200 || answer->status == 429, answer->status << " " << answer->body);
    if (answer->status == 200) ++served;
  }
  return served;
}

void state_file() {
  const fs::path state = paths.work / "quota.kp";
  const std::string config = "state_file " + state.string() + "\n" + globals + daily_block;
  Rig rig{{"groq:gsk_test_state_2727"}, config, {{"GROQ_API_KEY", "gsk_test_state_2727"}}};
  E2E_CHECK(rig.chat("a")->status == 200 && rig.chat("b")->status == 200, rig.logs());
  rig.gateway->stop(SIGKILL);
  auto restarted = start_gateway("gateway_restarted", config, rig.fake_port, {{"GROQ_API_KEY", "gsk_test_state_2727"}});
  httplib::Client client{"127.0.0.1", restarted->port()};
  auto answer = client.Post("/v1/chat/completions", chat_body(), "application/json");
  E2E_CHECK(answer && answer->status == 200, (answer ? answer->body : "no answer") << restarted->err());
  answer = client.Post("/v1/chat/completions", chat_body(), "application/json");
  E2E_CHECK(answer && answer->status == 429, (answer ? answer->body : "no answer") << restarted->err());
  E2E_CHECK(json::parse(answer->body)["error"]["reason"] == "exhausted", answer->body);
  E2E_CHECK(rig.fake_stats()["keys"][0]["ok"] == 3, rig.fake_stats().dump());
  note("2 requests, SIGKILL, restart on the same state file: 1 more is served, then 429 (3 per day, 3 sent)");

  // Two gateways on one state file share the day.
  const fs::path shared = paths.work / "shared.kp";
  const std::string shared_config = "state_file " + shared.string() + "\n" + globals + daily_block;
  auto one = start_gateway("gateway_one", shared_config, rig.fake_port, {{"GROQ_API_KEY", "gsk_test_state_2727"}});
  auto two = start_gateway("gateway_two", shared_config, rig.fake_port, {{"GROQ_API_KEY", "gsk_test_state_2727"}});
  std::vector<std::unique_ptr<httplib::Client>> clients;
  clients.push_back(std::make_unique<httplib::Client>("127.0.0.1", one->port()));
  clients.push_back(std::make_unique<httplib::Client>("127.0.0.1", two->port()));
  rig.provider->Post("/admin/reset", "", "text/plain");
  const int served = spread(clients, 10);
  E2E_CHECK(served == 3, "two gateways on one state file served " << served << " of 10 (3 per day)\n" << one->err() << two->err());
  E2E_CHECK(rig.fake_stats()["keys"][0]["ok"] == 3, rig.fake_stats().dump());
  note("two gateways on one state file, 10 requests alternated: 3 served together (3 per day)");
}

/// A redis-server on a free loopback port, stopped when destroyed.
struct RedisChild {
  std::unique_ptr<Child> child;
  int port = 0;
  RedisChild() {
    std::string binary;
    for (const char* candidate : std::initializer_list<const char*>{std::getenv("KEYPOOL_REDIS_SERVER"), "/usr/bin/redis-server",
                                                                     "/usr/local/bin/redis-server"})
      if (candidate != nullptr && *candidate != '\0' && access(candidate, X_OK) == 0) {
        binary = candidate;
        break;
      }
    if (binary.empty()) throw Failure("redis-server not found (install redis-server, or set KEYPOOL_REDIS_SERVER)");
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    socklen_t size = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0)
      throw Failure("no free port for redis-server");
    port = ntohs(address.sin_port);
    close(fd);
    child = std::make_unique<Child>("redis", std::vector<std::string>{binary, "--port", std::to_string(port), "--bind",
                                                                      "127.0.0.1", "--save", "", "--appendonly", "no"},
                                    std::map<std::string, std::string>{});
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        if (raw_exchange(port, "PING\r\n", 300ms).starts_with("+PONG")) return;
      } catch (const Failure&) {
      }
      std::this_thread::sleep_for(20ms);
    }
    throw Failure("redis-server did not answer PING:\n" + child->err());
  }
};

void redis_fleet() {
  RedisChild redis;
  const std::string config =
      "redis 127.0.0.1 " + std::to_string(redis.port) + " prefix e2e\n" + globals + daily_block;
  Rig rig{{"groq:gsk_test_redis_2828"}, config, {{"GROQ_API_KEY", "gsk_test_redis_2828"}}};
  auto two = start_gateway("gateway_two", config, rig.fake_port, {{"GROQ_API_KEY", "gsk_test_redis_2828"}});
  std::vector<std::unique_ptr<httplib::Client>> clients;
  clients.push_back(std::make_unique<httplib::Client>("127.0.0.1", rig.gateway_port));
  clients.push_back(std::make_unique<httplib::Client>("127.0.0.1", two->port()));
  const int served = spread(clients, 10);
  E2E_CHECK(served >= 1 && served <= 3, "two gateways on one Redis served " << served << " of 10 (3 per day)\n"
                                                                           << rig.logs() << two->err());
  E2E_CHECK(rig.fake_stats()["keys"][0]["ok"].get<int>() == served, rig.fake_stats().dump());
  note("two gateways sharing one Redis, 10 requests alternated: " + std::to_string(served) + " served (never more than 3 per day)");

  // A restart of both keeps the day: Redis holds it.
  rig.gateway->stop(SIGKILL);
  two->stop(SIGTERM);
  auto three = start_gateway("gateway_three", config, rig.fake_port, {{"GROQ_API_KEY", "gsk_test_redis_2828"}});
  std::vector<std::unique_ptr<httplib::Client>> after;
  after.push_back(std::make_unique<httplib::Client>("127.0.0.1", three->port()));
  const int more = spread(after, 5);
  E2E_CHECK(served + more <= 3, "after a restart " << more << " more were served (" << served << " before; 3 per day)\n"
                                                   << three->err());
  note("after both are stopped, a new gateway on the same Redis serves " + std::to_string(more) + " more (3 in all at most)");
}

/// The new directives' mistakes, each at its line with exit status 2.
void ops_config() {
  const std::string provider = "provider groq\n  base_url http://127.0.0.1:9/v1\n";
  struct Case {
    std::string text;
    int line;
    std::string says;
  };
  const std::vector<Case> cases{
      {"state_file a.kp\nredis 127.0.0.1 6379\n" + provider, 2, "'state_file' and 'redis' exclude each other (the other is at line 1)"},
      {"redis 127.0.0.1\n" + provider, 1, "'redis' expects: redis HOST PORT [prefix NAME]"},
      {"redis 127.0.0.1 70000\n" + provider, 1, "out of range (1 to 65535)"},
      {"redis 127.0.0.1 6379 pool x\n" + provider, 1, "'redis' expects"},
      {"state_file\n" + provider, 1, "'state_file' expects: state_file PATH"},
      {"state_file " + (paths.work / "no-such-directory" / "quota.kp").string() + "\n" + provider, 1, "'state_file': "},
      {"connections 8\n" + provider, 1, "out of range (16 to 4096)"},
      {"client_timeout 10ms\n" + provider, 1, "'client_timeout' must be from 100ms to 5m"},
      {"client_timeout 1h\n" + provider, 1, "'client_timeout' must be from 100ms to 5m"},
  };
  const std::map<std::string, std::string> env{{"GROQ_API_KEY", "gsk_test_config_3232"}};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const fs::path conf = paths.work / "gateway.conf";
    write_file(conf, cases[i].text);
    Child child{"ops_config_" + std::to_string(i), {paths.gateway, "--config", conf.string(), "--check"}, env};
    const auto status = child.wait_exit(10s);
    E2E_CHECK(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 2,
              "case " << i << ": " << (status ? Child::describe(*status) : "still running") << "\n" << child.err());
    const std::string where = "gateway.conf:" + std::to_string(cases[i].line) + ": ";
    E2E_CHECK(child.err().find(where) != std::string::npos && child.err().find(cases[i].says) != std::string::npos,
              "case " << i << ": expected '" << where << "…" << cases[i].says << "' in stderr, got:\n" << child.err());
  }
  note(std::to_string(cases.size()) + " mistakes in state_file, redis, connections and client_timeout: each exits 2 at its line");
  const fs::path conf = paths.work / "good.conf";
  write_file(conf, "state_file " + (paths.work / "quota.kp").string() + "\nconnections 128\nclient_timeout 10s\n" + provider);
  Child good{"ops_config_good", {paths.gateway, "--config", conf.string(), "--check"}, env};
  const auto status = good.wait_exit(10s);
  E2E_CHECK(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0, good.err());
  E2E_CHECK(fs::exists(paths.work / "quota.kp"), "--check opens (creates) the state file");
  note("a valid state_file, connections and client_timeout pass --check");
}

// ---- 6 (part): admin key endpoints and SIGHUP ---------------------------------------------------------

void admin_keys() {
  const std::string token = "e2e-admin-token-keys-0123456789ab";
  const httplib::Headers auth{{"Authorization", "Bearer " + token}};
  Rig rig{{"groq:gsk_test_keys_a_3030", "groq:gsk_test_keys_b_3131"}, globals + R"(
provider groq
  base_url FAKE/groq/openai/v1
  limit requests 2 per minute
  limit requests 100 per day
)",
          {{"GROQ_API_KEYS", "gsk_test_keys_a_3030,gsk_test_keys_b_3131"}, {"GATEWAY_ADMIN_TOKEN", token}}};
  auto answer = rig.gw->Post("/quota-status/disable?key=groq-1", "", "text/plain");
  E2E_CHECK(answer && answer->status == 401, (answer ? answer->body : "no answer"));
  check_openai_error(answer->body, "disable without a token");
  answer = rig.gw->Post("/quota-status/disable?key=groq-1", auth, "", "text/plain");
  E2E_CHECK(answer && answer->status == 200 && json::parse(answer->body)["disabled"] == "groq-1",
            (answer ? answer->body : "no answer"));
  E2E_CHECK(key_of(rig.quota_status(), "groq-1")["status"] == "disabled", rig.quota_status().dump());
  for (int i = 0; i < 2; ++i) {
    answer = rig.chat("x");
    E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Key") == "groq-2", header(answer, "X-Gateway-Key"));
  }
  answer = rig.chat("x");
  E2E_CHECK(answer->status == 429, "groq-2 has spent its minute and groq-1 is disabled: " << answer->status);
  note("disable?key=groq-1 (with the token): the key is not granted; groq-2 serves until its minute is spent");

  answer = rig.gw->Post("/quota-status/enable?key=groq-1", auth, "", "text/plain");
  E2E_CHECK(answer && answer->status == 200, (answer ? answer->body : "no answer"));
  answer = rig.chat("x");
  E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Key") == "groq-1", answer->status);
  note("enable?key=groq-1 brings it back");

  const json status = rig.quota_status();
  E2E_CHECK(used_of(status, "groq-2", "requests", "minute") == 2 && used_of(status, "groq-2", "requests", "day") == 2,
            status.dump());
  answer = rig.gw->Post("/quota-status/reset?key=groq-2&window=minute", auth, "", "text/plain");
  E2E_CHECK(answer && answer->status == 200 && json::parse(answer->body)["window"] == "minute",
            (answer ? answer->body : "no answer"));
  const json reset = rig.quota_status();
  E2E_CHECK(used_of(reset, "groq-2", "requests", "minute") == 0 && used_of(reset, "groq-2", "requests", "day") == 2,
            "a reset of the minute keeps the day: " << reset.dump());
  note("reset?key=groq-2&window=minute forgets the minute's 2 requests and keeps the day's 2");

  for (const auto& [path, expected] : std::vector<std::pair<std::string, int>>{
           {"/quota-status/reset?key=groq-2&window=fortnight", 400},
           {"/quota-status/reset?window=day", 400},
           {"/quota-status/reset?key=nobody&window=day", 404},
           {"/quota-status/disable?key=nobody", 404},
           {"/quota-status/disable", 404},
           {"/quota-status/enable?key=nobody", 404}}) {
    answer = rig.gw->Post(path, auth, "", "text/plain");
    E2E_CHECK(answer && answer->status == expected, path << ": " << (answer ? std::to_string(answer->status) + " " + answer->body : "no answer"));
    check_openai_error(answer->body, path);
  }
  E2E_CHECK(used_of(rig.quota_status(), "groq-2", "requests", "day") == 2, "a refused admin request changed something");
  note("an unknown window: 400; a window without a key: 400; an unknown key: 404; each with an OpenAI error");

  // SIGHUP: no longer kills; the configuration is re-read and the log says what applies.
  kill(rig.gateway->pid(), SIGHUP);
  E2E_CHECK(eventually([&] { return rig.gateway->err().find("reload requested") != std::string::npos; }), rig.logs());
  E2E_CHECK(eventually([&] { return rig.gateway->err().find("reload: applied (nothing changed)") != std::string::npos; }),
            rig.logs());
  E2E_CHECK(used_of(rig.quota_status(), "groq-2", "requests", "day") == 2, "SIGHUP kept the day's counts: " << rig.quota_status().dump());
  E2E_CHECK(rig.chat("after hup")->status == 200, "the gateway must serve after SIGHUP\n" << rig.logs());
  note("SIGHUP: the gateway logs 'reload requested', re-reads its configuration (unchanged: nothing changed), and keeps serving");
}

}  // namespace
