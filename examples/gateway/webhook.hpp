// gateway::Webhook: a keypool alert sink that POSTs each event as JSON to an HTTP(S) URL, in the
// shape a chat webhook expects (Slack-style {"text"}, Telegram-style {"chat_id","text"}) or as the
// event's fields. It blocks on the network: put it behind keypool::alert::Queued.
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <httplib.h>

#include <keypool/alert/ostream.hpp>  // keypool::format_event: the event's one-line text
#include <keypool/concepts.hpp>
#include <keypool/error.hpp>
#include <keypool/events.hpp>

namespace gateway {

/// The JSON body a Webhook posts for an event. Every style carries the event's line as
/// keypool::format_event writes it (docs/alerts.md, "The line format"), e.g.
/// `2026-11-24T10:42:07Z threshold_crossed provider=groq key=groq-1 metric=tokens window=day level=80% used=11520 limit=14400 resets_at=2026-11-25T00:00:00Z`.
enum class WebhookStyle : std::uint8_t {
  /// `{"text":"<prefix><line>"}`: Slack incoming webhooks, and the many chat tools that accept
  /// Slack's format (Mattermost, Rocket.Chat, Zulip's Slack-compatible endpoint, …).
  slack,
  /// `{"chat_id":<chat_id>,"text":"<prefix><line>"}`: Telegram's Bot API `sendMessage`
  /// (URL `https://api.telegram.org/bot<token>/sendMessage`). `chat_id` is written as a JSON
  /// number when it is one (`-1001234567890`), else as a string (`"@my_channel"`).
  telegram,
  /// Every field of the event, for a program: `{"kind","at","provider","key","to_provider",
  /// "metric","window","level","used","limit","resets_at","eta_s","count","keys","reason","text"}`; names that
  /// do not apply to the kind are null, numbers are 0.
  event,
};

/// How a Webhook posts.
struct WebhookOptions {
  WebhookStyle style = WebhookStyle::slack;
  /// Telegram: the chat to post to (required with WebhookStyle::telegram, ignored otherwise).
  std::string chat_id{};
  /// Put before the line in "text", e.g. "[prod] " to tell environments apart.
  std::string text_prefix{};
  /// For each phase of a POST: connecting, sending, waiting for the answer. A POST that takes
  /// longer fails (and, behind alert::Queued, only delays the events queued after it).
  std::chrono::milliseconds timeout{5'000};
};

/// A POST that failed: no connection, a timeout, or an answer other than 2xx. The message names
/// the endpoint's scheme, host and port, never its path (which may hold a token, as Telegram's
/// and Slack's do).
class WebhookError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An alert sink (keypool::AlertSink) that POSTs each event as one JSON document to `url`.
///
///     using Alerts = kp::alert::Queued<gateway::Webhook>;
///     kp::KeyPool<Alerts> pool{Alerts{gateway::Webhook{"https://hooks.slack.com/services/T0/B0/XXXX"}, 1024}};
///
/// **Put it behind alert::Queued.** emit does network I/O on the calling thread and waits for the
/// answer (up to 3 × timeout). Called by the pool directly, that thread is the one inside
/// acquire(): a slow endpoint would stall requests. Behind Queued, emit runs on the queue's
/// drainer thread; acquire only copies the event into the ring, and an endpoint that is down or
/// slow costs it nothing (a flood beyond the ring's capacity is dropped and reported as one
/// `events_dropped` event, which is posted in turn).
///
/// **Failures.** A POST that fails throws WebhookError after counting it in failed(); the event
/// is lost (no retry: the next event is posted as usual). Behind Queued, the queue catches the
/// exception and counts it in its `sink_failures()` (the pool's own `sink_failures()` counts
/// only what the pool's sink, here the Queued, throws: nothing). Called by the pool directly, the
/// pool catches it and counts it in `pool.sink_failures()`.
///
/// **Secrets.** An event names keys by their label, never by their secret, so no body holds a
/// key's secret. The URL itself may be a credential (Slack's and Telegram's are): it is never
/// written into an error message or a body.
///
/// Threads: emit is thread-safe (posts run one at a time, under a mutex). Copies share the
/// connection settings, the mutex and the counters (alert::Callback-style wrappers copy their
/// sink). Move leaves the source unusable (emit on it throws WebhookError).
class Webhook {
 public:
  /// Posts to `url`, `http://host[:port][/path]` or `https://…` (https when cpp-httplib has
  /// OpenSSL support). Throws keypool::Error on a URL that is not http(s), has no host or holds a
  /// space or control character, on https without OpenSSL support, on a timeout that is not
  /// positive, and on WebhookStyle::telegram without a chat_id. Opens no connection.
  explicit Webhook(std::string_view url, WebhookOptions options = {}) : state_(std::make_shared<State>()) {
    State& state = *state_;
    const std::size_t scheme_end = url.find("://");
    const std::string_view scheme = scheme_end == std::string_view::npos ? std::string_view{} : url.substr(0, scheme_end);
    if (scheme != "http" && scheme != "https")
      throw keypool::Error("webhook: the URL must start with http:// or https:// (e.g. http://127.0.0.1:9000/alerts)");
    for (const char c : url)
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
        throw keypool::Error("webhook: the URL holds a space or a control character; percent-encode it");
    const std::string_view rest = url.substr(scheme_end + 3);
    const std::size_t path_start = std::min(rest.find_first_of("/?"), rest.size());
    const std::string_view authority = rest.substr(0, path_start);
    if (authority.empty() || authority.find('@') != std::string_view::npos)
      throw keypool::Error("webhook: the URL needs a host (and no user:password@), e.g. http://127.0.0.1:9000/alerts");
    state.origin = std::string{scheme} + "://" + std::string{authority};
    state.path = std::string{rest.substr(path_start)};
    if (state.path.empty() || state.path.front() != '/') state.path.insert(0, "/");
    if (options.timeout <= std::chrono::milliseconds::zero())
      throw keypool::Error("webhook: the timeout must be positive, e.g. 5 s");
    if (options.style == WebhookStyle::telegram && options.chat_id.empty())
      throw keypool::Error("webhook: the Telegram style needs a chat_id (e.g. -1001234567890 or @my_channel)");
    state.options = std::move(options);
    state.client = std::make_unique<httplib::Client>(state.origin);
    if (!state.client->is_valid())
      throw keypool::Error("webhook: cannot post to " + state.origin +
                           (scheme == "https" ? " (https needs cpp-httplib built with OpenSSL support)" : ""));
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(state.options.timeout);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(state.options.timeout - seconds);
    state.client->set_connection_timeout(seconds.count(), micros.count());
    state.client->set_read_timeout(seconds.count(), micros.count());
    state.client->set_write_timeout(seconds.count(), micros.count());
    state.client->set_keep_alive(false);
  }

  /// POSTs the event's body (payload()) with Content-Type application/json, and waits for a 2xx
  /// answer. Throws WebhookError when there is none (counted in failed() first), std::bad_alloc.
  /// Thread-safe (one POST at a time). Blocks for the network: see the class comment.
  void emit(const keypool::Event& event) {
    State* const state = state_.get();
    if (state == nullptr) throw WebhookError("webhook: emit on a moved-from Webhook");
    const std::string body = payload(event);
    std::lock_guard lock{state->mutex};
    const httplib::Result result = state->client->Post(state->path, body, "application/json");
    if (!result) {
      state->failed.fetch_add(1, std::memory_order_relaxed);
      throw WebhookError("webhook " + state->origin + ": POST failed: " + httplib::to_string(result.error()));
    }
    if (result->status < 200 || result->status > 299) {
      state->failed.fetch_add(1, std::memory_order_relaxed);
      throw WebhookError("webhook " + state->origin + ": POST answered HTTP " + std::to_string(result->status));
    }
    state->sent.fetch_add(1, std::memory_order_relaxed);
  }

  /// The JSON body emit posts for `event`, in this sink's style (see WebhookStyle). Valid UTF-8
  /// whatever the labels hold (ill-formed bytes become U+FFFD). Thread-safe. Throws std::bad_alloc.
  [[nodiscard]] std::string payload(const keypool::Event& event) const {
    const WebhookOptions& options = state_->options;
    const std::string text = options.text_prefix + keypool::format_event(event);
    std::string out;
    out.reserve(text.size() + 64);
    switch (options.style) {
      case WebhookStyle::slack:
        out += "{\"text\":";
        append_string(out, text);
        out += '}';
        break;
      case WebhookStyle::telegram:
        out += "{\"chat_id\":";
        if (is_integer(options.chat_id)) out += options.chat_id;
        else append_string(out, options.chat_id);
        out += ",\"text\":";
        append_string(out, text);
        out += '}';
        break;
      case WebhookStyle::event: append_event(out, event, text); break;
    }
    return out;
  }

  /// Events posted with a 2xx answer, and POSTs that failed, by this sink and its copies.
  /// Thread-safe; may be stale at once. 0 on a moved-from Webhook.
  [[nodiscard]] std::uint64_t sent() const noexcept { return state_ ? state_->sent.load(std::memory_order_relaxed) : 0; }
  [[nodiscard]] std::uint64_t failed() const noexcept {
    return state_ ? state_->failed.load(std::memory_order_relaxed) : 0;
  }
  /// `scheme://host[:port]` of the URL: safe to log (the path, which may hold a token, is left out).
  [[nodiscard]] const std::string& origin() const noexcept { return state_->origin; }
  [[nodiscard]] const WebhookOptions& options() const noexcept { return state_->options; }

 private:
  struct State {
    std::string origin;  // scheme://host[:port]
    std::string path;    // /path?query, at least "/"
    WebhookOptions options;
    std::mutex mutex;  // one POST at a time on `client`
    std::unique_ptr<httplib::Client> client;
    std::atomic<std::uint64_t> sent{0};
    std::atomic<std::uint64_t> failed{0};
  };

  static bool is_integer(std::string_view text) {
    if (!text.empty() && text.front() == '-') text.remove_prefix(1);
    if (text.empty() || text.size() > 18 || (text.size() > 1 && text.front() == '0')) return false;  // JSON: no leading 0
    for (const char c : text)
      if (c < '0' || c > '9') return false;
    return true;
  }

  /// Length of the well-formed UTF-8 sequence at `text[i]`, or 0 if it is ill-formed.
  static std::size_t utf8_length(std::string_view text, std::size_t i) {
    const auto byte = [&](std::size_t at) { return static_cast<unsigned char>(text[at]); };
    const unsigned char lead = byte(i);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) length = 2;
    else if (lead >= 0xE0 && lead <= 0xEF) length = 3, low = lead == 0xE0 ? 0xA0 : 0x80, high = lead == 0xED ? 0x9F : 0xBF;
    else if (lead >= 0xF0 && lead <= 0xF4) length = 4, low = lead == 0xF0 ? 0x90 : 0x80, high = lead == 0xF4 ? 0x8F : 0xBF;
    else return 0;
    if (i + length > text.size()) return 0;
    if (byte(i + 1) < low || byte(i + 1) > high) return 0;
    for (std::size_t k = 2; k < length; ++k)
      if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    return length;
  }

  /// `text` as a JSON string: quote, backslash and control characters escaped, ill-formed UTF-8
  /// replaced by U+FFFD.
  static void append_string(std::string& out, std::string_view text) {
    out += '"';
    for (std::size_t i = 0; i < text.size();) {
      const char c = text[i];
      const auto u = static_cast<unsigned char>(c);
      if (u >= 0x80) {
        const std::size_t length = utf8_length(text, i);
        if (length == 0) {
          out += "\xEF\xBF\xBD";
          ++i;
        } else {
          out.append(text, i, length);
          i += length;
        }
        continue;
      }
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (u < 0x20 || u == 0x7f) {
            char escape[8];
            std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(u));
            out += escape;
          } else {
            out += c;
          }
      }
      ++i;
    }
    out += '"';
  }

  static void append_name(std::string& out, std::string_view key, std::string_view name) {
    out += ",\"";
    out += key;
    out += "\":";
    if (name.empty()) out += "null";
    else append_string(out, name);
  }
  static void append_number(std::string& out, std::string_view key, std::uint64_t value) {
    out += ",\"";
    out += key;
    out += "\":";
    out += std::to_string(value);
  }
  static void append_time(std::string& out, std::string_view key, keypool::TimePoint t) {
    out += ",\"";
    out += key;
    out += "\":";
    if (t == keypool::TimePoint{}) {
      out += "null";
      return;
    }
    // RFC 3339 UTC, milliseconds only when not zero: the form format_event writes.
    using namespace std::chrono;
    const auto day = floor<days>(t);
    const year_month_day date{day};
    const hh_mm_ss clock{floor<milliseconds>(t - day)};
    char text[40];
    const int size = std::snprintf(text, sizeof text, "\"%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(date.year()),
                                   static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                                   static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
                                   static_cast<int>(clock.seconds().count()));
    out.append(text, static_cast<std::size_t>(std::max(size, 0)));
    if (const auto ms = clock.subseconds().count(); ms != 0) {
      std::snprintf(text, sizeof text, ".%03d", static_cast<int>(ms));
      out += text;
    }
    out += "Z\"";
  }
  static void append_double(std::string& out, std::string_view key, double value, int decimals) {
    out += ",\"";
    out += key;
    out += "\":";
    char text[64];
    const std::to_chars_result result =
        decimals < 0 ? std::to_chars(text, text + sizeof text, value)
                     : std::to_chars(text, text + sizeof text, value, std::chars_format::fixed, decimals);
    out.append(text, result.ptr);  // locale-independent
  }

  static void append_event(std::string& out, const keypool::Event& e, std::string_view text) {
    out += "{\"kind\":";
    append_string(out, keypool::to_string(e.kind));
    append_time(out, "at", e.at);
    append_name(out, "provider", e.provider_name);
    append_name(out, "key", e.key_label);
    append_name(out, "to_provider", e.to_provider_name);
    append_name(out, "metric", e.window.empty() ? std::string_view{} : keypool::to_string(e.metric));
    append_name(out, "window", e.window);
    append_double(out, "level", e.level, -1);  // shortest form: 0.8
    append_number(out, "used", e.used);
    append_number(out, "limit", e.limit);
    append_time(out, "resets_at", e.resets_at);
    append_double(out, "eta_s", std::chrono::duration<double>(e.eta).count(), 3);
    append_number(out, "count", e.count);
    append_number(out, "keys", e.keys);
    append_name(out, "reason", e.reason ? keypool::to_string(*e.reason) : std::string_view{});
    out += ",\"text\":";
    append_string(out, text);
    out += '}';
  }

  std::shared_ptr<State> state_;
};

static_assert(keypool::AlertSink<Webhook>, "gateway::Webhook must plug into a pool as its alert sink");

}  // namespace gateway
