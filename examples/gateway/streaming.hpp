// Streaming (server-sent events) for the gateway: a provider's answer is read as it comes
// (UpstreamStream, on a thread of its own) and passed on to the client event by event (SseRelay,
// relay_stream) through httplib's chunked content provider. The gateway holds the lease for the
// whole stream and settles it once, when the stream ends: with the usage the provider reported in
// its final chunk (asked for with stream_options.include_usage), else with an estimate from what
// was streamed; also when the client goes away mid-stream. Until the first byte reaches the
// client, a failed call is retried on another key like any other.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "openai_api.hpp"

namespace gateway {

/// Reads an event stream from a provider and passes on complete events. Keeps what the gateway
/// needs to settle the lease: the usage a chunk reported, the characters of content streamed.
/// The usage-only chunk the gateway asked for on its own is not passed on to a client that did
/// not ask for it.
class SseRelay {
 public:
  explicit SseRelay(bool client_wants_usage) : client_wants_usage_(client_wants_usage) {}

  /// Takes bytes from the provider; appends the complete events among them to `out`.
  void feed(std::string_view bytes, std::string& out) {
    for (const char c : bytes)
      if (c != '\r') buffer_ += c;
    std::size_t start = 0;
    for (std::size_t end; (end = buffer_.find("\n\n", start)) != std::string::npos; start = end + 2)
      event(std::string_view{buffer_}.substr(start, end - start), out);
    buffer_.erase(0, start);
    // An "event" that never ends is passed on as it is rather than held without bound.
    if (buffer_.size() > (std::size_t{1} << 20)) {
      out += buffer_;
      buffer_.clear();
    }
  }
  /// At the end of the stream: passes on what is left.
  void finish(std::string& out) {
    if (!buffer_.empty()) event(buffer_, out);
    buffer_.clear();
  }

  /// The total tokens a chunk reported (`usage`, or Groq's `x_groq.usage`), if any.
  [[nodiscard]] std::optional<std::uint64_t> usage() const noexcept { return usage_; }
  /// Characters of content (`choices[].delta.content`, `choices[].text`) streamed so far.
  [[nodiscard]] std::uint64_t content_characters() const noexcept { return characters_; }
  /// True once `data: [DONE]` went by.
  [[nodiscard]] bool done() const noexcept { return done_; }

 private:
  static std::optional<std::uint64_t> total_of(const nlohmann::json& usage) {
    if (!usage.is_object()) return std::nullopt;
    if (const auto total = usage.find("total_tokens"); total != usage.end() && total->is_number_unsigned())
      return total->get<std::uint64_t>();
    const auto prompt = usage.find("prompt_tokens"), completion = usage.find("completion_tokens");
    if (prompt != usage.end() && prompt->is_number_unsigned() && completion != usage.end() && completion->is_number_unsigned())
      return prompt->get<std::uint64_t>() + completion->get<std::uint64_t>();
    return std::nullopt;
  }

  void event(std::string_view text, std::string& out) {
    bool forward = true;
    std::size_t at = 0;
    while (at <= text.size()) {
      const std::size_t end = std::min(text.find('\n', at), text.size());
      std::string_view line = text.substr(at, end - at);
      at = end + 1;
      if (!line.starts_with("data:")) continue;
      line.remove_prefix(5);
      if (line.starts_with(' ')) line.remove_prefix(1);
      if (line == "[DONE]") {
        done_ = true;
        continue;
      }
      const auto chunk = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!chunk.is_object()) continue;
      std::optional<std::uint64_t> reported;
      if (const auto usage = chunk.find("usage"); usage != chunk.end()) reported = total_of(*usage);
      if (const auto groq = chunk.find("x_groq"); !reported && groq != chunk.end() && groq->is_object())
        if (const auto usage = groq->find("usage"); usage != groq->end()) reported = total_of(*usage);
      if (reported) usage_ = reported;
      const auto choices = chunk.find("choices");
      if (choices != chunk.end() && choices->is_array()) {
        for (const auto& choice : *choices) {
          if (!choice.is_object()) continue;
          if (const auto delta = choice.find("delta"); delta != choice.end() && delta->is_object())
            if (const auto content = delta->find("content"); content != delta->end() && content->is_string())
              characters_ += content->get_ref<const std::string&>().size();
          if (const auto content = choice.find("text"); content != choice.end() && content->is_string())
            characters_ += content->get_ref<const std::string&>().size();
        }
        if (reported && choices->empty() && !client_wants_usage_) forward = false;
      }
    }
    if (!forward) return;
    out += text;
    out += "\n\n";
  }

  bool client_wants_usage_;
  std::string buffer_;
  std::optional<std::uint64_t> usage_;
  std::uint64_t characters_ = 0;
  bool done_ = false;
};

/// One call to a provider whose answer is read as it arrives, on a thread of its own, so that
/// the gateway can decide what to answer (a stream, the provider's error, another key) once it
/// has seen the head and the first bytes. Destroying it cancels the call and waits for the thread.
class UpstreamStream {
 public:
  struct Target {
    std::string origin, path;
    httplib::Headers headers;
    std::string body;
    std::chrono::nanoseconds timeout;
  };
  enum class Start { streaming, answered, failed };

  explicit UpstreamStream(Target target) : client_(target.origin) {
    const auto timeout = std::chrono::duration_cast<std::chrono::microseconds>(target.timeout);
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
    const auto micros = static_cast<time_t>(timeout.count() % 1'000'000);
    client_.set_connection_timeout(seconds, micros);
    client_.set_read_timeout(seconds, micros);
    client_.set_write_timeout(seconds, micros);
    thread_ = std::thread{[this, target = std::move(target)]() mutable { run(std::move(target)); }};
  }
  UpstreamStream(const UpstreamStream&) = delete;
  UpstreamStream& operator=(const UpstreamStream&) = delete;
  ~UpstreamStream() {
    cancel();
    thread_.join();
  }

  /// Waits for the provider: `streaming` once a 2xx event stream has sent its first bytes;
  /// `answered` once another answer (an error, or a 2xx that is not a stream) is complete: see
  /// answer(); `failed` when no answer came, or the stream ended before its first byte: see
  /// failure().
  Start wait_start() {
    std::unique_lock lock{mutex_};
    changed_.wait(lock, [this] { return finished_ || (head_ && streaming_ && !queue_.empty()); });
    if (head_ && streaming_ && !queue_.empty()) return Start::streaming;
    if (head_ && !streaming_ && ok_) return Start::answered;
    if (failure_.empty())
      failure_ = head_ ? "the stream ended before its first byte" : "no answer (" + httplib::to_string(error_) + ")";
    return Start::failed;
  }
  /// The provider's answer when wait_start() said `answered`.
  [[nodiscard]] httplib::Response answer() const {
    std::lock_guard lock{mutex_};
    httplib::Response response;
    response.status = status_;
    response.headers = headers_;
    response.body = body_;
    return response;
  }
  [[nodiscard]] int status() const {
    std::lock_guard lock{mutex_};
    return status_;
  }
  [[nodiscard]] httplib::Headers headers() const {
    std::lock_guard lock{mutex_};
    return headers_;
  }
  [[nodiscard]] std::string failure() const {
    std::lock_guard lock{mutex_};
    return failure_;
  }

  /// Waits for the next bytes of a stream and moves them into `bytes`; false at its end.
  bool next(std::string& bytes) {
    std::unique_lock lock{mutex_};
    changed_.wait(lock, [this] { return finished_ || !queue_.empty(); });
    if (queue_.empty()) return false;
    bytes.clear();
    for (std::string& piece : queue_) bytes += piece;
    queue_.clear();
    queued_ = 0;
    changed_.notify_all();
    return true;
  }
  /// True when the stream ended as HTTP says it should (not cut off, not cancelled).
  [[nodiscard]] bool complete() const {
    std::lock_guard lock{mutex_};
    return finished_ && ok_;
  }
  /// Stops the call (the client went away): the connection to the provider is shut down.
  void cancel() {
    {
      std::lock_guard lock{mutex_};
      if (finished_) return;
      cancelled_ = true;
      changed_.notify_all();
    }
    client_.stop();
  }

 private:
  static constexpr std::size_t max_queued = std::size_t{1} << 20;  // then the reader waits
  static constexpr std::size_t max_body = std::size_t{4} << 20;    // an error answer's body

  void run(Target target) {
    httplib::Request request;
    request.method = "POST";
    request.path = std::move(target.path);
    request.headers = std::move(target.headers);
    request.headers.emplace("Content-Type", "application/json");
    request.headers.emplace("Accept", "text/event-stream");
    request.body = std::move(target.body);
    request.response_handler = [this](const httplib::Response& head) {
      std::lock_guard lock{mutex_};
      head_ = true;
      status_ = head.status;
      headers_ = head.headers;
      streaming_ = head.status >= 200 && head.status < 300 &&
                   head.get_header_value("Content-Type").starts_with("text/event-stream");
      changed_.notify_all();
      return !cancelled_;
    };
    request.content_receiver = [this](const char* data, std::size_t size, std::uint64_t, std::uint64_t) {
      std::unique_lock lock{mutex_};
      if (streaming_) {
        changed_.wait(lock, [this] { return cancelled_ || queued_ < max_queued; });
        if (cancelled_) return false;
        queue_.emplace_back(data, size);
        queued_ += size;
        changed_.notify_all();
        return true;
      }
      if (cancelled_ || body_.size() + size > max_body) return false;
      body_.append(data, size);
      return true;
    };
    const httplib::Result result = client_.send(request);
    std::lock_guard lock{mutex_};
    finished_ = true;
    ok_ = static_cast<bool>(result) && !cancelled_;
    error_ = result.error();
    if (!result && head_ && !cancelled_) failure_ = "the provider's answer broke off (" + httplib::to_string(error_) + ")";
    changed_.notify_all();
  }

  httplib::Client client_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> queue_;
  std::size_t queued_ = 0;
  bool head_ = false, streaming_ = false, finished_ = false, ok_ = false, cancelled_ = false;
  int status_ = 0;
  httplib::Headers headers_;
  std::string body_, failure_;
  httplib::Error error_ = httplib::Error::Success;
};

/// How a relayed stream ended, for settling its lease.
struct StreamEnd {
  bool complete = false;     // the provider's stream ended normally
  bool client_gone = false;  // the client stopped reading before the end
  std::optional<std::uint64_t> usage;  // total tokens the provider reported
  std::uint64_t content_characters = 0;
};

/// Answers `res` with the stream `upstream` has started (status 200, text/event-stream), passing
/// each event on as it comes. `on_end` is called exactly once, on the server's thread, when the
/// stream is over (also when the client went away, or the server dropped the answer). When the
/// provider's stream breaks off, the client gets a last `data: {"error":...}` event.
inline void relay_stream(httplib::Response& res, std::shared_ptr<UpstreamStream> upstream, bool client_wants_usage,
                         std::function<void(const StreamEnd&)> on_end) {
  struct State {
    std::shared_ptr<UpstreamStream> upstream;
    SseRelay relay;
    std::function<void(const StreamEnd&)> on_end;
    StreamEnd end;
    bool ended = false;
    void finish() {
      if (ended) return;
      ended = true;
      end.usage = relay.usage();
      end.content_characters = relay.content_characters();
      on_end(end);
    }
  };
  auto state = std::make_shared<State>(State{std::move(upstream), SseRelay{client_wants_usage}, std::move(on_end), {}, false});
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [state](std::size_t, httplib::DataSink& sink) {
        std::string bytes, out;
        while (state->upstream->next(bytes)) {
          out.clear();
          state->relay.feed(bytes, out);
          if (!out.empty() && !sink.write(out.data(), out.size())) {
            state->end.client_gone = true;
            state->upstream->cancel();
            state->finish();
            return false;
          }
        }
        out.clear();
        state->relay.finish(out);
        state->end.complete = state->upstream->complete();
        if (!state->end.complete) {
          out += "data: " +
                 openai::error_body("upstream_failed",
                                    "the provider's stream broke off: " + state->upstream->failure(), "upstream_failed")
                     .dump() +
                 "\n\n";
        }
        bool written = out.empty() || sink.write(out.data(), out.size());
        if (!written) state->end.client_gone = true;
        state->finish();
        if (written) sink.done();
        return written;
      },
      [state](bool) {
        // The answer is dropped: settle if the provider above never ran to its end.
        if (!state->ended) {
          state->end.client_gone = true;
          state->upstream->cancel();
        }
        state->finish();
      });
}

}  // namespace gateway
