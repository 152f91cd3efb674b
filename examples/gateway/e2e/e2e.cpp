// End-to-end tests of the gateway: real fake_provider and gateway processes on loopback ports,
// driven over HTTP. One scenario per run:
//
//   gateway_e2e SCENARIO --gateway PATH --fake PATH --work DIR
//
// Scenarios: success, failover, bad_key, openai_quota, exhausted, upstream_failure, admin,
// client_limit, metrics, bad_config, shutdown, streaming, openai_surface, retry_bound,
// model_routing, sdk (the official OpenAI Node SDK: --node PATH --sdk DIR --sdk-script FILE),
// dashboard_data (and the operations scenarios of ops_scenarios.hpp),
// reload_keys, reload_limits, reload_refused, stream_log, bounded_estimate (reload_scenarios.hpp).
// Each prints what it checked and exits 0, or prints what went wrong (with the children's logs)
// and exits 1. Children get only the environment the scenario gives them (never the developer's
// real keys) and are stopped on every path; if this driver is killed, the kernel kills them
// (PR_SET_PDEATHSIG).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

struct Paths {
  std::string gateway, fake;
  fs::path work;
};
Paths paths;

// ---- Failing loudly -------------------------------------------------------------------------------

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#define E2E_CHECK(condition, message)                                                                              \
  do {                                                                                                             \
    if (!(condition)) {                                                                                            \
      std::ostringstream what_;                                                                                    \
      what_ << __FILE__ << ":" << __LINE__ << ": check failed: " #condition "\n  " << message;                      \
      throw Failure(what_.str());                                                                                  \
    }                                                                                                              \
  } while (0)

std::string read_file(const fs::path& path) {
  std::ifstream in{path};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out{path};
  out << text;
  if (!out) throw Failure("cannot write " + path.string());
}

void note(const std::string& text) { std::cout << "  ok: " << text << std::endl; }

// ---- Child processes ------------------------------------------------------------------------------

/// A child process with its stdout and stderr in files. Stopped (SIGTERM, then SIGKILL after 5 s)
/// when destroyed.
class Child {
 public:
  Child(std::string name, std::vector<std::string> argv, std::map<std::string, std::string> env)
      : name_(std::move(name)), out_(paths.work / (name_ + ".out")), err_(paths.work / (name_ + ".err")) {
    std::vector<std::string> env_strings;
    for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
    std::vector<char*> args, envp;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    for (std::string& entry : env_strings) envp.push_back(entry.data());
    envp.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) throw Failure("fork failed: " + std::string{std::strerror(errno)});
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // no orphans if the driver dies
      if (getppid() != parent) _exit(127);
      const int out = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out < 0 || err < 0) _exit(127);
      dup2(out, STDOUT_FILENO);
      dup2(err, STDERR_FILENO);
      execve(args[0], args.data(), envp.data());
      _exit(127);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    try {
      stop(SIGTERM);
    } catch (...) {
    }
  }

  /// Waits for "listening on ADDRESS:PORT" on its stdout; returns PORT.
  int port() {
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    const std::regex listening{R"(listening on [^:\s]+:(\d+))"};
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch match;
      const std::string out = read_file(out_);
      if (std::regex_search(out, match, listening)) return std::stoi(match[1]);
      if (const auto status = poll_exit())
        throw Failure(name_ + " exited (" + describe(*status) + ") before listening; its stderr:\n" + read_file(err_));
      std::this_thread::sleep_for(10ms);
    }
    throw Failure(name_ + " did not print 'listening on' within 15 s; its stderr:\n" + read_file(err_));
  }

  /// Sends `signal` and waits up to 5 s for the exit (then SIGKILL). Returns the wait status.
  int stop(int signal) {
    if (pid_ <= 0) return status_;
    kill(pid_, signal);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (poll_exit()) return status_;
      std::this_thread::sleep_for(10ms);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    pid_ = -1;
    killed_ = true;
    return status_;
  }
  /// Waits up to `timeout` for the child to exit by itself; returns its wait status, or nothing.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto status = poll_exit()) return status;
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  }
  [[nodiscard]] bool killed() const { return killed_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] std::string out() const { return read_file(out_); }
  [[nodiscard]] std::string err() const { return read_file(err_); }
  [[nodiscard]] const std::string& name() const { return name_; }

  static std::string describe(int status) {
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
  }

 private:
  std::optional<int> poll_exit() {
    if (pid_ <= 0) return status_;
    if (waitpid(pid_, &status_, WNOHANG) == pid_) {
      pid_ = -1;
      return status_;
    }
    return std::nullopt;
  }

  std::string name_;
  fs::path out_, err_;
  pid_t pid_ = -1;
  int status_ = 0;
  bool killed_ = false;
};

// ---- The rig: a fake provider and a gateway -----------------------------------------------------

struct Rig {
  std::unique_ptr<Child> fake;
  std::unique_ptr<Child> gateway;
  int fake_port = 0, gateway_port = 0;
  std::unique_ptr<httplib::Client> gw, provider;

  /// Starts the fake with `keys` (PROVIDER:KEY[:LIMITS]), writes `config` with FAKE replaced by
  /// the fake's origin, and starts the gateway with `env`.
  Rig(const std::vector<std::string>& keys, std::string config, std::map<std::string, std::string> env,
      const std::string& suffix = "") {
    std::vector<std::string> fake_args{paths.fake, "--port", "0"};
    for (const std::string& key : keys) {
      fake_args.push_back("--key");
      fake_args.push_back(key);
    }
    fake = std::make_unique<Child>("fake_provider" + suffix, fake_args, std::map<std::string, std::string>{});
    fake_port = fake->port();
    const std::string origin = "http://127.0.0.1:" + std::to_string(fake_port);
    for (std::size_t at = config.find("FAKE"); at != std::string::npos; at = config.find("FAKE", at))
      config.replace(at, 4, origin);
    const fs::path conf = paths.work / ("gateway" + suffix + ".conf");
    write_file(conf, config);
    gateway = std::make_unique<Child>("gateway" + suffix,
                                      std::vector<std::string>{paths.gateway, "--config", conf.string(), "--port", "0"},
                                      std::move(env));
    gateway_port = gateway->port();
    gw = std::make_unique<httplib::Client>("127.0.0.1", gateway_port);
    gw->set_read_timeout(30, 0);
    provider = std::make_unique<httplib::Client>("127.0.0.1", fake_port);
  }

  /// Both logs, for failure messages.
  [[nodiscard]] std::string logs() const {
    return "--- gateway stderr ---\n" + gateway->err() + "--- fake_provider stderr ---\n" + fake->err();
  }

  httplib::Result chat(const std::string& content, const httplib::Headers& headers = {}, const std::string& extra = "") {
    const std::string body = R"({"model":"client-model",)" + extra + R"("messages":[{"role":"user","content":)" +
                             json(content).dump() + "}]}";
    auto result = gw->Post("/v1/chat/completions", headers, body, "application/json");
    if (!result) throw Failure("no answer from the gateway: " + httplib::to_string(result.error()) + "\n" + logs());
    return result;
  }

  json quota_status() {
    const auto result = gw->Get("/quota-status");
    E2E_CHECK(result && result->status == 200, "GET /quota-status failed\n" << logs());
    return json::parse(result->body);
  }

  json fake_stats() {
    const auto result = provider->Get("/admin/stats");
    E2E_CHECK(result && result->status == 200, "GET /admin/stats of the fake failed");
    return json::parse(result->body);
  }
};

/// Polls `condition` for up to 5 s (for what the gateway does on another thread).
bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

/// The key labelled `label` in a /quota-status document.
json key_of(const json& status, const std::string& label) {
  for (const json& key : status["keys"])
    if (key["label"] == label) return key;
  throw Failure("no key labelled " + label + " in /quota-status: " + status.dump());
}

/// The `used` figure of `label`'s limit of `metric` over `window`.
std::uint64_t used_of(const json& status, const std::string& label, const std::string& metric, const std::string& window) {
  const json key = key_of(status, label);
  for (const json& limit : key["limits"])
    if (limit["metric"] == metric && limit["window"] == window) return limit["used"].get<std::uint64_t>();
  throw Failure("key " + label + " has no " + metric + " per " + window + " limit: " + status.dump());
}

std::string header(const httplib::Result& result, const std::string& name) { return result->get_header_value(name); }

/// An HTTP POST of a chat completion from a given local address (127.0.0.2: another client).
/// Returns the status.
int chat_from(const std::string& local_address, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Failure("socket failed");
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, local_address.c_str(), &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    const std::string error = std::strerror(errno);
    close(fd);
    throw Failure("cannot connect from " + local_address + ": " + error);
  }
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":"from another client"}]})";
  const std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                              "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    throw Failure("write failed");
  }
  std::string answer;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) answer.append(buffer, static_cast<std::size_t>(n));
  close(fd);
  std::smatch match;
  if (!std::regex_search(answer, match, std::regex{R"(^HTTP/1\.[01] (\d{3}))"}))
    throw Failure("not an HTTP answer: " + answer);
  return std::stoi(match[1]);
}

// Seconds from now to the next midnight UTC.
std::int64_t seconds_to_midnight_utc() {
  const auto now = std::chrono::system_clock::now();
  const auto midnight = std::chrono::floor<std::chrono::days>(now) + std::chrono::days{1};
  return std::chrono::duration_cast<std::chrono::seconds>(midnight - now).count();
}

const std::string groq_block = R"(
provider groq
  tier 0
  base_url FAKE/groq/openai/v1
  keys_env GROQ_API_KEY
  model llama-3.1-8b-instant
  limit requests 1000 per day
  limit tokens 100000 per day
)";
const std::string gemini_block = R"(
provider gemini
  tier 1
  base_url FAKE/gemini/v1beta/openai
  keys_env GEMINI_API_KEY
  model gemini-2.0-flash
  limit requests 1000 per day
)";
const std::string globals = "backoff 10ms\nclient_limit 1000 per minute\n";

// ---- Scenarios --------------------------------------------------------------------------------------

void success() {
  Rig rig{{"groq:gsk_test_alpha_1111"}, globals + groq_block, {{"GROQ_API_KEY", "gsk_test_alpha_1111"}}};
  // 40 characters: 10 prompt tokens; the fake completes with 12.
  const std::string content(40, 'x');
  auto answer = rig.chat(content);
  E2E_CHECK(answer->status == 200, "status " << answer->status << " " << answer->body << "\n" << rig.logs());
  const json body = json::parse(answer->body);
  E2E_CHECK(body["usage"]["total_tokens"] == 22, body.dump());
  E2E_CHECK(body["model"] == "llama-3.1-8b-instant", "the provider's model was not substituted: " << body.dump());
  E2E_CHECK(header(answer, "X-Gateway-Provider") == "groq" && header(answer, "X-Gateway-Key") == "groq-1",
            "provider/key headers: " << header(answer, "X-Gateway-Provider") << " " << header(answer, "X-Gateway-Key"));
  json status = rig.quota_status();
  E2E_CHECK(used_of(status, "groq-1", "tokens", "day") == 22,
            "the real usage (22 tokens), not the estimate, is committed: " << status.dump());
  E2E_CHECK(used_of(status, "groq-1", "requests", "day") == 1, status.dump());
  E2E_CHECK(key_of(status, "groq-1")["successes"] == 1, status.dump());
  note("a completion is forwarded with the provider's model; its usage (22 tokens) is what /quota-status counts");

  answer = rig.chat(content, {}, R"("max_tokens":5,)");
  E2E_CHECK(answer->status == 200, answer->body);
  status = rig.quota_status();
  E2E_CHECK(used_of(status, "groq-1", "tokens", "day") == 22 + 15, status.dump());
  note("a second completion (max_tokens 5: 15 tokens) adds exactly its usage");

  auto bad = rig.gw->Post("/v1/chat/completions", "{not json", "application/json");
  E2E_CHECK(bad && bad->status == 400 && json::parse(bad->body)["error"]["type"] == "invalid_request_error",
            (bad ? bad->body : "no answer"));
  bad = rig.gw->Post("/v1/chat/completions", R"({"stream":"yes","messages":[{"role":"user","content":"hi"}]})", "application/json");
  E2E_CHECK(bad && bad->status == 400 && bad->body.find("stream") != std::string::npos, (bad ? bad->body : "no answer"));
  E2E_CHECK(rig.fake_stats()["keys"][0]["ok"] == 2, "invalid requests must not reach the provider");
  note("malformed JSON and a stream that is not a boolean get 400 without reaching the provider");
}

void failover() {
  Rig rig{{"groq:gsk_test_alpha_1111:rpm=1", "groq:gsk_test_bravo_2222:rpm=1", "gemini:AIza_test_charlie_3333"},
          globals + groq_block + gemini_block,
          {{"GROQ_API_KEYS", "gsk_test_alpha_1111,gsk_test_bravo_2222"}, {"GEMINI_API_KEY", "AIza_test_charlie_3333"}}};
  for (int i = 1; i <= 2; ++i) {
    const auto answer = rig.chat("hello " + std::to_string(i));
    E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Provider") == "groq",
              "request " << i << ": " << answer->status << " " << header(answer, "X-Gateway-Provider") << "\n" << rig.logs());
  }
  note("the first two requests are served by groq, one per key");
  auto answer = rig.chat("hello 3");
  E2E_CHECK(answer->status == 200, answer->status << " " << answer->body << "\n" << rig.logs());
  E2E_CHECK(header(answer, "X-Gateway-Provider") == "gemini" && header(answer, "X-Gateway-Attempts") == "3",
            "expected gemini after two groq 429s, got " << header(answer, "X-Gateway-Provider") << " after "
                                                        << header(answer, "X-Gateway-Attempts") << " attempts\n" << rig.logs());
  E2E_CHECK(json::parse(answer->body)["model"] == "gemini-2.0-flash", "each provider gets its model: " << answer->body);
  json stats = rig.fake_stats();
  for (int k = 0; k < 2; ++k)
    E2E_CHECK(stats["keys"][k]["ok"] == 1 && stats["keys"][k]["refused"] == 1, stats.dump());
  note("the third request met a 429 on both groq keys (their minute is spent) and was served by gemini");

  answer = rig.chat("hello 4");
  E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Provider") == "gemini" && header(answer, "X-Gateway-Attempts") == "1",
            header(answer, "X-Gateway-Provider") << " " << header(answer, "X-Gateway-Attempts"));
  stats = rig.fake_stats();
  E2E_CHECK(stats["keys"][0]["refused"] == 1 && stats["keys"][1]["refused"] == 1,
            "cooling groq keys must not be tried again: " << stats.dump());
  const json status = rig.quota_status();
  for (const std::string label : {"groq-1", "groq-2"})
    E2E_CHECK(key_of(status, label)["status"] == "cooling_down", label << ": " << key_of(status, label).dump());
  E2E_CHECK(used_of(status, "gemini-1", "requests", "day") == 2, status.dump());
  E2E_CHECK(eventually([&] { return rig.gateway->err().find("failover provider=groq to_provider=gemini") != std::string::npos; }),
            "the failover event is logged (events reach the log from the alert queue's thread)\n" << rig.logs());
  note("the next request goes straight to gemini; groq's keys show cooling_down; the failover event is logged");
}

void bad_key() {
  Rig rig{{"groq:gsk_test_good_4444", "gemini:AIza_test_good_5555"},
          globals + R"(
provider gemini
  tier 0
  base_url FAKE/gemini/v1beta/openai
  keys_env GEMINI_API_KEY
  auth header x-goog-api-key
  model gemini-2.0-flash
  limit requests 1000 per day
provider groq
  tier 1
  base_url FAKE/groq/openai/v1
  keys_env GROQ_API_KEY
  limit requests 1000 per day
)",
          {{"GEMINI_API_KEY", "AIza_test_unknown_6666"}, {"GROQ_API_KEY_1", "gsk_test_unknown_7777"}, {"GROQ_API_KEY_2", "gsk_test_good_4444"}}};
  auto answer = rig.chat("hello");
  E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Key") == "groq-2" && header(answer, "X-Gateway-Attempts") == "3",
            answer->status << " " << header(answer, "X-Gateway-Key") << " attempts " << header(answer, "X-Gateway-Attempts")
                           << "\n" << rig.logs());
  E2E_CHECK(json::parse(answer->body)["model"] == "client-model",
            "groq has no model of its own: the client's must reach it, not gemini's: " << answer->body);
  const json status = rig.quota_status();
  for (const std::string label : {"gemini-1", "groq-1"})
    E2E_CHECK(key_of(status, label)["status"] == "disabled", label << ": " << key_of(status, label).dump());
  note("gemini's 400 API_KEY_INVALID and groq's 401 disable those keys; the request is served by the good key");
  for (int i = 0; i < 3; ++i) {
    answer = rig.chat("again");
    E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Attempts") == "1", answer->status);
  }
  E2E_CHECK(rig.fake_stats()["unknown_key"] == 2, rig.fake_stats().dump());
  note("disabled keys are not tried again (the fake saw exactly 2 unknown keys)");
}

/// A local endpoint that records the JSON documents POSTed to /hook.
class Receiver {
 public:
  Receiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock{mutex_};
      bodies_.push_back(req.body);
      res.set_content("ok", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread{[this] { server_.listen_after_bind(); }};
  }
  ~Receiver() {
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
    server_.stop();
    thread_.join();
  }
  [[nodiscard]] int port() const { return port_; }
  /// Waits up to 10 s for a posted event of `kind`.
  bool wait_for(const std::string& kind) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock{mutex_};
        for (const std::string& body : bodies_) {
          const json event = json::parse(body, nullptr, false);
          if (event.is_object() && event.value("kind", "") == kind) return true;
        }
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  std::string all() {
    std::lock_guard lock{mutex_};
    std::string out;
    for (const std::string& body : bodies_) out += body + "\n";
    return out;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> bodies_;
};

void openai_quota() {
  Rig rig{{"openai:sk-test-credit-1919:quota=1", "openai:sk-test-credit-2020"},
          globals + R"(
provider openai
  base_url FAKE/openai/v1
  model gpt-4o-mini
  limit requests 1000 per day
)",
          {{"OPENAI_API_KEYS", "sk-test-credit-1919,sk-test-credit-2020"}, {"GATEWAY_ADMIN_TOKEN", "e2e-admin-token-abcdefghijklmnop"}}};
  // Whatever order round-robin takes, the first key serves once, then answers insufficient_quota.
  for (int i = 0; i < 6 && rig.fake_stats()["keys"][0]["refused"] == 0; ++i) {
    const auto answer = rig.chat("hello");
    E2E_CHECK(answer->status == 200, "every request is served (by the other key if need be): " << answer->status << " "
                                                                                              << answer->body << "\n" << rig.logs());
  }
  E2E_CHECK(rig.fake_stats()["keys"][0]["refused"] == 1, rig.fake_stats().dump() << "\n" << rig.logs());
  for (int i = 0; i < 3; ++i) {
    const auto answer = rig.chat("hello");
    E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Key") == "openai-2" && header(answer, "X-Gateway-Attempts") == "1",
              answer->status << " " << header(answer, "X-Gateway-Key") << "\n" << rig.logs());
  }
  const json stats = rig.fake_stats();
  E2E_CHECK(stats["keys"][0]["ok"] == 1 && stats["keys"][0]["refused"] == 1, "a key out of credit is not tried again: " << stats.dump());
  const json key = key_of(rig.quota_status(), "openai-1");
  E2E_CHECK(key["status"] != "available" && key["last_error"]["kind"] == "quota_exhausted", key.dump());
  note("OpenAI's insufficient_quota takes the key out (status " + key["status"].get<std::string>() +
       "); its requests go to the other key");
  auto enable = rig.gw->Post("/quota-status/enable?key=openai-1", "", "text/plain");
  E2E_CHECK(enable && enable->status == 401, "enable needs the admin token");
  enable = rig.gw->Post("/quota-status/enable?key=openai-1", {{"Authorization", "Bearer e2e-admin-token-abcdefghijklmnop"}}, "",
                        "text/plain");
  E2E_CHECK(enable && enable->status == 200, (enable ? enable->body : "no answer"));
  E2E_CHECK(key_of(rig.quota_status(), "openai-1")["status"] == "available", key_of(rig.quota_status(), "openai-1").dump());
  note("after the credit is topped up, POST /quota-status/enable?key=openai-1 (with the token) brings the key back");
}

void exhausted() {
  {
    Receiver receiver;
    Rig rig{{"gemini:AIza_test_daily_8888:rpd=2"},
            "webhook event env:E2E_WEBHOOK\n" + globals + gemini_block,
            {{"GEMINI_API_KEY", "AIza_test_daily_8888"},
             {"E2E_WEBHOOK", "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook"}}};
    for (int i = 0; i < 2; ++i) E2E_CHECK(rig.chat("hi")->status == 200, rig.logs());
    const auto answer = rig.chat("hi");
    E2E_CHECK(answer->status == 429, answer->status << " " << answer->body << "\n" << rig.logs());
    const json body = json::parse(answer->body);
    E2E_CHECK(body["error"]["type"] == "all_keys_exhausted" && body["error"]["reason"] == "exhausted", body.dump());
    const std::string retry_after = header(answer, "Retry-After");
    E2E_CHECK(!retry_after.empty() && std::to_string(body["error"]["retry_after_s"].get<std::int64_t>()) == retry_after,
              "Retry-After '" << retry_after << "' must equal retry_after_s: " << body.dump());
    const std::int64_t expected = seconds_to_midnight_utc();
    const std::int64_t got = std::stoll(retry_after);
    E2E_CHECK(got >= expected - 5 && got <= expected + 5,
              "a spent daily quota resumes at midnight UTC (in ~" << expected << " s), Retry-After says " << got);
    E2E_CHECK(body["error"]["resumes_at"].get<std::string>().ends_with("T00:00:00Z"), body.dump());
    note("Gemini's per-day RESOURCE_EXHAUSTED spends the key's day: 429, Retry-After " + retry_after +
         " s = until midnight UTC, resumes_at " + body["error"]["resumes_at"].get<std::string>());
    E2E_CHECK(rig.chat("hi")->status == 429, "");
    E2E_CHECK(rig.fake_stats()["keys"][0]["refused"] == 1, "an exhausted key is not called again: " << rig.fake_stats().dump());
    note("later requests are refused by the pool without calling the provider");
    E2E_CHECK(receiver.wait_for("key_exhausted") && receiver.wait_for("all_exhausted"),
              "the webhook must receive key_exhausted and all_exhausted; it got:\n" << receiver.all() << rig.logs());
    note("the webhook (URL from the environment) received key_exhausted and all_exhausted");
  }
  {
    Rig rig{{"groq:gsk_test_rolling_9999"},
            globals + R"(
provider groq
  base_url FAKE/groq/openai/v1
  limit requests 2 per 60s
)",
            {{"GROQ_API_KEY", "gsk_test_rolling_9999"}}, "_rolling"};
    for (int i = 0; i < 2; ++i) E2E_CHECK(rig.chat("hi")->status == 200, rig.logs());
    const auto answer = rig.chat("hi");
    E2E_CHECK(answer->status == 429, answer->status << " " << answer->body);
    const json body = json::parse(answer->body);
    const std::int64_t retry = std::stoll(header(answer, "Retry-After"));
    E2E_CHECK(body["error"]["reason"] == "rate_limited" && retry >= 1 && retry <= 30,
              "2 per 60 s frees one request every 30 s; Retry-After " << retry << " " << body.dump());
    E2E_CHECK(rig.fake_stats()["keys"][0]["ok"] == 2 && rig.fake_stats()["keys"][0]["refused"] == 0, rig.fake_stats().dump());
    note("the gateway's own limit (2 per 60 s) refuses the third request before the provider: Retry-After " +
         std::to_string(retry) + " s");
  }
}

void upstream_failure() {
  Rig rig{{"groq:gsk_test_flaky_1212"},
          "backoff 100ms\nmax_attempts 3\n" + groq_block, {{"GROQ_API_KEY", "gsk_test_flaky_1212"}}};
  const auto forced = rig.provider->Post("/admin/fail?provider=groq&status=503&count=3", "", "text/plain");
  E2E_CHECK(forced && forced->status == 200, "cannot arm the fake's failures");
  const auto started = std::chrono::steady_clock::now();
  const auto answer = rig.chat("hi");
  const auto took = std::chrono::steady_clock::now() - started;
  E2E_CHECK(answer->status == 502, answer->status << " " << answer->body);
  const json body = json::parse(answer->body);
  E2E_CHECK(body["error"]["type"] == "upstream_failed" && body["error"]["attempts"] == 3 && body["error"]["last_status"] == 503,
            body.dump());
  E2E_CHECK(took >= 300ms, "backoff 100 ms then 200 ms between three attempts; took "
                               << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  E2E_CHECK(rig.fake_stats()["keys"][0]["refused"] == 3, rig.fake_stats().dump());
  note("three 503s: three attempts with backoff 100 ms, 200 ms, then 502 upstream_failed");
}

void admin() {
  const std::string token = "e2e-admin-token-0123456789abcdef";
  Rig rig{{"groq:gsk_test_admin_1313"}, globals + groq_block,
          {{"GROQ_API_KEY", "gsk_test_admin_1313"}, {"GATEWAY_ADMIN_TOKEN", token}}};
  E2E_CHECK(rig.chat("hello")->status == 200, rig.logs());
  const auto used = [&] { return used_of(rig.quota_status(), "groq-1", "requests", "day"); };
  E2E_CHECK(used() == 1, "");

  auto answer = rig.gw->Post("/quota-status/reset", "", "text/plain");
  E2E_CHECK(answer && answer->status == 401, (answer ? answer->status : 0));
  E2E_CHECK(answer->get_header_value("WWW-Authenticate").starts_with("Bearer"), answer->get_header_value("WWW-Authenticate"));
  E2E_CHECK(used() == 1, "a refused reset must change nothing");
  note("no token: 401 with WWW-Authenticate: Bearer, nothing reset");

  std::string wrong = token;
  wrong.back() = 'X';
  for (const std::string& authorization : {"Bearer " + wrong, "Bearer " + token.substr(0, 10), "Basic " + token, token}) {
    answer = rig.gw->Post("/quota-status/reset", {{"Authorization", authorization}}, "", "text/plain");
    E2E_CHECK(answer && answer->status == 401, "Authorization '" << authorization << "': " << (answer ? answer->status : 0));
  }
  E2E_CHECK(used() == 1, "a refused reset must change nothing");
  note("a wrong, truncated, or non-bearer token: 401, nothing reset");

  answer = rig.gw->Post("/quota-status/reset?key=groq-1", {{"Authorization", "bearer " + token}}, "", "text/plain");
  E2E_CHECK(answer && answer->status == 200, "the scheme name is case-insensitive: " << (answer ? answer->status : 0));
  E2E_CHECK(rig.chat("hello")->status == 200 && used() == 1, "");
  answer = rig.gw->Post("/quota-status/reset?key=nobody", {{"Authorization", "Bearer " + token}}, "", "text/plain");
  E2E_CHECK(answer && answer->status == 404, (answer ? answer->body : ""));
  answer = rig.gw->Post("/quota-status/reset", {{"Authorization", "Bearer " + token}}, "", "text/plain");
  E2E_CHECK(answer && answer->status == 200, (answer ? answer->body : ""));
  E2E_CHECK(used() == 0, "the reset forgets the usage");
  E2E_CHECK(rig.chat("again")->status == 200 && used() == 1, "");
  answer = rig.gw->Post("/quota-status/reset?key=groq-1", {{"Authorization", "Bearer " + token}}, "", "text/plain");
  E2E_CHECK(answer && answer->status == 200 && used() == 0, (answer ? answer->body : ""));
  note("the right token resets all keys, or one (?key=groq-1); an unknown key label: 404");

  rig.gateway->stop(SIGTERM);
  const std::string logs = rig.gateway->out() + rig.gateway->err();
  E2E_CHECK(logs.find(token) == std::string::npos, "the admin token appears in the gateway's output");
  E2E_CHECK(logs.find(token.substr(0, 12)) == std::string::npos, "part of the admin token appears in the output");
  E2E_CHECK(logs.find("gsk_test_admin_1313") == std::string::npos, "a provider key appears in the gateway's output");
  E2E_CHECK(logs.find("admin request refused") != std::string::npos, "refusals are logged (without the token)\n" << logs);
  note("neither the admin token nor the provider key appears in the gateway's logs");

  Rig off{{"groq:gsk_test_admin_1313"}, globals + groq_block, {{"GROQ_API_KEY", "gsk_test_admin_1313"}}, "_no_token"};
  answer = off.gw->Post("/quota-status/reset", {{"Authorization", "Bearer " + token}}, "", "text/plain");
  E2E_CHECK(answer && answer->status == 403 && answer->body.find("GATEWAY_ADMIN_TOKEN") != std::string::npos,
            (answer ? std::to_string(answer->status) + " " + answer->body : "no answer"));
  note("without GATEWAY_ADMIN_TOKEN the endpoint answers 403 and says which variable to set");
}

void client_limit() {
  Rig rig{{"groq:gsk_test_client_1414"}, "client_limit 3 per minute\n" + groq_block, {{"GROQ_API_KEY", "gsk_test_client_1414"}}};
  for (int i = 1; i <= 3; ++i) E2E_CHECK(rig.chat("hi")->status == 200, "request " << i << "\n" << rig.logs());
  const auto answer = rig.chat("hi");
  E2E_CHECK(answer->status == 429, answer->status << " " << answer->body << "\n" << rig.logs());
  const json body = json::parse(answer->body);
  E2E_CHECK(body["error"]["type"] == "client_rate_limited", "must be told apart from exhausted keys: " << body.dump());
  const std::int64_t retry = std::stoll(header(answer, "Retry-After"));
  E2E_CHECK(retry >= 1 && retry <= 60 && body["error"]["retry_after_s"] == retry, retry << " " << body.dump());
  E2E_CHECK(rig.fake_stats()["keys"][0]["ok"] == 3, "a refused client must not reach the provider");
  note("the 4th request of a client within a minute: 429 client_rate_limited, Retry-After " + std::to_string(retry) + " s");
  const int other = chat_from("127.0.0.2", rig.gateway_port);
  E2E_CHECK(other == 200, "another client (127.0.0.2) must not be limited; got " << other << "\n" << rig.logs());
  E2E_CHECK(rig.chat("hi")->status == 429, "the first client is still limited");
  note("another client (from 127.0.0.2) is served meanwhile");
  const std::string metrics = rig.gw->Get("/metrics")->body;
  E2E_CHECK(metrics.find("keypool_gateway_requests_total{result=\"client_limited\"} 2") != std::string::npos, metrics);
}

void metrics() {
  Rig rig{{"groq:gsk_test_metrics_1515:rpm=1"}, globals + groq_block, {{"GROQ_API_KEY", "gsk_test_metrics_1515"}}};
  E2E_CHECK(rig.chat("hi")->status == 200, rig.logs());
  E2E_CHECK(rig.chat("hi")->status == 429, rig.logs());
  const auto answer = rig.gw->Get("/metrics");
  E2E_CHECK(answer && answer->status == 200, "");
  E2E_CHECK(answer->get_header_value("Content-Type").starts_with("text/plain; version=0.0.4"), answer->get_header_value("Content-Type"));
  const std::regex sample{R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (-?[0-9.]+(?:[eE][-+]?[0-9]+)?|NaN|[+-]Inf)$)"};
  const std::regex type_line{R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)"};
  std::istringstream lines{answer->body};
  std::set<std::string> typed;
  std::size_t samples = 0;
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (line.starts_with("# HELP ")) continue;
    if (std::regex_match(line, match, type_line)) {
      typed.insert(match[1]);
      continue;
    }
    E2E_CHECK(std::regex_match(line, match, sample), "not a Prometheus sample line: '" << line << "'");
    E2E_CHECK(typed.count(match[1]) == 1, "sample of " << match[1] << " before its # TYPE line");
    ++samples;
  }
  E2E_CHECK(samples > 10, answer->body);
  for (const std::string expected : {"keypool_gateway_requests_total{result=\"ok\"} 1",
                                     "keypool_gateway_requests_total{result=\"keys_exhausted\"} 1",
                                     "keypool_gateway_upstream_answers_total{provider=\"groq\",outcome=\"success\"} 1",
                                     "keypool_gateway_upstream_answers_total{provider=\"groq\",outcome=\"rate_limited\"} 1"})
    E2E_CHECK(answer->body.find(expected) != std::string::npos, "missing '" << expected << "' in\n" << answer->body);
  note("/metrics is Prometheus text (" + std::to_string(samples) + " samples, each after its # TYPE) with the gateway's counters");
  const auto health = rig.gw->Get("/health");
  E2E_CHECK(health && health->status == 200, "");
  const auto status = rig.gw->Get("/quota-status");
  E2E_CHECK(status && status->get_header_value("Content-Type") == "application/json" && json::accept(status->body), "");
  const auto dashboard = rig.gw->Get("/dashboard");
  E2E_CHECK(dashboard && dashboard->status == 200 && dashboard->get_header_value("Content-Type").starts_with("text/html") &&
                dashboard->body.find("quota-status") != std::string::npos,
            "GET /dashboard must serve the page that reads quota-status");
  note("/quota-status is JSON; /health answers 200; /dashboard serves the HTML page");
}

void bad_config() {
  struct Case {
    std::string text;
    int line;
    std::string says;
  };
  const std::string provider = "provider groq\n  base_url http://127.0.0.1:9/v1\n";
  const std::vector<Case> cases{
      {"listen 127.0.0.1 eighty\n" + provider, 1, "'eighty' is not a whole number"},
      {"listen 127.0.0.1 70000\n" + provider, 1, "out of range"},
      {"# comment\n\nfrobnicate 3\n" + provider, 3, "unknown directive 'frobnicate'"},
      {provider + "provider groq\n  base_url http://127.0.0.1:9/v1\n", 3, "provider 'groq' is defined twice (first at line 1)"},
      {provider + "  limit requests 0 per minute\n", 3, "a limit of 0 requests admits nothing"},
      {provider + "  limit requests 10 per fortnight\n", 3, "'fortnight' is not a period"},
      {provider + "  limit bananas 10 per day\n", 3, "unknown metric 'bananas'"},
      {provider + "  limit requests 10 per day zone NOT-A-ZONE\n", 3, "NOT-A-ZONE"},
      {"max_attempts 3\nprovider groq\n  tier 1\n", 2, "provider 'groq' has no base_url"},
      {"base_url http://127.0.0.1:9/v1\n", 1, "belongs in a provider block"},
      {provider + "max_attempts 2\n", 3, "is a global directive"},
      {provider + "  tier 1\n  tier 2\n", 4, "'tier' given twice"},
      {provider + "  base_url ftp://x\n", 3, "'base_url' given twice for provider 'groq' (first at line 2)"},
      {"provider groq\n  base_url ftp://example/v1\n", 2, "must start with http:// or https://"},
      {"backoff soon\n" + provider, 1, "'soon' is not a duration"},
      {"max_attempts 0\n" + provider, 1, "out of range (1 to 10)"},
      {"client_limit 10 every minute\n" + provider, 1, "'client_limit' expects"},
      {"# nothing\n", 1, "no provider defined"},
      {"webhook pigeon http://127.0.0.1:9/hook\n" + provider, 1, "unknown style 'pigeon'"},
      {"webhook telegram http://127.0.0.1:9/hook\n" + provider, 1, "needs a CHAT_ID"},
      {"webhook slack env:\n" + provider, 1, "env: needs a variable name"},
  };
  const auto run = [](const std::string& name, const std::string& text, const std::map<std::string, std::string>& env) {
    const fs::path conf = paths.work / "gateway.conf";
    write_file(conf, text);
    Child child{name, {paths.gateway, "--config", conf.string(), "--check"}, env};
    const auto status = child.wait_exit(10s);
    if (!status) throw Failure(name + ": the gateway did not exit on its own within 10 s");
    return std::pair{*status, child.err()};
  };
  const std::map<std::string, std::string> env{{"GROQ_API_KEY", "gsk_test_config_1616"}};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto [status, err] = run("bad_config_" + std::to_string(i), cases[i].text, env);
    const std::string where = "gateway.conf:" + std::to_string(cases[i].line) + ": ";
    E2E_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2, "case " << i << ": " << Child::describe(status) << "\n" << err);
    E2E_CHECK(err.find(where) != std::string::npos && err.find(cases[i].says) != std::string::npos,
              "case " << i << ": expected '" << where << "…" << cases[i].says << "' in stderr, got:\n" << err);
  }
  note(std::to_string(cases.size()) + " bad configurations: each exits 2 with 'gateway.conf:LINE: message' on the right line");

  const std::string good = "listen 127.0.0.1 0\n" + provider;
  auto [status, err] = run("good_config", good, env);
  E2E_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, Child::describe(status) << "\n" << err);
  std::tie(status, err) = run("no_keys", good, {});
  E2E_CHECK(WEXITSTATUS(status) == 2 && err.find("gateway.conf:2: no provider has a key") != std::string::npos &&
                err.find("GROQ_API_KEY") != std::string::npos, err);
  std::tie(status, err) = run("duplicate_keys", "provider groq\n  base_url http://127.0.0.1:9/v1\n  keys_env MY_GROQ\n",
                              {{"MY_GROQ_1", "gsk_test_twice_1717"}, {"MY_GROQ_2", "gsk_test_twice_1717"}});
  E2E_CHECK(WEXITSTATUS(status) == 2 && err.find("gateway.conf:3: ") != std::string::npos &&
                err.find("MY_GROQ_1 and MY_GROQ_2") != std::string::npos && err.find("gsk_test_twice_1717") == std::string::npos,
            err);
  note("a valid file passes --check; no keys in the environment, or one key twice, is reported at its line (without the key)");
  Child missing{"missing_config", {paths.gateway, "--config", (paths.work / "does-not-exist.conf").string()}, env};
  const auto missing_status = missing.wait_exit(10s);
  E2E_CHECK(missing_status && WEXITSTATUS(*missing_status) == 2 && missing.err().find("cannot open") != std::string::npos, missing.err());
  note("a missing file exits 2 and says so");
}

void shutdown() {
  for (const int signal : {SIGTERM, SIGINT}) {
    Rig rig{{"groq:gsk_test_stop_1818"}, globals + groq_block, {{"GROQ_API_KEY", "gsk_test_stop_1818"}},
            signal == SIGTERM ? "_term" : "_int"};
    E2E_CHECK(rig.chat("hi")->status == 200, rig.logs());
    const auto started = std::chrono::steady_clock::now();
    const int status = rig.gateway->stop(signal);
    const auto took = std::chrono::steady_clock::now() - started;
    E2E_CHECK(!rig.gateway->killed() && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the gateway must exit 0 on " << (signal == SIGTERM ? "SIGTERM" : "SIGINT") << ", got "
                                            << Child::describe(status) << "\n" << rig.logs());
    E2E_CHECK(took < 3s, "shutdown took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    E2E_CHECK(rig.gateway->err().find("stopped") != std::string::npos, rig.logs());
    note(std::string{"the gateway stops cleanly on "} + (signal == SIGTERM ? "SIGTERM" : "SIGINT") + " (exit 0)");
  }
}

// What the dashboard reads beside /quota-status: the usage history, the recent events (pool
// events and the gateway's retries) and the gateway's counters, from a real gateway; bad query
// values get a 400 in OpenAI's error shape; `history off` answers 404 with a JSON error; bad
// history directives are refused at their line.
void dashboard_data() {
  Rig rig{{"groq:gsk_test_alpha_1111:rpm=1", "groq:gsk_test_bravo_2222:rpm=1", "gemini:AIza_test_charlie_3333"},
          globals + "history 200ms 1m\nrecent_events 4\n" + groq_block + gemini_block,
          {{"GROQ_API_KEYS", "gsk_test_alpha_1111,gsk_test_bravo_2222"}, {"GEMINI_API_KEY", "AIza_test_charlie_3333"}}};
  const std::regex rfc3339{R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$)"};
  const auto get_json = [&](const std::string& path, int status) {
    const auto answer = rig.gw->Get(path);
    E2E_CHECK(answer && answer->status == status, "GET " << path << ": " << (answer ? std::to_string(answer->status) + " " + answer->body : "no answer") << "\n" << rig.logs());
    E2E_CHECK(answer->get_header_value("Content-Type") == "application/json", path << ": " << answer->get_header_value("Content-Type"));
    return json::parse(answer->body);
  };
  // Two requests on groq, then one that meets both groq keys' 429 and moves to gemini.
  for (int i = 1; i <= 3; ++i) {
    const auto answer = rig.chat("hello " + std::to_string(i));
    E2E_CHECK(answer->status == 200, answer->status << " " << answer->body << "\n" << rig.logs());
  }

  // The history: sampled every 200 ms since the start, so before the first request; its served
  // requests add up to each provider's successes.
  const json status = rig.quota_status();
  json history;
  E2E_CHECK(eventually([&] {
              history = get_json("/quota-status/history", 200);
              std::uint64_t served = 0;
              for (const json& provider : history["providers"])
                for (const json& n : provider["served"]) served += n.get<std::uint64_t>();
              return served == 3 && history["providers"][0]["at"].size() >= 3;
            }),
            "the history does not count the three requests: " << history.dump() << "\n" << rig.logs());
  E2E_CHECK(history["every_s"] == 0.2 && history["span_s"] == 60 && history["capacity"] == 300, history.dump());
  E2E_CHECK(std::regex_match(history["now"].get<std::string>(), rfc3339), history.dump());
  E2E_CHECK(history["providers"].size() == 2 && history["providers"][0]["name"] == "groq" &&
                history["providers"][1]["name"] == "gemini", history.dump());
  for (const json& provider : history["providers"]) {
    const std::size_t samples = provider["at"].size();
    for (const char* column : {"percent", "metric", "served", "failed", "available", "keys"})
      E2E_CHECK(provider[column].size() == samples, column << " has another length: " << provider.dump());
    for (const json& at : provider["at"]) E2E_CHECK(std::regex_match(at.get<std::string>(), rfc3339), at.dump());
    std::uint64_t served = 0;
    for (const json& n : provider["served"]) served += n.get<std::uint64_t>();
    json totals;
    for (const json& p : status["providers"])
      if (p["name"] == provider["name"]) totals = p["totals"];
    E2E_CHECK(served == totals["successes"].get<std::uint64_t>(), provider.dump() << " vs " << totals.dump());
    E2E_CHECK(provider["served"][0] == 0 && provider["keys"].back() == totals["keys"], provider.dump());
    // requests 1000 per day on every key: the percent is that of the day's requests.
    E2E_CHECK(provider["metric"].back() == "requests", provider.dump());
  }
  note("GET /quota-status/history: samples every 200 ms from the start; served requests add up to each provider's successes");

  // The recent events: at most 4 kept, newest first, the failover and the gateway's retries.
  json events;
  E2E_CHECK(eventually([&] {
              events = get_json("/events/recent", 200);
              bool failover = false;
              for (const json& event : events["events"])
                failover = failover || (event["kind"] == "failover" && event["provider"] == "groq" && event["to_provider"] == "gemini");
              return failover;
            }),
            "no failover among the recent events: " << events.dump() << "\n" << rig.logs());
  E2E_CHECK(events["capacity"] == 4 && events["events"].size() == 4 && events["total"].get<std::uint64_t>() > 4,
            "the ring keeps the last 4 of more events: " << events.dump());
  bool retry = false;
  for (std::size_t i = 0; i < events["events"].size(); ++i) {
    const json& event = events["events"][i];
    E2E_CHECK(std::regex_match(event["at"].get<std::string>(), rfc3339), event.dump());
    if (i > 0) E2E_CHECK(event["seq"].get<std::uint64_t>() < events["events"][i - 1]["seq"].get<std::uint64_t>(), events.dump());
    if (event["kind"] == "retry") {
      retry = true;
      E2E_CHECK(event["provider"] == "groq" && event["text"].get<std::string>().find("answered 429") != std::string::npos,
                event.dump());
    }
  }
  E2E_CHECK(retry, "the gateway's retry after a 429 is among the recent events: " << events.dump());
  const json newest = get_json("/events/recent?limit=1", 200);
  E2E_CHECK(newest["events"].size() == 1 && newest["events"][0]["seq"] == events["events"][0]["seq"], newest.dump());
  for (const std::string bad : {"0", "abc", "-1", "99999999999999999999", "", "1%0a2"}) {
    const json error = get_json("/events/recent?limit=" + bad, 400);
    E2E_CHECK(error["error"]["type"] == "invalid_request_error" && error["error"]["param"] == "limit" &&
                  error["error"]["code"] == "invalid_limit" && error["error"]["message"].is_string(),
              "limit=" << bad << ": " << error.dump());
  }
  note("GET /events/recent: the last 4 events, newest first (the failover, the retries after 429); ?limit=1 the newest; a bad limit is a 400 in OpenAI's shape");

  // The counters: what /metrics exports, by name.
  const json stats = get_json("/stats", 200);
  E2E_CHECK(std::regex_match(stats["started_at"].get<std::string>(), rfc3339) &&
                std::regex_match(stats["now"].get<std::string>(), rfc3339), stats.dump());
  E2E_CHECK(stats["requests"]["ok"] == 3 && stats["requests"]["total"] == 3, stats.dump());
  const auto metrics = rig.gw->Get("/metrics");
  E2E_CHECK(metrics && metrics->status == 200, "GET /metrics");
  const auto metric = [&](const std::string& series) -> std::uint64_t {
    const std::size_t at = metrics->body.find("\n" + series + " ");
    E2E_CHECK(at != std::string::npos, series << " not in /metrics:\n" << metrics->body);
    return std::stoull(metrics->body.substr(at + series.size() + 2));
  };
  for (const auto& [result, value] : stats["requests"].items())
    if (result != "total")
      E2E_CHECK(value.get<std::uint64_t>() == metric("keypool_gateway_requests_total{result=\"" + result + "\"}"),
                result << ": " << stats.dump());
  for (const json& provider : stats["upstream_answers"])
    for (const auto& [kind, value] : provider.items())
      if (kind != "provider" && kind != "total")
        E2E_CHECK(value.get<std::uint64_t>() ==
                      metric("keypool_gateway_upstream_answers_total{provider=\"" + provider["provider"].get<std::string>() +
                             "\",outcome=\"" + kind + "\"}"),
                  provider["provider"] << " " << kind << ": " << stats.dump());
  E2E_CHECK(stats["upstream_answers"][0]["provider"] == "groq" && stats["upstream_answers"][0]["success"] == 2 &&
                stats["upstream_answers"][0]["rate_limited"] == 2 && stats["upstream_answers"][1]["success"] == 1,
            stats.dump());
  note("GET /stats: the requests and upstream answers /metrics counts (3 ok; groq 2 successes and 2 429s, gemini 1)");
  for (const std::string path : {"/stats", "/events/recent", "/quota-status/history"}) {
    const auto wrong = rig.gw->Post(path, "{}", "application/json");
    E2E_CHECK(wrong && wrong->status == 405 && wrong->get_header_value("Allow") == "GET" &&
                  json::parse(wrong->body)["error"]["code"] == "method_not_allowed",
              "POST " << path << ": " << (wrong ? std::to_string(wrong->status) + " " + wrong->body : "no answer"));
  }
  note("POST to the three endpoints: 405 with Allow: GET, in OpenAI's error shape");

  // `history off`: the endpoint says so in a JSON error.
  Rig off{{"groq:gsk_test_alpha_1111"}, globals + "history off\n" + groq_block, {{"GROQ_API_KEY", "gsk_test_alpha_1111"}}, "-off"};
  const auto answer = off.gw->Get("/quota-status/history");
  E2E_CHECK(answer && answer->status == 404 && json::parse(answer->body)["error"]["code"] == "history_disabled",
            (answer ? answer->body : "no answer"));
  note("history off: GET /quota-status/history is a 404 with a JSON error");

  // Bad directives are refused at their line.
  const std::string provider = "provider groq\n  base_url http://127.0.0.1:9/v1\n";
  const std::vector<std::pair<std::string, std::string>> cases{
      {"history 50ms 1m\n", "sample at most every 100ms"},
      {"history 30s 30s\n", "at least two samples"},
      {"history 100ms 24h\n", "more than 100000 samples"},
      {"history 30s\n", "'history' expects"},
      {"recent_events lots\n", "'lots' is not a whole number"},
      {"recent_events 100001\n", "out of range (0 to 100000)"}};
  for (const auto& [directive, says] : cases) {
    const fs::path conf = paths.work / "bad.conf";
    write_file(conf, directive + provider);
    Child child{"gateway-check", {paths.gateway, "--config", conf.string(), "--check"}, {{"GROQ_API_KEY", "gsk_test_config_1616"}}};
    const auto exit = child.wait_exit(10s);
    E2E_CHECK(exit && WIFEXITED(*exit) && WEXITSTATUS(*exit) == 2 &&
                  child.err().find(conf.string() + ":1: ") != std::string::npos && child.err().find(says) != std::string::npos,
              directive << "-> " << child.err());
  }
  note("bad history and recent_events directives are refused at their line");
}

// ---- The OpenAI surface: streaming, models, embeddings, completions, errors, retry bound, routing -----

/// The `data:` payloads of an event stream, in order.
std::vector<std::string> sse_data(const std::string& stream) {
  std::vector<std::string> data;
  std::istringstream lines{stream};
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.starts_with("data: ")) data.push_back(line.substr(6));
  }
  return data;
}

/// The content of a chat stream's chunks, concatenated; `usage` gets the usage chunk's total.
std::string streamed_content(const std::vector<std::string>& data, std::optional<std::uint64_t>* usage = nullptr) {
  std::string content;
  for (const std::string& payload : data) {
    if (payload == "[DONE]") continue;
    const json chunk = json::parse(payload, nullptr, false);
    if (!chunk.is_object()) throw Failure("not a JSON chunk: " + payload);
    if (usage != nullptr && chunk.contains("usage") && chunk["usage"].is_object())
      *usage = chunk["usage"]["total_tokens"].get<std::uint64_t>();
    if (chunk.contains("choices") && chunk["choices"].is_array())
      for (const json& choice : chunk["choices"])
        if (choice.contains("delta") && choice["delta"].contains("content")) content += choice["delta"]["content"].get<std::string>();
  }
  return content;
}

/// The fake streams one "tokenNN " (8 characters) per completion token: 12 by default.
std::string expected_stream_content(int tokens = 12) {
  std::string content;
  char word[16];
  for (int i = 1; i <= tokens; ++i) {
    std::snprintf(word, sizeof word, "token%02d ", i);
    content += word;
  }
  return content;
}

void check_error_shape(const httplib::Result& answer, int status, const std::string& code, const std::string& context) {
  E2E_CHECK(answer, context << ": no answer");
  E2E_CHECK(answer->status == status, context << ": status " << answer->status << " (expected " << status << ") " << answer->body);
  E2E_CHECK(answer->get_header_value("Content-Type").starts_with("application/json"),
            context << ": Content-Type " << answer->get_header_value("Content-Type"));
  const json body = json::parse(answer->body, nullptr, false);
  E2E_CHECK(body.is_object() && body.contains("error") && body["error"].is_object(), context << ": " << answer->body);
  const json& error = body["error"];
  for (const char* field : {"message", "type", "param", "code"})
    E2E_CHECK(error.contains(field), context << ": error." << field << " is missing: " << answer->body);
  E2E_CHECK(error["message"].is_string() && error["type"].is_string(), context << ": " << answer->body);
  if (!code.empty()) E2E_CHECK(error["code"] == code, context << ": code " << error["code"].dump() << ", expected " << code);
}

void streaming() {
  Rig rig{{"groq:gsk_test_stream_2121", "gemini:AIza_test_stream_2222"}, globals + groq_block + gemini_block,
          {{"GROQ_API_KEY", "gsk_test_stream_2121"}, {"GEMINI_API_KEY", "AIza_test_stream_2222"}}};
  const std::string content(40, 'x');  // 10 prompt tokens
  const auto stream = [&](const std::string& extra = "") {
    return rig.chat(content, {}, R"("stream":true,)" + extra);
  };
  const auto tokens_used = [&](const std::string& label) { return used_of(rig.quota_status(), label, "tokens", "day"); };

  auto answer = stream();
  E2E_CHECK(answer->status == 200, answer->status << " " << answer->body << "\n" << rig.logs());
  E2E_CHECK(answer->get_header_value("Content-Type").starts_with("text/event-stream"), answer->get_header_value("Content-Type"));
  E2E_CHECK(header(answer, "X-Gateway-Provider") == "groq" && header(answer, "X-Gateway-Key") == "groq-1", rig.logs());
  auto data = sse_data(answer->body);
  std::optional<std::uint64_t> usage;
  E2E_CHECK(!data.empty() && data.back() == "[DONE]", "the stream ends with data: [DONE]:\n" << answer->body);
  E2E_CHECK(streamed_content(data, &usage) == expected_stream_content(), answer->body);
  E2E_CHECK(!usage, "the client did not ask for the usage chunk; it must not get it:\n" << answer->body);
  const json sent = json::parse(rig.provider->Get("/admin/last")->body);
  E2E_CHECK(sent["stream"] == true && sent["stream_options"]["include_usage"] == true,
            "the gateway asks the provider for the usage chunk: " << sent.dump());
  // Reported: 10 + 12 = 22; an estimate from the stream would be 10 + 96/4 = 34.
  E2E_CHECK(tokens_used("groq-1") == 22, "the usage the provider reported (22), not an estimate: " << rig.quota_status().dump());
  note("stream: true is relayed event by event, ends with [DONE]; the gateway asked for the usage chunk, "
       "committed its 22 tokens and kept the chunk from a client that did not ask for it");

  answer = stream(R"("stream_options":{"include_usage":true},)");
  data = sse_data(answer->body);
  usage.reset();
  E2E_CHECK(answer->status == 200 && streamed_content(data, &usage) == expected_stream_content() && usage == 22u, answer->body);
  E2E_CHECK(tokens_used("groq-1") == 44, rig.quota_status().dump());
  note("a client that asks for include_usage gets the usage chunk (total 22)");

  // Retried before the first byte: a 503, then a stream cut right after its head.
  E2E_CHECK(rig.provider->Post("/admin/fail?provider=groq&status=503&count=1", "", "text/plain")->status == 200, "");
  answer = stream();
  E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Attempts") == "2",
            answer->status << " " << header(answer, "X-Gateway-Provider") << " " << header(answer, "X-Gateway-Attempts") << "\n"
                           << rig.logs());
  E2E_CHECK(streamed_content(sse_data(answer->body)) == expected_stream_content(), answer->body);
  E2E_CHECK(rig.provider->Post("/admin/stream?provider=groq&cut_after=0&count=1", "", "text/plain")->status == 200, "");
  const json before_cut = rig.fake_stats();
  answer = stream();
  E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Attempts") == "2",
            "a stream that breaks before its first byte is retried: attempts " << header(answer, "X-Gateway-Attempts")
                                                                               << "\n" << rig.logs());
  E2E_CHECK(streamed_content(sse_data(answer->body)) == expected_stream_content(), answer->body);
  const json after_cut = rig.fake_stats();
  E2E_CHECK(after_cut["keys"][0]["ok"].get<int>() + after_cut["keys"][1]["ok"].get<int>() ==
                before_cut["keys"][0]["ok"].get<int>() + before_cut["keys"][1]["ok"].get<int>() + 2,
            "two calls reached the provider (the cut one and the retry): " << after_cut.dump());
  note("a 503, or a stream that ends before its first byte, is retried (attempt 2 serves the whole stream)");

  // Cut after the role chunk and two content chunks: the client gets them, then an error event.
  const std::uint64_t before = tokens_used("groq-1");
  E2E_CHECK(rig.provider->Post("/admin/stream?provider=groq&cut_after=3&count=1", "", "text/plain")->status == 200, "");
  answer = stream();
  E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Provider") == "groq", header(answer, "X-Gateway-Provider") << "\n" << rig.logs());
  data = sse_data(answer->body);
  E2E_CHECK(data.size() == 4 && streamed_content({data.begin(), data.begin() + 3}) == expected_stream_content(2),
            "three events, then the error event:\n" << answer->body);
  const json error = json::parse(data.back());
  E2E_CHECK(error["error"]["type"] == "upstream_failed" && error["error"]["message"].get<std::string>().find("broke off") != std::string::npos,
            data.back());
  E2E_CHECK(std::find(data.begin(), data.end(), "[DONE]") == data.end(), "a broken stream does not end with [DONE]");
  E2E_CHECK(tokens_used("groq-1") == before + 10 + 4,
            "what was streamed is settled: 10 prompt tokens + 16 characters (4 tokens); used " << tokens_used("groq-1") - before);
  note("a stream that breaks off after its first byte is not retried: the client gets what came and an error event; "
       "the lease commits the estimate of what was streamed (14 tokens)");

  // A client that goes away mid-stream: the lease settles what was streamed.
  E2E_CHECK(rig.provider->Post("/admin/stream?provider=groq&delay_ms=150", "", "text/plain")->status == 200, "");
  const std::uint64_t start = tokens_used("groq-1");
  {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(rig.gateway_port));
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    E2E_CHECK(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0, "connect");
    const std::string body = R"({"model":"m","stream":true,"messages":[{"role":"user","content":")" + content + R"("}]})";
    const std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    E2E_CHECK(write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()), "write");
    std::string got;
    char buffer[4096];
    while (got.find("token01") == std::string::npos) {
      const ssize_t n = read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      got.append(buffer, static_cast<std::size_t>(n));
    }
    close(fd);
    E2E_CHECK(got.find("token01") != std::string::npos, "the first content chunk arrives: " << got);
  }
  // The request's access line (a JSON line of the log) says how its stream ended.
  const auto client_gone_line = [&]() -> std::optional<json> {
    std::istringstream in{rig.gateway->err()};
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("{") && line.find("\"client_gone\"") != std::string::npos) return json::parse(line);
    return std::nullopt;
  };
  E2E_CHECK(eventually([&] { return client_gone_line().has_value(); }), "the gateway notices the client left\n" << rig.logs());
  const std::uint64_t spent = tokens_used("groq-1") - start;
  const json gone = *client_gone_line();
  E2E_CHECK(spent >= 10 + 2 && spent < 10 + 12 * 2 && gone["stream"] == "client_gone" && gone["tokens"] == spent &&
                gone["usage"] == "estimated",
            "the lease commits the estimate of the prompt and what was streamed before the client left (not the whole "
            "answer): " << spent << "\n" << rig.logs());
  note("a client that leaves mid-stream: the gateway stops reading, and commits what was streamed (" +
       std::to_string(spent) + " tokens)");
  E2E_CHECK(rig.provider->Post("/admin/stream?provider=groq&delay_ms=0", "", "text/plain")->status == 200, "");
  E2E_CHECK(rig.chat("still there")->status == 200, rig.logs());
  const json status = rig.quota_status();
  E2E_CHECK(status["totals"]["successes"].get<std::uint64_t>() >= 6, status.dump());

  // Text completions stream too.
  answer = rig.gw->Post("/v1/completions", R"({"model":"m","prompt":"hello","stream":true})", "application/json");
  E2E_CHECK(answer && answer->status == 200 && sse_data(answer->body).back() == "[DONE]", (answer ? answer->body : "no answer"));
  note("POST /v1/completions with stream: true is relayed the same way");
}

void openai_surface() {
  Rig rig{{"groq:gsk_test_surface_2323", "gemini:AIza_test_surface_2424"},
          globals + R"(
provider groq
  base_url FAKE/groq/openai/v1
  model llama-3.1-8b-instant
  models llama-3.1-8b-instant
  limit requests 1000 per day
  limit tokens 100000 per day
provider gemini
  tier 1
  base_url FAKE/gemini/v1beta/openai
  models gemini-2.0-flash text-embedding-004
  limit requests 1000 per day
  limit tokens 100000 per day
)",
          {{"GROQ_API_KEY", "gsk_test_surface_2323"}, {"GEMINI_API_KEY", "AIza_test_surface_2424"}}};
  auto answer = rig.gw->Get("/v1/models");
  E2E_CHECK(answer && answer->status == 200, (answer ? answer->body : "no answer"));
  json models = json::parse(answer->body);
  E2E_CHECK(models["object"] == "list" && models["data"].size() == 3, models.dump());
  const std::vector<std::pair<std::string, std::string>> expected{
      {"llama-3.1-8b-instant", "groq"}, {"gemini-2.0-flash", "gemini"}, {"text-embedding-004", "gemini"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const json& model = models["data"][i];
    E2E_CHECK(model["id"] == expected[i].first && model["owned_by"] == expected[i].second && model["object"] == "model" &&
                  model["created"].is_number_integer(),
              model.dump());
  }
  answer = rig.gw->Get("/v1/models/gemini-2.0-flash");
  E2E_CHECK(answer && answer->status == 200 && json::parse(answer->body)["id"] == "gemini-2.0-flash", (answer ? answer->body : ""));
  check_error_shape(rig.gw->Get("/v1/models/gpt-9"), 404, "model_not_found", "GET /v1/models/gpt-9");
  note("GET /v1/models lists the configured models in OpenAI's format; /v1/models/ID one of them; an unknown id: 404");

  answer = rig.gw->Post("/v1/embeddings", R"({"model":"text-embedding-004","input":["hello world!","abcd"]})", "application/json");
  E2E_CHECK(answer && answer->status == 200, (answer ? answer->body : "") << "\n" << rig.logs());
  json body = json::parse(answer->body);
  E2E_CHECK(body["data"].size() == 2 && body["data"][0]["embedding"].size() == 8 && header(answer, "X-Gateway-Provider") == "gemini",
            answer->body);
  E2E_CHECK(json::parse(rig.provider->Get("/admin/last")->body)["model"] == "text-embedding-004", "an embedding model is never replaced");
  E2E_CHECK(used_of(rig.quota_status(), "gemini-1", "tokens", "day") == 4, "the answer's usage (3 + 1 tokens) is committed: "
                                                                                 << rig.quota_status().dump());
  note("POST /v1/embeddings goes to the provider that lists the model; its usage (4 tokens) is committed");

  answer = rig.gw->Post("/v1/completions", R"({"model":"llama-3.1-8b-instant","prompt":"hello world!","max_tokens":5})", "application/json");
  E2E_CHECK(answer && answer->status == 200, (answer ? answer->body : "") << "\n" << rig.logs());
  body = json::parse(answer->body);
  E2E_CHECK(body["object"] == "text_completion" && body["usage"]["total_tokens"] == 8 && header(answer, "X-Gateway-Provider") == "groq",
            answer->body);
  E2E_CHECK(used_of(rig.quota_status(), "groq-1", "tokens", "day") == 8, rig.quota_status().dump());
  note("POST /v1/completions: forwarded to the provider that lists the model, usage (3 + 5 tokens) committed");

  // Failover on embeddings too: gemini's key refused (503 twice) -> 502 after max_attempts, as chat.
  E2E_CHECK(rig.provider->Post("/admin/fail?provider=gemini&status=503&count=1", "", "text/plain")->status == 200, "");
  answer = rig.gw->Post("/v1/embeddings", R"({"model":"text-embedding-004","input":"abcd"})", "application/json");
  E2E_CHECK(answer && answer->status == 200 && header(answer, "X-Gateway-Attempts") == "2", (answer ? answer->body : "") << rig.logs());
  note("a 503 on embeddings is retried like a chat completion");

  // Errors: every one in OpenAI's shape.
  check_error_shape(rig.gw->Get("/v1/nothing-here"), 404, "unknown_url", "GET /v1/nothing-here");
  check_error_shape(rig.gw->Post("/v2/chat", "{}", "application/json"), 404, "unknown_url", "POST /v2/chat");
  auto wrong = rig.gw->Get("/v1/chat/completions");
  check_error_shape(wrong, 405, "method_not_allowed", "GET /v1/chat/completions");
  E2E_CHECK(wrong->get_header_value("Allow") == "POST", wrong->get_header_value("Allow"));
  wrong = rig.gw->Post("/v1/models", "{}", "application/json");
  check_error_shape(wrong, 405, "method_not_allowed", "POST /v1/models");
  E2E_CHECK(wrong->get_header_value("Allow") == "GET", wrong->get_header_value("Allow"));
  check_error_shape(rig.gw->Delete("/metrics"), 405, "method_not_allowed", "DELETE /metrics");
  check_error_shape(rig.gw->Post("/v1/chat/completions", "{not json", "application/json"), 400, "", "malformed JSON");
  check_error_shape(rig.gw->Post("/v1/embeddings", R"({"model":"text-embedding-004"})", "application/json"), 400, "invalid_value",
                    "embeddings without input");
  check_error_shape(rig.gw->Post("/v1/embeddings", R"({"model":"text-embedding-004","input":[{}]})", "application/json"), 400,
                    "invalid_value", "embeddings with a bad input");
  check_error_shape(rig.gw->Post("/v1/completions", R"({"model":"m"})", "application/json"), 400, "invalid_value",
                    "completions without prompt");
  check_error_shape(rig.gw->Post("/v1/embeddings", R"({"model":"text-embedding-004","input":"a","stream":true})", "application/json"),
                    400, "invalid_value", "streamed embeddings");
  check_error_shape(rig.chat("hi", {}, R"("stream":"yes",)"), 400, "invalid_type", "stream: \"yes\"");
  check_error_shape(rig.chat("hi", {}, R"("model":42,)"), 400, "invalid_type", "model: 42");
  check_error_shape(rig.chat("hi", {}, R"("stream":true,"stream_options":"x",)"), 400, "invalid_type", "stream_options: \"x\"");
  check_error_shape(rig.chat("hi", {}, R"("stream":true,"stream_options":{"include_usage":"yes"},)"), 400, "invalid_type",
                    "include_usage: \"yes\"");
  const std::uint64_t calls = rig.fake_stats()["keys"][0]["ok"].get<std::uint64_t>() + rig.fake_stats()["keys"][1]["ok"].get<std::uint64_t>();
  E2E_CHECK(calls == 3, "invalid requests never reach a provider: " << rig.fake_stats().dump());
  note("unknown paths (404), wrong methods (405 with Allow) and invalid requests (400) answer JSON in OpenAI's error shape "
       "(message, type, param, code); none reaches a provider");
}

void retry_bound() {
  {
    Rig rig{{"gemini:AIza_test_bound_2525:rpd=5"}, globals + R"(
provider gemini
  base_url FAKE/gemini/v1beta/openai
  limit requests 1 per day
)",
            {{"GEMINI_API_KEY", "AIza_test_bound_2525"}}};
    E2E_CHECK(rig.chat("hi")->status == 200, rig.logs());
    const auto answer = rig.chat("hi");
    check_error_shape(answer, 429, "all_keys_exhausted", "a spent day");
    const json body = json::parse(answer->body);
    const std::int64_t retry = std::stoll(header(answer, "Retry-After"));
    const std::int64_t midnight = seconds_to_midnight_utc();
    E2E_CHECK(retry >= midnight - 5 && retry <= midnight + 5, "Retry-After still says the true wait: " << retry);
    if (midnight > 65) {
      E2E_CHECK(header(answer, "x-should-retry") == "false", "a wait past 60 s: x-should-retry: false; got '"
                                                                 << header(answer, "x-should-retry") << "'");
      E2E_CHECK(!answer->has_header("retry-after-ms"), "");
      E2E_CHECK(body["error"]["message"].get<std::string>().find("do not retry before") != std::string::npos, body.dump());
    }
    E2E_CHECK(body["error"]["retry_after_s"] == retry && body["error"]["resumes_at"].get<std::string>().ends_with("T00:00:00Z"),
              "the body has the wait in seconds and the reset time (RFC 3339, UTC): " << body.dump());
    note("a spent day: 429 with the true Retry-After (" + std::to_string(retry) + " s), x-should-retry: false, and resumes_at " +
         body["error"]["resumes_at"].get<std::string>() + " in the body");
  }
  {
    Rig rig{{"groq:gsk_test_bound_2626"}, globals + R"(
provider groq
  base_url FAKE/groq/openai/v1
  limit requests 2 per 60s
)",
            {{"GROQ_API_KEY", "gsk_test_bound_2626"}}, "_short"};
    for (int i = 0; i < 2; ++i) E2E_CHECK(rig.chat("hi")->status == 200, rig.logs());
    const auto answer = rig.chat("hi");
    check_error_shape(answer, 429, "all_keys_exhausted", "a busy minute");
    const std::int64_t retry = std::stoll(header(answer, "Retry-After"));
    const std::int64_t retry_ms = std::stoll(header(answer, "retry-after-ms"));
    E2E_CHECK(header(answer, "x-should-retry") == "true" && retry <= 30 && retry_ms > 0 && retry_ms <= retry * 1000,
              "a short wait: x-should-retry: true, retry-after-ms " << retry_ms << " within Retry-After " << retry);
    note("a wait of " + std::to_string(retry) + " s (under max_retry_after): x-should-retry: true, retry-after-ms " +
         std::to_string(retry_ms));
  }
  {
    Rig rig{{"groq:gsk_test_bound_2727"}, "max_retry_after 5s\nclient_limit 1 per minute\n" + std::string{R"(
provider groq
  base_url FAKE/groq/openai/v1
  limit requests 2 per 60s
)"},
            {{"GROQ_API_KEY", "gsk_test_bound_2727"}}, "_bound"};
    E2E_CHECK(rig.chat("hi")->status == 200, rig.logs());
    const auto answer = rig.chat("hi");
    check_error_shape(answer, 429, "client_rate_limited", "the client limit");
    E2E_CHECK(header(answer, "x-should-retry") == "false", "a client wait of ~60 s past max_retry_after 5s: "
                                                               << header(answer, "x-should-retry"));
    E2E_CHECK(chat_from("127.0.0.2", rig.gateway_port) == 200, "");
    const int third = chat_from("127.0.0.3", rig.gateway_port);
    E2E_CHECK(third == 429, third);
    note("max_retry_after 5s: a client limit's 60 s wait also says x-should-retry: false");
  }
  const fs::path conf = paths.work / "bad.conf";
  write_file(conf, "max_retry_after soon\nprovider groq\n  base_url http://127.0.0.1:9/v1\n");
  Child check{"bad_bound", {paths.gateway, "--config", conf.string(), "--check"}, {{"GROQ_API_KEY", "gsk_test_bound_2828"}}};
  const auto status = check.wait_exit(10s);
  E2E_CHECK(status && WEXITSTATUS(*status) == 2 && check.err().find("bad.conf:1: 'max_retry_after': 'soon' is not a duration") != std::string::npos,
            check.err());
  note("a bad max_retry_after is reported at its line");
}

void model_routing() {
  Rig rig{{"groq:gsk_test_route_2929:rpm=1", "gemini:AIza_test_route_3030", "openai:sk-test-route-3131"},
          globals + R"(
provider groq
  base_url FAKE/groq/openai/v1
  model llama-3.1-8b-instant
  models llama-3.1-8b-instant
  models llama-3.3-70b-versatile
  limit requests 1000 per day
provider gemini
  tier 1
  base_url FAKE/gemini/v1beta/openai
  models gemini-2.0-flash
  limit requests 1000 per day
)",
          {{"GROQ_API_KEY", "gsk_test_route_2929"}, {"GEMINI_API_KEY", "AIza_test_route_3030"}}};
  const auto ask = [&](const std::string& model) {
    return rig.chat("hi", {}, model.empty() ? std::string{R"("model":null,)"} : R"("model":")" + model + R"(",)");
  };
  const auto last_model = [&] { return json::parse(rig.provider->Get("/admin/last")->body)["model"]; };
  auto answer = ask("gemini-2.0-flash");
  E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Provider") == "gemini" && header(answer, "X-Gateway-Attempts") == "1",
            answer->status << " " << header(answer, "X-Gateway-Provider") << "\n" << rig.logs());
  E2E_CHECK(last_model() == "gemini-2.0-flash", last_model());
  note("a model only gemini lists goes straight to gemini's keys (groq is tier 0 but does not serve it)");
  answer = ask("llama-3.3-70b-versatile");
  E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Provider") == "groq" && last_model() == "llama-3.3-70b-versatile",
            header(answer, "X-Gateway-Provider") << " " << last_model());
  note("a model groq lists is sent to groq as the client named it (not replaced by groq's model)");
  // Groq's key has one request a minute at the fake: its 429 cannot fail over to gemini, which does not serve the model.
  answer = ask("llama-3.3-70b-versatile");
  E2E_CHECK(answer->status == 429 && json::parse(answer->body)["error"]["type"] == "all_keys_exhausted",
            "no other provider serves the model: " << answer->status << " " << answer->body << "\n" << rig.logs());
  E2E_CHECK(rig.fake_stats()["keys"][1]["ok"] == 1, "gemini must not be sent a llama model: " << rig.fake_stats().dump());
  note("when groq's key is limited, a llama request is refused (429) rather than sent to gemini");
  answer = ask("gemini-2.0-flash");
  E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Provider") == "gemini", answer->status);
  const std::uint64_t calls = rig.fake_stats()["keys"][0]["ok"].get<std::uint64_t>() + rig.fake_stats()["keys"][0]["refused"].get<std::uint64_t>() +
                              rig.fake_stats()["keys"][1]["ok"].get<std::uint64_t>();
  answer = ask("gpt-4o");
  check_error_shape(answer, 404, "model_not_found", "an unknown model");
  E2E_CHECK(json::parse(answer->body)["error"]["param"] == "model", answer->body);
  check_error_shape(ask(""), 400, "missing_required_parameter", "no model");
  E2E_CHECK(rig.fake_stats()["keys"][0]["ok"].get<std::uint64_t>() + rig.fake_stats()["keys"][0]["refused"].get<std::uint64_t>() +
                    rig.fake_stats()["keys"][1]["ok"].get<std::uint64_t>() == calls,
            "refused models never reach a provider");
  note("a model no provider lists: 404 model_not_found; no model when every provider lists its models: 400");

  Rig open{{"groq:gsk_test_route_3232", "openai:sk-test-route-3333"},
           globals + R"(
provider groq
  base_url FAKE/groq/openai/v1
  models llama-3.3-70b-versatile
  limit requests 1000 per day
provider openai
  tier 1
  base_url FAKE/openai/v1
  model gpt-4o-mini
  limit requests 1000 per day
)",
           {{"GROQ_API_KEY", "gsk_test_route_3232"}, {"OPENAI_API_KEY", "sk-test-route-3333"}}, "_catch_all"};
  answer = open.chat("hi", {}, R"("model":"something-else",)");
  E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Provider") == "openai" &&
                json::parse(open.provider->Get("/admin/last")->body)["model"] == "gpt-4o-mini",
            "a model nobody lists goes to the provider that lists none, with its model: " << answer->body << "\n" << open.logs());
  answer = open.chat("hi", {}, R"("model":"llama-3.3-70b-versatile",)");
  E2E_CHECK(answer->status == 200 && header(answer, "X-Gateway-Provider") == "groq", header(answer, "X-Gateway-Provider"));
  note("with a provider that lists no models, other models go to it (today's behaviour, its model substituted)");
}

/// The official OpenAI Node SDK against the gateway: examples/gateway/e2e/sdk_test.mjs, with the
/// openai package installed by the test setup in --sdk DIR.
std::string node_program, sdk_dir, sdk_script;

void sdk() {
  E2E_CHECK(!node_program.empty() && fs::exists(node_program),
            "Node.js is needed for the OpenAI SDK test: install nodejs and npm (make deps, or apt-get install nodejs npm), "
            "then configure again");
  E2E_CHECK(fs::exists(fs::path{sdk_dir} / "node_modules" / "openai" / "package.json"),
            "the openai npm package is not installed in " << sdk_dir << ": the setup test (examples.gateway.sdk.setup) "
            "installs it with npm install; run it (it needs npm and the npm registry)");
  Rig rig{{"groq:gsk_test_sdk_3434", "gemini:AIza_test_sdk_3535:rpd=100"},
          "backoff 10ms\nclient_limit 1000 per minute\n" + std::string{R"(
provider groq
  base_url FAKE/groq/openai/v1
  model llama-3.1-8b-instant
  models llama-3.1-8b-instant text-embedding-3-small
  limit requests 1000 per day
  limit tokens 100000 per day
provider gemini
  tier 1
  base_url FAKE/gemini/v1beta/openai
  models gemini-2.0-flash
  limit requests 1 per day
)"},
          {{"GROQ_API_KEY", "gsk_test_sdk_3434"}, {"GEMINI_API_KEY", "AIza_test_sdk_3535"}}};
  Rig limited{{"groq:gsk_test_sdk_3636"}, "client_limit 2 per minute\n" + groq_block, {{"GROQ_API_KEY", "gsk_test_sdk_3636"}},
              "_limited"};
  Child node{"node",
             {node_program, sdk_script},
             {{"GATEWAY_URL", "http://127.0.0.1:" + std::to_string(rig.gateway_port)},
              {"LIMITED_GATEWAY_URL", "http://127.0.0.1:" + std::to_string(limited.gateway_port)},
              {"OPENAI_SDK_DIR", sdk_dir},
              {"PATH", "/usr/local/bin:/usr/bin:/bin"},
              {"HOME", paths.work.string()}}};
  const auto status = node.wait_exit(150s);
  std::cout << node.out();
  E2E_CHECK(status, "the SDK script did not finish within 150 s\n" << node.err() << rig.logs());
  E2E_CHECK(WIFEXITED(*status) && WEXITSTATUS(*status) == 0,
            "the SDK script failed (" << Child::describe(*status) << "):\n" << node.out() << node.err() << rig.logs());
  note("the official OpenAI Node SDK passed: plain chat, streaming with usage, models, embeddings, a client 429, "
       "an all-keys 429 that ends at once");
}

}  // namespace

#include "ops_scenarios.hpp"
#include "reload_scenarios.hpp"

namespace {

const std::map<std::string, std::function<void()>> scenarios{
    {"success", success},     {"failover", failover},         {"bad_key", bad_key},
    {"exhausted", exhausted}, {"upstream_failure", upstream_failure}, {"admin", admin},
    {"openai_quota", openai_quota},
    {"client_limit", client_limit}, {"metrics", metrics},     {"bad_config", bad_config},
    {"shutdown", shutdown},
    {"hostile_input", hostile_input}, {"slow_clients", slow_clients}, {"port_taken", port_taken},
    {"access_log", access_log}, {"state_file", state_file}, {"redis_fleet", redis_fleet},
    {"admin_keys", admin_keys}, {"ops_config", ops_config},
    {"streaming", streaming}, {"openai_surface", openai_surface}, {"retry_bound", retry_bound},
    {"model_routing", model_routing}, {"sdk", sdk}, {"dashboard_data", dashboard_data},
    {"reload_keys", reload_keys}, {"reload_limits", reload_limits}, {"reload_refused", reload_refused},
    {"stream_log", stream_log}, {"bounded_estimate", bounded_estimate}};

}  // namespace

int main(int argc, char** argv) {
  std::string scenario;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--gateway" && i + 1 < argc) paths.gateway = argv[++i];
    else if (arg == "--fake" && i + 1 < argc) paths.fake = argv[++i];
    else if (arg == "--work" && i + 1 < argc) paths.work = argv[++i];
    else if (arg == "--node" && i + 1 < argc) node_program = argv[++i];
    else if (arg == "--sdk" && i + 1 < argc) sdk_dir = argv[++i];
    else if (arg == "--sdk-script" && i + 1 < argc) sdk_script = argv[++i];
    else if (scenario.empty() && !arg.starts_with("--")) scenario = arg;
    else {
      std::cerr << "gateway_e2e: unexpected argument '" << arg << "'\n";
      return 2;
    }
  }
  if (scenario.empty() || paths.gateway.empty() || paths.fake.empty() || paths.work.empty() || !scenarios.contains(scenario)) {
    std::cerr << "usage: gateway_e2e SCENARIO --gateway PATH --fake PATH --work DIR\nscenarios:";
    for (const auto& [name, run] : scenarios) std::cerr << " " << name;
    std::cerr << "\n";
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  std::cout << "scenario " << scenario << std::endl;
  try {
    std::error_code ignored;
    fs::remove_all(paths.work, ignored);
    fs::create_directories(paths.work);
    scenarios.at(scenario)();
  } catch (const std::exception& e) {
    std::cout << "FAILED: " << e.what() << std::endl;
    return 1;
  }
  std::cout << "passed" << std::endl;
  return 0;
}
