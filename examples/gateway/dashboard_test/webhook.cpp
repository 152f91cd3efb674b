// gateway_webhook_test: gateway::Webhook (webhook.hpp) posting a real pool's events to a real
// HTTP receiver on 127.0.0.1. Behind alert::Queued, a key that crosses 80%, 90% and 100% makes
// the receiver get exactly those events, in order, as valid JSON in each payload style; a
// receiver that is down, or hangs, costs acquire nothing and is counted as failures; bad URLs
// and options are refused; an error message never holds the URL's path (a token).
#include <keypool/alert/callback.hpp>
#include <keypool/alert/fanout.hpp>
#include <keypool/alert/queued.hpp>
#include <keypool/keypool.hpp>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "dashboard_test/support.hpp"
#include "webhook.hpp"

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;
using gateway::Webhook;
using gateway::WebhookOptions;
using gateway::WebhookStyle;
using gateway_test::Checks;
using nlohmann::json;

namespace {

/// An HTTP receiver on 127.0.0.1 that records every POST; answers `status` after `delay`.
class Receiver {
 public:
  struct Post {
    std::string path, content_type, body;
  };

  explicit Receiver(int status = 200, milliseconds delay = 0ms) {
    server_.server().Post(R"(/.*)", [this, status, delay](const httplib::Request& req, httplib::Response& res) {
      if (delay > 0ms) std::this_thread::sleep_for(delay);
      {
        std::lock_guard lock{mutex_};
        posts_.push_back({req.path, req.get_header_value("Content-Type"), req.body});
      }
      res.status = status;
      res.set_content(status == 200 ? "ok" : "no", "text/plain");
    });
    server_.start();
  }
  [[nodiscard]] std::string url(std::string_view path) const { return server_.url(path); }
  [[nodiscard]] std::vector<Post> posts() const {
    std::lock_guard lock{mutex_};
    return posts_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Post> posts_;
  // Last: destroyed first, so its threads stop before the posts they write to are freed.
  gateway_test::LocalServer server_;
};

using Queued = kp::alert::Queued<Webhook>;
using Recorded = kp::alert::Fanout<kp::alert::Callback, Queued>;
using Pool = kp::KeyPool<kp::clock::Manual, Recorded>;

const std::string secret_text = "gsk_webhook_test_secret_7Qz9";

/// A key crossing 80%, 90% and 100% of its 1,000 tokens a day, its events posted in `style`;
/// checks what the receiver got against what the pool raised.
void crossing_thresholds(Checks& checks, WebhookStyle style, const std::string& chat_id, const std::string& name) {
  Receiver receiver;
  const std::string path = "/hooks/" + name + "?token=T0K3N";
  std::vector<kp::Event> raised;  // the pool's events, in order, with their lines
  std::vector<std::string> lines;
  std::mutex raised_mutex;
  kp::clock::Manual clock{sys_days{2026y / November / 24} + 10h + 42min + 7s};
  Pool pool{clock, Recorded{kp::alert::Callback{[&](const kp::Event& e) {
                              std::lock_guard lock{raised_mutex};
                              raised.push_back(e);
                              lines.push_back("[test] " + kp::format_event(e));
                            }},
                            Queued{Webhook{receiver.url(path), {.style = style, .chat_id = chat_id, .text_prefix = "[test] "}},
                                   64}}};
  const std::string label = "groq \"blue\" ü";
  pool.add_key(pool.add_provider("groq"), kp::Secret{secret_text}, {kp::Limit::tokens(1'000).per_day()},
               {.label = label});
  for (const std::uint64_t tokens : {500, 300, 100, 99, 1}) {  // 50%, 80%, 90%, 99.9%, 100%
    kp::Lease lease = pool.acquire({.tokens = tokens});
    checks.that(static_cast<bool>(lease), name + ": the key serves " + std::to_string(tokens) + " tokens");
    lease.commit();
  }
  Queued& queued = pool.alerts().get<1>();
  queued.flush();

  // The pool raised exactly: 80%, 90%, 100%, exhausted.
  const std::vector<std::pair<kp::EventKind, double>> expected{{kp::EventKind::threshold_crossed, 0.8},
                                                               {kp::EventKind::threshold_crossed, 0.9},
                                                               {kp::EventKind::threshold_crossed, 1.0},
                                                               {kp::EventKind::key_exhausted, 0.0}};
  checks.equal(raised.size(), expected.size(), name + ": events raised");
  for (std::size_t i = 0; i < expected.size() && i < raised.size(); ++i) {
    checks.that(raised[i].kind == expected[i].first &&
                    (raised[i].kind != kp::EventKind::threshold_crossed || raised[i].level == expected[i].second),
                name + ": event " + std::to_string(i) + " is " + std::string{kp::to_string(expected[i].first)} +
                    " at level " + std::to_string(expected[i].second));
  }

  const std::vector<Receiver::Post> posts = receiver.posts();
  checks.equal(posts.size(), raised.size(), name + ": one POST per event");
  checks.equal(queued.sink().sent(), raised.size(), name + ": Webhook::sent()");
  checks.equal(queued.sink().failed(), std::uint64_t{0}, name + ": Webhook::failed()");
  checks.equal(queued.sink_failures(), std::uint64_t{0}, name + ": Queued::sink_failures()");
  for (std::size_t i = 0; i < posts.size() && i < raised.size(); ++i) {
    const std::string what = name + ": POST " + std::to_string(i);
    checks.equal(posts[i].path, "/hooks/" + name, what + ": path");
    checks.equal(posts[i].content_type, std::string{"application/json"}, what + ": Content-Type");
    checks.that(posts[i].body.find(secret_text.substr(4, 8)) == std::string::npos, what + ": no part of the secret");
    json body;
    try {
      body = json::parse(posts[i].body);  // also rejects ill-formed UTF-8
    } catch (const json::exception& e) {
      checks.that(false, what + ": valid JSON (" + e.what() + "): " + posts[i].body);
      continue;
    }
    checks.that(body.is_object() && body.contains("text") && body["text"] == lines[i],
                what + ": text is the event's line '" + lines[i] + "'");
    checks.that(lines[i].find("key=\"groq \\\"blue\\\" ü\"") != std::string::npos, what + ": the label, quoted");
    switch (style) {
      case WebhookStyle::slack: checks.equal(body.size(), std::size_t{1}, what + ": only text"); break;
      case WebhookStyle::telegram:
        checks.equal(body.size(), std::size_t{2}, what + ": chat_id and text");
        if (chat_id.front() == '@')
          checks.that(body["chat_id"].is_string() && body["chat_id"] == chat_id, what + ": chat_id, a string");
        else
          checks.that(body["chat_id"].is_number_integer() && body["chat_id"].get<std::int64_t>() == std::stoll(chat_id),
                      what + ": chat_id, a number");
        break;
      case WebhookStyle::event: {
        const kp::Event& e = raised[i];
        checks.equal(body.value("kind", ""), std::string{kp::to_string(e.kind)}, what + ": kind");
        checks.equal(body.value("at", ""), std::string{"2026-11-24T10:42:07Z"}, what + ": at");
        checks.equal(body.value("provider", ""), std::string{"groq"}, what + ": provider");
        checks.equal(body.value("key", ""), label, what + ": key");
        checks.that(body["to_provider"].is_null(), what + ": to_provider null");
        checks.equal(body.value("metric", ""), std::string{"tokens"}, what + ": metric");
        checks.equal(body.value("window", ""), std::string{"day"}, what + ": window");
        checks.equal(body.value("level", -1.0), e.level, what + ": level");
        checks.equal(body.value("used", std::uint64_t{0}), e.used, what + ": used");
        checks.equal(body.value("limit", std::uint64_t{0}), std::uint64_t{1'000}, what + ": limit");
        checks.equal(body.value("resets_at", ""), std::string{"2026-11-25T00:00:00Z"}, what + ": resets_at");
        break;
      }
    }
  }
}

/// A receiver that is down (nothing listens) or hangs (answers after the timeout): acquire does
/// not wait for it; every event is a counted failure.
void unreachable(Checks& checks, bool hanging) {
  const std::string name = hanging ? "hanging receiver" : "receiver down";
  std::unique_ptr<Receiver> slow;
  std::string url;
  if (hanging) {
    slow = std::make_unique<Receiver>(200, 1'500ms);
    url = slow->url("/hooks/slow");
  } else {
    url = "http://127.0.0.1:" + std::to_string(gateway_test::closed_port()) + "/hooks/down";
  }
  kp::clock::Manual clock{sys_days{2026y / November / 24} + 8h};
  kp::KeyPool<kp::clock::Manual, Queued> pool{clock, Queued{Webhook{url, {.timeout = 200ms}}, 256}};
  const auto provider = pool.add_provider("groq");
  constexpr int keys = 4;
  for (int k = 0; k < keys; ++k)
    pool.add_key(provider, kp::Secret{secret_text + std::to_string(k)}, {kp::Limit::tokens(1'000).per_day()},
                 {.label = "groq-" + std::to_string(k)});

  // Each key: 80%, 90%, 100% + exhausted = 4 events; 16 in all. Fill the keys one after another
  // (round-robin spreads requests, so ask in steps every key can take).
  nanoseconds slowest{0};
  const auto started = steady_clock::now();
  for (const std::uint64_t tokens : {800, 100, 100}) {
    for (int k = 0; k < keys; ++k) {
      const auto before = steady_clock::now();
      kp::Lease lease = pool.acquire({.tokens = tokens});
      slowest = std::max(slowest, steady_clock::now() - before);
      checks.that(static_cast<bool>(lease), name + ": acquire served");
      lease.commit();
    }
  }
  const auto acquiring = steady_clock::now() - started;
  const std::uint64_t events = 4 * keys;
  // While acquire returned, the drainer was (for a hanging receiver) still waiting on its first POST.
  checks.that(slowest < 100ms, name + ": the slowest acquire took " +
                                  std::to_string(duration_cast<microseconds>(slowest).count()) + " us, under 100 ms");
  pool.alerts().flush();
  const auto delivering = steady_clock::now() - started;
  checks.equal(pool.alerts().sink().failed(), events, name + ": Webhook::failed() counts each event");
  checks.equal(pool.alerts().sink().sent(), std::uint64_t{0}, name + ": nothing sent");
  checks.equal(pool.alerts().sink_failures(), events, name + ": Queued::sink_failures() counts each event");
  checks.equal(pool.sink_failures(), std::uint64_t{0}, name + ": the pool's own sink (the queue) never threw");
  checks.equal(pool.alerts().dropped(), std::uint64_t{0}, name + ": the ring dropped nothing");
  if (hanging) {
    checks.that(delivering >= 200ms * events, name + ": the POSTs waited for their timeout (" +
                                                  std::to_string(duration_cast<milliseconds>(delivering).count()) + " ms)");
    checks.that(acquiring * 10 < delivering, name + ": acquiring took a tenth of delivering at most");
  }
}

/// Called by the pool directly (no queue), a failing Webhook is counted by the pool.
void unqueued_failures(Checks& checks) {
  const std::string url = "http://127.0.0.1:" + std::to_string(gateway_test::closed_port()) + "/hooks/direct";
  kp::KeyPool<Webhook> pool{Webhook{url, {.timeout = 200ms}}};
  const kp::KeyId key = pool.add_key(pool.add_provider("groq"), kp::Secret{secret_text}, {kp::Limit::requests(10).per_day()},
                                     {.label = "groq-1"});
  pool.disable(key);  // one event: key_disabled
  checks.equal(pool.sink_failures(), std::uint64_t{1}, "unqueued: the pool counts the failed POST");
  checks.equal(pool.alerts().failed(), std::uint64_t{1}, "unqueued: Webhook::failed()");
}

void bad_configuration(Checks& checks) {
  const auto refused = [&](std::string_view url, WebhookOptions options, std::string_view what) {
    try {
      Webhook webhook{url, std::move(options)};
      checks.that(false, std::string{what} + ": refused");
    } catch (const kp::Error& e) {
      checks.that(std::string_view{e.what()}.find("webhook: ") != std::string_view::npos, std::string{what} + ": refused (" + e.what() + ")");
    }
  };
  refused("ftp://127.0.0.1/alerts", {}, "an ftp URL");
  refused("127.0.0.1:9000/alerts", {}, "a URL without a scheme");
  refused("http:///alerts", {}, "a URL without a host");
  refused("http://user:pw@127.0.0.1/alerts", {}, "a URL with credentials");
  refused("http://127.0.0.1/a b", {}, "a URL with a space");
  refused("http://127.0.0.1/alerts", {.timeout = 0ms}, "a zero timeout");
  refused("https://api.telegram.org/botX/sendMessage", {.style = WebhookStyle::telegram}, "Telegram without chat_id");

  // An error names the origin, never the path (it may hold a token).
  const int port = gateway_test::closed_port();
  Webhook webhook{"http://127.0.0.1:" + std::to_string(port) + "/bot123456:SECRET-TOKEN/sendMessage",
                  {.style = WebhookStyle::telegram, .chat_id = "42", .timeout = 200ms}};
  kp::Event event;
  event.kind = kp::EventKind::all_exhausted;
  try {
    webhook.emit(event);
    checks.that(false, "a POST to a closed port throws");
  } catch (const gateway::WebhookError& e) {
    const std::string message = e.what();
    checks.that(message.find("SECRET-TOKEN") == std::string::npos && message.find("127.0.0.1:" + std::to_string(port)) != std::string::npos,
                "the error names the origin, not the path: " + message);
  }
  checks.equal(webhook.origin(), "http://127.0.0.1:" + std::to_string(port), "origin() leaves the path out");

  // Bodies are valid JSON (valid UTF-8) whatever a label holds.
  Webhook events{"http://127.0.0.1:1/", {.style = WebhookStyle::event}};
  event.kind = kp::EventKind::key_disabled;
  event.provider_name = "groq";
  event.key_label = "bad \xff\xfe utf-8, a tab\t, a bell\x07, \xe2\x82 cut";
  try {
    const json body = json::parse(events.payload(event));
    checks.equal(body.value("key", ""), std::string{"bad \xEF\xBF\xBD\xEF\xBF\xBD utf-8, a tab\t, a bell\x07, \xEF\xBF\xBD\xEF\xBF\xBD cut"},
                 "ill-formed UTF-8 becomes U+FFFD, control characters survive escaped");
    checks.that(body["window"].is_null() && body["metric"].is_null(), "fields that do not apply are null");
  } catch (const json::exception& e) {
    checks.that(false, std::string{"a label with bad bytes still gives valid JSON: "} + e.what());
  }
  Webhook telegram{"http://127.0.0.1:1/", {.style = WebhookStyle::telegram, .chat_id = "007"}};
  checks.that(json::parse(telegram.payload(event))["chat_id"] == "007", "a chat_id with a leading 0 stays a string");
}

}  // namespace

int main() {
  Checks checks;
  crossing_thresholds(checks, WebhookStyle::slack, "", "slack");
  crossing_thresholds(checks, WebhookStyle::telegram, "-1001234567890", "telegram");
  crossing_thresholds(checks, WebhookStyle::telegram, "@keypool_alerts", "telegram-channel");
  crossing_thresholds(checks, WebhookStyle::event, "", "event");
  unreachable(checks, false);
  unreachable(checks, true);
  unqueued_failures(checks);
  bad_configuration(checks);
  return checks.summary("gateway_webhook_test");
}
