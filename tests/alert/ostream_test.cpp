// alert::Ostream and format_event: the exact line for every kind, quoting that keeps a line
// parseable, whole lines under concurrent emits, failing streams, and a pool writing its events.
// Catch2 is not thread-safe: worker threads only write, the main thread asserts.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <ios>
#include <algorithm>
#include <mutex>
#include <optional>
#include <sstream>
#include <streambuf>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <keypool/alert/ostream.hpp>
#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const kp::TimePoint at{sys_days{2026y / November / 24} + 10h + 42min + 7s};
const kp::TimePoint next_midnight{sys_days{2026y / November / 25}};

kp::Event key_event(kp::EventKind kind) {
  kp::Event e;
  e.kind = kind;
  e.at = at;
  e.provider = kp::ProviderId{0};
  e.provider_name = "groq";
  e.key = kp::KeyId{3};
  e.key_label = "groq-1";
  return e;
}

kp::Event limit_event(kp::EventKind kind) {
  kp::Event e = key_event(kind);
  e.metric = kp::Metric::tokens;
  e.window = "day";
  e.used = 11'520;
  e.limit = 14'400;
  e.resets_at = next_midnight;
  return e;
}

/// A line split back into its parts: time, kind, and name -> unescaped value. nullopt if the line
/// does not follow the grammar of docs/alerts.md.
struct ParsedLine {
  std::string time, kind;
  std::vector<std::pair<std::string, std::string>> fields;
  [[nodiscard]] std::string get(std::string_view name) const {
    for (const auto& [n, v] : fields)
      if (n == name) return v;
    return "<absent>";
  }
};

std::optional<ParsedLine> parse_line(std::string_view line) {
  ParsedLine parsed;
  const std::size_t first_space = line.find(' ');
  if (first_space == std::string_view::npos) return std::nullopt;
  parsed.time = std::string{line.substr(0, first_space)};
  line.remove_prefix(first_space + 1);
  const std::size_t second_space = line.find(' ');
  parsed.kind = std::string{line.substr(0, second_space)};
  if (parsed.kind.empty()) return std::nullopt;
  line = second_space == std::string_view::npos ? std::string_view{} : line.substr(second_space);
  while (!line.empty()) {
    if (line.front() != ' ') return std::nullopt;
    line.remove_prefix(1);
    const std::size_t equals = line.find('=');
    if (equals == 0 || equals == std::string_view::npos) return std::nullopt;
    std::string name{line.substr(0, equals)};
    line.remove_prefix(equals + 1);
    std::string value;
    if (!line.empty() && line.front() == '"') {
      line.remove_prefix(1);
      for (;;) {
        if (line.empty()) return std::nullopt;  // unterminated
        const char c = line.front();
        line.remove_prefix(1);
        if (c == '"') break;
        if (c != '\\') {
          if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;  // raw control byte
          value.push_back(c);
          continue;
        }
        if (line.empty()) return std::nullopt;
        const char escaped = line.front();
        line.remove_prefix(1);
        switch (escaped) {
          case '"': value.push_back('"'); break;
          case '\\': value.push_back('\\'); break;
          case 'n': value.push_back('\n'); break;
          case 'r': value.push_back('\r'); break;
          case 't': value.push_back('\t'); break;
          case 'x': {
            if (line.size() < 2) return std::nullopt;
            value.push_back(static_cast<char>(std::stoi(std::string{line.substr(0, 2)}, nullptr, 16)));
            line.remove_prefix(2);
            break;
          }
          default: return std::nullopt;
        }
      }
    } else {
      const std::size_t end = line.find(' ');
      value = std::string{line.substr(0, end)};
      if (value.empty()) return std::nullopt;
      line = end == std::string_view::npos ? std::string_view{} : line.substr(end);
    }
    parsed.fields.emplace_back(std::move(name), std::move(value));
  }
  return parsed;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start) + "<no newline>");
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

/// A stream buffer that refuses every byte.
struct RefusingBuffer : std::streambuf {
  int_type overflow(int_type) override { return traits_type::eof(); }
  std::streamsize xsputn(const char*, std::streamsize) override { return 0; }
};

/// A thread-safe device that takes a write in small pieces, yielding between them, as a pipe or
/// a socket may: only a lock held around the whole write keeps a line in one piece.
struct PiecemealBuffer : std::streambuf {
  std::mutex mutex;
  std::string text;
  std::streamsize xsputn(const char* data, std::streamsize size) override {
    for (std::streamsize at = 0; at < size; at += 8) {
      {
        std::lock_guard lock{mutex};
        text.append(data + at, static_cast<std::size_t>(std::min<std::streamsize>(8, size - at)));
      }
      std::this_thread::yield();
    }
    return size;
  }
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    std::lock_guard lock{mutex};
    text.push_back(traits_type::to_char_type(c));
    return c;
  }
};

/// A stream buffer that keeps what it is given and counts flushes.
struct CountingBuffer : std::stringbuf {
  int syncs = 0;
  int sync() override {
    ++syncs;
    return std::stringbuf::sync();
  }
};

}  // namespace

TEST_CASE("format_event writes the documented line for every kind", "[alert][ostream]") {
  using K = kp::EventKind;

  kp::Event threshold = limit_event(K::threshold_crossed);
  threshold.level = 0.8;
  CHECK(kp::format_event(threshold) ==
        "2026-11-24T10:42:07Z threshold_crossed provider=groq key=groq-1 metric=tokens window=day level=80% "
        "used=11520 limit=14400 resets_at=2026-11-25T00:00:00Z");

  kp::Event exhausted = limit_event(K::key_exhausted);
  exhausted.used = 14'400;
  exhausted.level = 1.0;
  CHECK(kp::format_event(exhausted) ==
        "2026-11-24T10:42:07Z key_exhausted provider=groq key=groq-1 metric=tokens window=day used=14400 "
        "limit=14400 resets_at=2026-11-25T00:00:00Z");

  kp::Event recovered = key_event(K::key_recovered);
  recovered.resets_at = at;
  CHECK(kp::format_event(recovered) == "2026-11-24T10:42:07Z key_recovered provider=groq key=groq-1");
  kp::Event recovered_limit = limit_event(K::key_recovered);
  recovered_limit.used = 0;
  CHECK(kp::format_event(recovered_limit) ==
        "2026-11-24T10:42:07Z key_recovered provider=groq key=groq-1 metric=tokens window=day used=0 limit=14400");

  kp::Event cooling = key_event(K::key_cooling_down);
  cooling.resets_at = at + 30s;
  CHECK(kp::format_event(cooling) ==
        "2026-11-24T10:42:07Z key_cooling_down provider=groq key=groq-1 resets_at=2026-11-24T10:42:37Z");

  kp::Event disabled = key_event(K::key_disabled);
  disabled.resets_at = kp::TimePoint::max();
  CHECK(kp::format_event(disabled) == "2026-11-24T10:42:07Z key_disabled provider=groq key=groq-1");

  kp::Event provider_exhausted;
  provider_exhausted.kind = K::provider_exhausted;
  provider_exhausted.at = at;
  provider_exhausted.provider_name = "groq";
  provider_exhausted.resets_at = next_midnight;
  CHECK(kp::format_event(provider_exhausted) ==
        "2026-11-24T10:42:07Z provider_exhausted provider=groq resets_at=2026-11-25T00:00:00Z");

  kp::Event provider_recovered = provider_exhausted;
  provider_recovered.kind = K::provider_recovered;
  CHECK(kp::format_event(provider_recovered) == "2026-11-24T10:42:07Z provider_recovered provider=groq");

  kp::Event all;
  all.kind = K::all_exhausted;
  all.at = at;
  all.resets_at = at + 17min + 53s;
  CHECK(kp::format_event(all) == "2026-11-24T10:42:07Z all_exhausted resets_at=2026-11-24T11:00:00Z");

  kp::Event failover;
  failover.kind = K::failover;
  failover.at = at;
  failover.provider_name = "groq";
  failover.to_provider_name = "gemini";
  CHECK(kp::format_event(failover) == "2026-11-24T10:42:07Z failover provider=groq to_provider=gemini");

  kp::Event forecast = limit_event(K::exhaustion_forecast);
  forecast.eta = 1h + 15min;
  forecast.resets_at = next_midnight;
  CHECK(kp::format_event(forecast) ==
        "2026-11-24T10:42:07Z exhaustion_forecast provider=groq key=groq-1 metric=tokens window=day used=11520 "
        "limit=14400 eta=1h15m0s resets_at=2026-11-25T00:00:00Z");
  kp::Event provider_forecast;  // a provider's daily capacity: no key, no single limit
  provider_forecast.kind = K::exhaustion_forecast;
  provider_forecast.at = at;
  provider_forecast.provider_name = "groq";
  provider_forecast.metric = kp::Metric::tokens;
  provider_forecast.window = "day";
  provider_forecast.eta = 45s;
  provider_forecast.resets_at = next_midnight;
  CHECK(kp::format_event(provider_forecast) ==
        "2026-11-24T10:42:07Z exhaustion_forecast provider=groq metric=tokens window=day eta=45s "
        "resets_at=2026-11-25T00:00:00Z");

  kp::Event backend;
  backend.kind = K::backend_unavailable;
  backend.at = at;
  CHECK(kp::format_event(backend) == "2026-11-24T10:42:07Z backend_unavailable");
  backend.provider_name = "groq";
  backend.key_label = "groq-1";
  backend.resets_at = at + 5s;
  CHECK(kp::format_event(backend) ==
        "2026-11-24T10:42:07Z backend_unavailable provider=groq key=groq-1 resets_at=2026-11-24T10:42:12Z");

  kp::Event dropped;
  dropped.kind = K::events_dropped;
  dropped.at = at;
  dropped.count = 17;
  CHECK(kp::format_event(dropped) == "2026-11-24T10:42:07Z events_dropped count=17");
}

TEST_CASE("every line parses back to the event's values, whatever the names hold", "[alert][ostream]") {
  const std::vector<std::string> names = {
      "plain",          "with space",        "a=b",        "say \"hi\"", "back\\slash",   "",
      "new\nline",      "cr\rtab\t",         "bell\x07",   "del\x7f",    "naïve-ключ-鍵", " leading",
      "trailing ",      "=",                 "\"",         "\\",         "x\"y=z w\\",   std::string{"nul\0byte", 8}};
  for (const std::string& name : names) {
    INFO("name: " << name);
    kp::Event e = limit_event(kp::EventKind::threshold_crossed);
    e.level = 0.9;
    e.provider_name = name;
    e.key_label = name;
    e.window = name;
    const std::string line = kp::format_event(e);
    INFO("line: " << line);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    const auto parsed = parse_line(line);
    REQUIRE(parsed);
    CHECK(parsed->time == "2026-11-24T10:42:07Z");
    CHECK(parsed->kind == "threshold_crossed");
    CHECK(parsed->get("provider") == name);
    CHECK(parsed->get("key") == name);
    CHECK(parsed->get("window") == name);
    CHECK(parsed->get("level") == "90%");
    CHECK(parsed->get("used") == "11520");
    CHECK(parsed->fields.size() == 8);
  }
}

TEST_CASE("names are bare when they can be, quoted with escapes when not", "[alert][ostream]") {
  kp::Event e = key_event(kp::EventKind::key_disabled);
  e.key_label = "groq key #1";
  CHECK(kp::format_event(e) == R"(2026-11-24T10:42:07Z key_disabled provider=groq key="groq key #1")");
  e.key_label = "a=b";
  CHECK(kp::format_event(e) == R"(2026-11-24T10:42:07Z key_disabled provider=groq key="a=b")");
  e.key_label = "say \"hi\"\\";
  CHECK(kp::format_event(e) == R"(2026-11-24T10:42:07Z key_disabled provider=groq key="say \"hi\"\\")");
  e.key_label = "two\nlines\t\x01";
  CHECK(kp::format_event(e) == R"(2026-11-24T10:42:07Z key_disabled provider=groq key="two\nlines\t\x01")");
  e.key_label = "";
  CHECK(kp::format_event(e) == R"(2026-11-24T10:42:07Z key_disabled provider=groq key="")");
  e.key_label = "clé-日本";  // UTF-8 passes through bare
  CHECK(kp::format_event(e) == "2026-11-24T10:42:07Z key_disabled provider=groq key=clé-日本");
  e.key_label = "gsk_…3456";  // the default label, a redacted secret
  CHECK(kp::format_event(e) == "2026-11-24T10:42:07Z key_disabled provider=groq key=gsk_…3456");
}

TEST_CASE("times show milliseconds only when there are some; never is spelled out", "[alert][ostream]") {
  kp::Event e = key_event(kp::EventKind::key_cooling_down);
  e.at = at + 250ms + 999us;  // truncated, not rounded
  e.resets_at = kp::TimePoint::max();
  CHECK(kp::format_event(e) == "2026-11-24T10:42:07.250Z key_cooling_down provider=groq key=groq-1 resets_at=never");
  e.at = at + 7ms;
  e.resets_at = kp::TimePoint{};
  CHECK(kp::format_event(e) ==
        "2026-11-24T10:42:07.007Z key_cooling_down provider=groq key=groq-1 resets_at=1970-01-01T00:00:00Z");
  e.at = kp::TimePoint{sys_days{2028y / February / 29} + 23h + 59min + 59s + 999ms};
  CHECK(kp::format_event(e).starts_with("2028-02-29T23:59:59.999Z "));
  e.at = kp::TimePoint{sys_days{1969y / December / 31} + 12h};  // before the epoch
  CHECK(kp::format_event(e).starts_with("1969-12-31T12:00:00Z "));
}

TEST_CASE("levels print as percentages with at most two decimals", "[alert][ostream]") {
  kp::Event e = limit_event(kp::EventKind::threshold_crossed);
  const auto level_of = [&](double level) {
    e.level = level;
    return parse_line(kp::format_event(e))->get("level");
  };
  CHECK(level_of(0.8) == "80%");
  CHECK(level_of(0.9) == "90%");  // 0.9 * 100 is 90.00000000000001 in binary
  CHECK(level_of(1.0) == "100%");
  CHECK(level_of(0.875) == "87.5%");
  CHECK(level_of(1.0 / 3.0) == "33.33%");
  CHECK(level_of(0.0) == "0%");
  CHECK(level_of(0.00001) == "0%");
}

TEST_CASE("forecast etas print in hours, minutes and seconds, or milliseconds below one second", "[alert][ostream]") {
  kp::Event e;
  e.kind = kp::EventKind::exhaustion_forecast;
  e.provider_name = "groq";
  const auto eta_of = [&](kp::Duration eta) {
    e.eta = eta;
    return parse_line(kp::format_event(e))->get("eta");
  };
  CHECK(eta_of(0s) == "0s");
  CHECK(eta_of(999us) == "0s");
  CHECK(eta_of(250ms) == "250ms");
  CHECK(eta_of(45s + 900ms) == "45s");
  CHECK(eta_of(15min) == "15m0s");
  CHECK(eta_of(1h + 2min + 3s) == "1h2m3s");
  CHECK(eta_of(50h) == "50h0m0s");
  CHECK(eta_of(-90s) == "-1m30s");
  CHECK(eta_of(kp::Duration::min()).starts_with("-"));
}

TEST_CASE("format_event appends to a caller's buffer", "[alert][ostream]") {
  std::string out = "prefix|";
  kp::Event e;
  e.kind = kp::EventKind::events_dropped;
  e.at = at;
  e.count = 3;
  kp::format_event(out, e);
  CHECK(out == "prefix|2026-11-24T10:42:07Z events_dropped count=3");
}

TEST_CASE("Ostream writes one line per event, newline-terminated, and flushes each by default", "[alert][ostream]") {
  CountingBuffer buffer;
  std::ostream out{&buffer};
  kp::alert::Ostream sink{out};
  kp::Event e = limit_event(kp::EventKind::threshold_crossed);
  e.level = 0.8;
  sink.emit(e);
  sink.emit(key_event(kp::EventKind::key_disabled));
  CHECK(buffer.str() == kp::format_event(e) + "\n" + kp::format_event(key_event(kp::EventKind::key_disabled)) + "\n");
  CHECK(buffer.syncs == 2);
  CHECK(sink.failed_writes() == 0);
  CHECK(&sink.stream() == &out);

  CountingBuffer lazy_buffer;
  std::ostream lazy_out{&lazy_buffer};
  kp::alert::Ostream lazy{lazy_out, kp::alert::Ostream::Flush::by_stream};
  lazy.emit(e);
  CHECK(lazy_buffer.str() == kp::format_event(e) + "\n");
  CHECK(lazy_buffer.syncs == 0);
}

TEST_CASE("concurrent emits never interleave lines, even from separate Ostreams on one stream", "[alert][ostream]") {
  PiecemealBuffer device;
  std::ostream out{&device};
  kp::alert::Ostream first{out};
  kp::alert::Ostream second{out};  // another pool's sink, same stream
  constexpr int threads = 8;
  constexpr int per_thread = 200;
  // Long labels make a torn line likely if writes were not serialized.
  const std::string padding(300, 'x');
  // Thread t's i-th label, built by appending (GCC 12 at -O3 reports a false -Wrestrict on
  // "literal" + std::string).
  auto label_of = [&padding](int t, int i) {
    std::string label{"t"};
    label += std::to_string(t);
    label += '-';
    label += std::to_string(i);
    label += '-';
    label += padding;
    return label;
  };
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      kp::alert::Ostream& sink = t % 2 == 0 ? first : second;
      for (int i = 0; i < per_thread; ++i) {
        const std::string label = label_of(t, i);
        kp::Event e = key_event(kp::EventKind::key_disabled);
        e.key_label = label;
        sink.emit(e);
      }
    });
  }
  for (auto& w : workers) w.join();

  const std::vector<std::string> lines = lines_of(device.text);
  REQUIRE(lines.size() == threads * per_thread);
  std::vector<int> next(threads, 0);
  std::size_t well_formed = 0;
  for (const std::string& line : lines) {
    const auto parsed = parse_line(line);
    if (!parsed || parsed->kind != "key_disabled" || parsed->fields.size() != 2) continue;
    const std::string label = parsed->get("key");
    const std::size_t dash = label.find('-');
    const int t = std::stoi(label.substr(1, dash - 1));
    const int i = std::stoi(label.substr(dash + 1));
    if (label != label_of(t, i)) continue;
    if (i != next[static_cast<std::size_t>(t)]) continue;  // each thread's lines in its order, none twice
    ++next[static_cast<std::size_t>(t)];
    ++well_formed;
  }
  CHECK(well_formed == lines.size());
  CHECK(first.failed_writes() + second.failed_writes() == 0);
}

TEST_CASE("a failed stream loses lines without throwing, and counts them", "[alert][ostream]") {
  RefusingBuffer refusing;
  std::ostream out{&refusing};
  kp::alert::Ostream sink{out};
  CHECK_NOTHROW(sink.emit(key_event(kp::EventKind::key_disabled)));
  CHECK(out.bad());
  CHECK_NOTHROW(sink.emit(key_event(kp::EventKind::key_disabled)));  // already bad: still quiet
  CHECK(sink.failed_writes() == 2);

  std::ostringstream closed;
  closed.setstate(std::ios_base::failbit);
  kp::alert::Ostream on_closed{closed};
  on_closed.emit(key_event(kp::EventKind::key_disabled));
  CHECK(closed.str().empty());
  CHECK(on_closed.failed_writes() == 1);
  CHECK(closed.rdstate() == std::ios_base::failbit);  // emit does not clear it
  closed.clear();                                     // the owner does: lines flow again
  on_closed.emit(key_event(kp::EventKind::key_disabled));
  CHECK(closed.str() == kp::format_event(key_event(kp::EventKind::key_disabled)) + "\n");
  CHECK(on_closed.failed_writes() == 1);
}

TEST_CASE("a stream with exceptions enabled throws out of emit; the pool swallows and counts it", "[alert][ostream]") {
  RefusingBuffer refusing;
  std::ostream out{&refusing};
  out.exceptions(std::ios_base::badbit);
  kp::alert::Ostream sink{out};
  CHECK_THROWS_AS(sink.emit(key_event(kp::EventKind::key_disabled)), std::ios_base::failure);
  CHECK(sink.failed_writes() == 1);

  RefusingBuffer pool_refusing;
  std::ostream pool_out{&pool_refusing};
  pool_out.exceptions(std::ios_base::badbit | std::ios_base::failbit);
  kp::clock::Manual clock{at};
  kp::KeyPool<kp::clock::Manual, kp::alert::Ostream> pool{clock, kp::alert::Ostream{pool_out}};
  const kp::KeyId key = pool.add_key(pool.add_provider("groq"), kp::Secret{"gsk_ostream_throwing_1"},
                                     {kp::Limit::requests(10).per_minute()}, {.label = "groq-1"});
  for (int i = 0; i < 8; ++i) CHECK(pool.acquire());  // the 8th crosses 80%: one event, one throw
  CHECK(pool.sink_failures() == 1);
  CHECK(pool.alerts().failed_writes() == 1);
  CHECK(pool.acquire());
  pool.disable(key);
  CHECK(pool.sink_failures() == 3);  // 90%, key_disabled
}

TEST_CASE("a pool with an Ostream writes its events as lines, naming keys by label only", "[alert][ostream][pool]") {
  std::ostringstream out;
  kp::clock::Manual clock{at};
  kp::KeyPool<kp::clock::Manual, kp::alert::Ostream> pool{kp::Capacity{4}, clock, kp::alert::Ostream{out}};
  const std::string secret = "gsk_live_VERYSECRET0123456789";
  const kp::KeyId key = pool.add_key(pool.add_provider("groq"), kp::Secret{secret},
                                     {kp::Limit::tokens(14'400).per_day()}, {.label = "groq-1"});
  CHECK(pool.acquire({.tokens = 11'520}));
  pool.disable(key);

  const std::vector<std::string> lines = lines_of(out.str());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] ==
        "2026-11-24T10:42:07Z threshold_crossed provider=groq key=groq-1 metric=tokens window=day level=80% "
        "used=11520 limit=14400 resets_at=2026-11-25T00:00:00Z");
  CHECK(lines[1] == "2026-11-24T10:42:07Z key_disabled provider=groq key=groq-1");
  CHECK(out.str().find("VERYSECRET") == std::string::npos);
}

TEST_CASE("Ostream is a movable, copyable alert sink that does not discard events", "[alert][ostream]") {
  STATIC_REQUIRE(kp::AlertSink<kp::alert::Ostream>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<kp::alert::Ostream>);
  STATIC_REQUIRE(std::is_copy_constructible_v<kp::alert::Ostream>);
  STATIC_REQUIRE_FALSE(std::is_default_constructible_v<kp::alert::Ostream>);
  STATIC_REQUIRE(kp::detail::family_count_v<kp::alert::Ostream> == 1);

  std::ostringstream out;
  kp::alert::Ostream original{out};
  kp::alert::Ostream copy{original};
  kp::alert::Ostream moved{std::move(original)};
  copy.emit(key_event(kp::EventKind::key_disabled));
  moved.emit(key_event(kp::EventKind::key_disabled));
  CHECK(lines_of(out.str()).size() == 2);
}
