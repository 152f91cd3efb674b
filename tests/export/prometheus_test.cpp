// to_prometheus: the text exposition format 0.0.4, checked by a strict parser written here from
// the format's rules, and exact lines for hand-built snapshots. Also: no exporter ever writes a
// secret.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <keypool/export/json.hpp>
#include <keypool/export/prometheus.hpp>
#include <keypool/keypool.hpp>

#include "support/snapshots.hpp"

namespace kp = keypool;
using Catch::Matchers::Contains;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

// ------------------------------------------------------------------------------------------------
// A strict reader of the exposition format, as this exporter promises to write it: every line is
// `# HELP`, `# TYPE` or a sample (no other comments, no blank lines, no timestamps); each family has
// exactly one HELP and one TYPE, both before its samples, and its samples are contiguous; names and
// label names match the format's patterns; label values use only the escapes \\ \" \n; values are
// Go floats; no two samples are the same series; the text is valid UTF-8 and ends in a newline.

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // in the order written, unescaped
  std::string value;                                        // as written
  [[nodiscard]] std::string label(std::string_view name_wanted) const {
    for (const auto& [name_, value_] : labels)
      if (name_ == name_wanted) return value_;
    throw std::runtime_error("sample " + name + " has no label " + std::string{name_wanted});
  }
};

struct Family {
  std::string name, type, help;
  std::vector<Sample> samples;
};

struct Exposition {
  std::vector<Family> families;
  [[nodiscard]] const Family& family(std::string_view name) const {
    for (const Family& f : families)
      if (f.name == name) return f;
    throw std::runtime_error("no family " + std::string{name});
  }
  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const Family& f : families) out.push_back(f.name);
    return out;
  }
};

const std::regex metric_name{"[a-zA-Z_:][a-zA-Z0-9_:]*"};
const std::regex label_name{"[a-zA-Z_][a-zA-Z0-9_]*"};
const std::regex go_float{R"([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|NaN|[+-]Inf)"};

[[noreturn]] void reject(std::size_t line, const std::string& why) {
  throw std::runtime_error("line " + std::to_string(line) + ": " + why);
}

/// Checks UTF-8 by decoding code points (an implementation independent of the exporter's).
bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    std::uint32_t code = length == 1 ? lead : lead & (0x7F >> length);
    for (std::size_t k = 1; k < length; ++k) {
      const auto byte = static_cast<unsigned char>(text[i + k]);
      if ((byte & 0xC0) != 0x80) return false;
      code = (code << 6) | (byte & 0x3F);
    }
    const std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < smallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

Exposition parse_exposition(std::string_view text) {
  if (!valid_utf8(text)) throw std::runtime_error("the text is not valid UTF-8");
  if (!text.empty() && text.back() != '\n') throw std::runtime_error("the text does not end with a newline");
  Exposition result;
  std::map<std::string, std::size_t> index;  // family name -> position in result.families
  std::set<std::string> finished;            // families whose samples are over
  std::set<std::string> series;
  std::string current;  // the family whose samples may follow
  std::size_t number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line{text.substr(start, end - start)};
    start = end + 1;
    ++number;
    if (line.empty()) reject(number, "blank line");
    if (line[0] == '#') {
      const bool help = line.rfind("# HELP ", 0) == 0;
      const bool type = line.rfind("# TYPE ", 0) == 0;
      if (!help && !type) reject(number, "a comment that is neither HELP nor TYPE: " + line);
      const std::size_t name_end = line.find(' ', 7);
      if (name_end == std::string::npos) reject(number, "HELP or TYPE without text: " + line);
      const std::string name = line.substr(7, name_end - 7);
      const std::string rest = line.substr(name_end + 1);
      if (!std::regex_match(name, metric_name)) reject(number, "bad metric name: " + name);
      if (finished.count(name) != 0) reject(number, "family " + name + " declared again after another family");
      if (name != current) {
        if (!current.empty()) finished.insert(current);
        if (index.count(name) != 0) reject(number, "family " + name + " declared again");
        index[name] = result.families.size();
        result.families.push_back(Family{name, "", "", {}});
        current = name;
      }
      Family& family = result.families[index[name]];
      if (!family.samples.empty()) reject(number, "HELP or TYPE of " + name + " after its samples");
      if (help) {
        if (!family.help.empty()) reject(number, "a second HELP for " + name);
        if (!family.type.empty()) reject(number, "HELP of " + name + " after its TYPE");
        for (std::size_t i = 0; i < rest.size(); ++i)
          if (rest[i] == '\\' && (i + 1 == rest.size() || (rest[i + 1] != '\\' && rest[i + 1] != 'n')))
            reject(number, "bad escape in HELP");
          else if (rest[i] == '\\')
            ++i;
        family.help = rest.empty() ? " " : rest;
      } else {
        if (!family.type.empty()) reject(number, "a second TYPE for " + name);
        if (family.help.empty()) reject(number, "TYPE of " + name + " before its HELP");
        if (rest != "counter" && rest != "gauge" && rest != "histogram" && rest != "summary" && rest != "untyped")
          reject(number, "unknown type " + rest);
        family.type = rest;
      }
      continue;
    }
    // A sample: name{label="value",...} value
    Sample sample;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    sample.name = line.substr(0, i);
    if (!std::regex_match(sample.name, metric_name)) reject(number, "bad metric name: " + sample.name);
    if (index.count(sample.name) == 0 || result.families[index[sample.name]].type.empty())
      reject(number, "sample of " + sample.name + " whose family has no TYPE");
    if (sample.name != current) reject(number, "sample of " + sample.name + " apart from the rest of its family");
    if (i < line.size() && line[i] == '{') {
      ++i;
      std::set<std::string> names;
      while (true) {
        const std::size_t eq = line.find('=', i);
        if (eq == std::string::npos) reject(number, "label without '='");
        const std::string name = line.substr(i, eq - i);
        if (!std::regex_match(name, label_name)) reject(number, "bad label name: " + name);
        if (name.rfind("__", 0) == 0) reject(number, "reserved label name: " + name);
        if (!names.insert(name).second) reject(number, "label " + name + " twice");
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') reject(number, "label value without quotes");
        ++i;
        std::string value;
        while (true) {
          if (i >= line.size()) reject(number, "unterminated label value");
          const char c = line[i++];
          if (c == '"') break;
          if (c != '\\') {
            value += c;
            continue;
          }
          if (i >= line.size()) reject(number, "unterminated escape");
          const char e = line[i++];
          if (e == '\\') value += '\\';
          else if (e == '"') value += '"';
          else if (e == 'n') value += '\n';
          else reject(number, std::string{"bad escape \\"} + e);
        }
        sample.labels.emplace_back(name, value);
        if (i < line.size() && line[i] == ',') {
          ++i;
          continue;
        }
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        reject(number, "expected ',' or '}' after a label");
      }
    }
    if (i >= line.size() || line[i] != ' ') reject(number, "no space before the value");
    sample.value = line.substr(i + 1);
    if (!std::regex_match(sample.value, go_float)) reject(number, "bad value (or a timestamp): " + sample.value);
    auto sorted = sample.labels;
    std::sort(sorted.begin(), sorted.end());
    std::string id = sample.name;
    for (const auto& [name, value] : sorted) id += '\0' + name + '\0' + value;
    if (!series.insert(id).second) reject(number, "duplicate series: " + line);
    result.families[index[sample.name]].samples.push_back(std::move(sample));
  }
  for (const Family& family : result.families)
    if (family.type.empty()) throw std::runtime_error("family " + family.name + " has no TYPE");
  return result;
}

/// The value of the one sample of `family` whose labels include all of `labels`.
std::string value_of(const Exposition& e, std::string_view family, std::vector<std::pair<std::string, std::string>> labels) {
  std::vector<const Sample*> found;
  for (const Sample& s : e.family(family).samples) {
    bool match = true;
    for (const auto& wanted : labels)
      match = match && std::find(s.labels.begin(), s.labels.end(), wanted) != s.labels.end();
    if (match) found.push_back(&s);
  }
  if (found.size() != 1)
    throw std::runtime_error(std::string{family} + ": " + std::to_string(found.size()) + " samples match, not 1");
  return found.front()->value;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

bool has_line(const std::string& text, const std::string& line) {
  const auto lines = lines_of(text);
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

// ------------------------------------------------------------------------------------------------
// Snapshots

/// One provider, one key with two limits, every optional time set.
kp::Snapshot small_snapshot() {
  kp::Snapshot snap;
  snap.at = at;
  kp::KeySnapshot key;
  key.id = kp::KeyId{0};
  key.provider = kp::ProviderId{0};
  key.provider_name = "groq";
  key.label = "groq-1";
  key.weight = 2;
  key.status = kp::KeyStatus::warning;
  key.available_at = at + 1'500ms;
  key.successes = 1'000;
  key.failures = 6;
  key.rate_limited = 2;
  key.consecutive_failures = 1;
  key.last_error = kp::Outcome::Kind::rate_limited;
  key.last_error_status = 429;
  key.last_error_at = at - 90s;
  key.exhausts_at = at + 5h;
  key.limits.push_back(limit(kp::Metric::requests, "minute", "requests 30 per minute", 12, 30, at + 53s));
  key.limits.back().rate_per_second = 0.2;
  key.limits.push_back(limit(kp::Metric::tokens, "day", "tokens 14400 per day", 11'800, 14'400, midnight));
  key.limits.back().rate_per_second = 1.5;
  key.limits.back().exhausts_at = at + 5h + 250ms;
  snap.keys.push_back(key);

  kp::ProviderSnapshot groq;
  groq.id = kp::ProviderId{0};
  groq.name = "groq";
  groq.tier = 0;
  groq.totals.keys = 1;
  groq.totals.available = 1;
  groq.totals.successes = 1'000;
  groq.totals.failures = 6;
  groq.totals.rate_limited = 2;
  groq.totals.daily_capacity = {0, 14'400, 0, 0, 0};
  groq.totals.daily_used = {0, 11'800, 0, 0, 0};
  groq.totals.next_recovery = at + 1'500ms;
  groq.totals.exhausts_at = at + 5h;
  snap.providers.push_back(groq);
  snap.totals = groq.totals;
  snap.events_dropped = 17;
  snap.sink_failures = 2;
  return snap;
}

const std::vector<std::string> all_families = {
    "keypool_snapshot_timestamp_seconds",
    "keypool_events_dropped_total",
    "keypool_sink_failures_total",
    "keypool_provider_tier",
    "keypool_provider_keys",
    "keypool_daily_capacity",
    "keypool_daily_used",
    "keypool_provider_next_recovery_at_seconds",
    "keypool_provider_exhausts_at_seconds",
    "keypool_key_status",
    "keypool_key_weight",
    "keypool_key_successes_total",
    "keypool_key_failures_total",
    "keypool_key_rate_limited_total",
    "keypool_key_consecutive_failures",
    "keypool_key_available_at_seconds",
    "keypool_key_exhausts_at_seconds",
    "keypool_key_last_error_at_seconds",
    "keypool_quota_used",
    "keypool_quota_marked",
    "keypool_quota_reported_limit",
    "keypool_quota_limit",
    "keypool_quota_remaining",
    "keypool_quota_usage_ratio",
    "keypool_quota_resets_at_seconds",
    "keypool_quota_usage_rate_per_second",
    "keypool_quota_exhausts_at_seconds",
};

}  // namespace

TEST_CASE("the exposition reader used below refuses each rule broken", "[export][prometheus]") {
  const std::string ok = "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"1\"} 2\na_total{x=\"2\"} 3\n";
  CHECK_NOTHROW(parse_exposition(ok));
  CHECK_NOTHROW(parse_exposition(""));
  const std::vector<std::pair<std::string, std::string>> broken = {
      {"# HELP a Things.\n# TYPE a gauge\na 1", "does not end with a newline"},
      {"# HELP a Things.\n# HELP a Again.\n# TYPE a gauge\n", "a second HELP"},
      {"# HELP a Things.\n# TYPE a gauge\n# TYPE a gauge\n", "a second TYPE"},
      {"# TYPE a gauge\n# HELP a Things.\n", "TYPE of a before its HELP"},
      {"# HELP a Things.\n", "has no TYPE"},
      {"a 1\n", "whose family has no TYPE"},
      {"# HELP a Things.\n# TYPE a gauge\na 1\n# HELP a More.\n", "after its samples"},
      {"# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\nb 1\na 1\n", "apart from the rest of its family"},
      {"# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\n# HELP a A.\n", "declared again"},
      {"# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n", "duplicate series"},
      {"# HELP a A.\n# TYPE a gauge\na{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n", "duplicate series"},
      {"# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n", "bad escape"},
      {"# HELP a A.\n# TYPE a gauge\na{x=\"1} 1\n", "unterminated label value"},
      {"# HELP a A.\n# TYPE a gauge\na{x=\"1\" y=\"2\"} 1\n", "expected ','"},
      {"# HELP a A.\n# TYPE a gauge\na{1x=\"1\"} 1\n", "bad label name"},
      {"# HELP a A.\n# TYPE a gauge\na{__x=\"1\"} 1\n", "reserved label name"},
      {"# HELP a A.\n# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n", "label x twice"},
      {"# HELP 1a A.\n# TYPE 1a gauge\n", "bad metric name"},
      {"# HELP a A.\n# TYPE a gauge\na one\n", "bad value"},
      {"# HELP a A.\n# TYPE a gauge\na 1 1795516927000\n", "bad value (or a timestamp)"},
      {"# HELP a A.\n# TYPE a number\n", "unknown type"},
      {"# HELP a A \\x.\n# TYPE a gauge\n", "bad escape in HELP"},
      {"# a comment\n", "neither HELP nor TYPE"},
      {"\n", "blank line"},
      {"# HELP a A.\n# TYPE a gauge\na{x=\"\xff\"} 1\n", "not valid UTF-8"},
  };
  for (const auto& [text, why] : broken) {
    INFO(text);
    CHECK_THROWS_WITH(parse_exposition(text), Contains(why));
  }
}

TEST_CASE("to_prometheus writes exactly these lines for a small snapshot", "[export][prometheus]") {
  const std::string expected = R"(# HELP keypool_snapshot_timestamp_seconds When the snapshot was taken, unix time in seconds.
# TYPE keypool_snapshot_timestamp_seconds gauge
keypool_snapshot_timestamp_seconds 1795516927
# HELP keypool_events_dropped_total Events the queued alert sink had to drop.
# TYPE keypool_events_dropped_total counter
keypool_events_dropped_total 17
# HELP keypool_sink_failures_total Exceptions thrown by the alert sink and swallowed by the pool.
# TYPE keypool_sink_failures_total counter
keypool_sink_failures_total 2
# HELP keypool_provider_tier The provider's tier; lower tiers are preferred.
# TYPE keypool_provider_tier gauge
keypool_provider_tier{provider="groq"} 0
# HELP keypool_provider_keys The provider's keys by state: available (includes warning and critical), cooling_down, exhausted, disabled.
# TYPE keypool_provider_keys gauge
keypool_provider_keys{provider="groq",state="available"} 1
keypool_provider_keys{provider="groq",state="cooling_down"} 0
keypool_provider_keys{provider="groq",state="exhausted"} 0
keypool_provider_keys{provider="groq",state="disabled"} 0
# HELP keypool_daily_capacity Sum of the provider's keys' per-day limits of the metric (spend in micro-units of money).
# TYPE keypool_daily_capacity gauge
keypool_daily_capacity{provider="groq",metric="tokens"} 14400
# HELP keypool_daily_used What is used today of keypool_daily_capacity.
# TYPE keypool_daily_used gauge
keypool_daily_used{provider="groq",metric="tokens"} 11800
# HELP keypool_provider_next_recovery_at_seconds When the provider's first key that cannot serve now can serve again, unix time in seconds.
# TYPE keypool_provider_next_recovery_at_seconds gauge
keypool_provider_next_recovery_at_seconds{provider="groq"} 1795516928.5
# HELP keypool_provider_exhausts_at_seconds The earliest forecast exhaustion of the provider's keys, unix time in seconds.
# TYPE keypool_provider_exhausts_at_seconds gauge
keypool_provider_exhausts_at_seconds{provider="groq"} 1795534927
# HELP keypool_key_status 1 for the key's current status, 0 for the others.
# TYPE keypool_key_status gauge
keypool_key_status{provider="groq",key="groq-1",status="available"} 0
keypool_key_status{provider="groq",key="groq-1",status="warning"} 1
keypool_key_status{provider="groq",key="groq-1",status="critical"} 0
keypool_key_status{provider="groq",key="groq-1",status="exhausted"} 0
keypool_key_status{provider="groq",key="groq-1",status="cooling_down"} 0
keypool_key_status{provider="groq",key="groq-1",status="disabled"} 0
# HELP keypool_key_weight The key's weight for weighted selection.
# TYPE keypool_key_weight gauge
keypool_key_weight{provider="groq",key="groq-1"} 2
# HELP keypool_key_successes_total Leases of the key committed.
# TYPE keypool_key_successes_total counter
keypool_key_successes_total{provider="groq",key="groq-1"} 1000
# HELP keypool_key_failures_total Leases of the key failed, with any outcome but bad_request.
# TYPE keypool_key_failures_total counter
keypool_key_failures_total{provider="groq",key="groq-1"} 6
# HELP keypool_key_rate_limited_total Failures of the key that were rate_limited or quota_exhausted.
# TYPE keypool_key_rate_limited_total counter
keypool_key_rate_limited_total{provider="groq",key="groq-1"} 2
# HELP keypool_key_consecutive_failures Transient failures of the key in a row (the circuit breaker's count).
# TYPE keypool_key_consecutive_failures gauge
keypool_key_consecutive_failures{provider="groq",key="groq-1"} 1
# HELP keypool_key_available_at_seconds When a key that cannot serve now can serve again, unix time in seconds (no sample when it can serve, or never will).
# TYPE keypool_key_available_at_seconds gauge
keypool_key_available_at_seconds{provider="groq",key="groq-1"} 1795516928.5
# HELP keypool_key_exhausts_at_seconds The earliest forecast exhaustion of the key's limits at the current usage rate, unix time in seconds.
# TYPE keypool_key_exhausts_at_seconds gauge
keypool_key_exhausts_at_seconds{provider="groq",key="groq-1"} 1795534927
# HELP keypool_key_last_error_at_seconds When the key last failed, unix time in seconds; kind is the outcome, status the HTTP status (0: unknown).
# TYPE keypool_key_last_error_at_seconds gauge
keypool_key_last_error_at_seconds{provider="groq",key="groq-1",kind="rate_limited",status="429"} 1795516837
# HELP keypool_quota_used Amount of the limit's metric used in its current window (rolling limits: not yet replenished).
# TYPE keypool_quota_used gauge
keypool_quota_used{provider="groq",key="groq-1",metric="requests",window="minute",limit_index="0"} 12
keypool_quota_used{provider="groq",key="groq-1",metric="tokens",window="day",limit_index="1"} 11800
# HELP keypool_quota_marked Of keypool_quota_used, what a provider's answer marked used (a spent quota, a report of what is left), not calls counted here.
# TYPE keypool_quota_marked gauge
keypool_quota_marked{provider="groq",key="groq-1",metric="requests",window="minute",limit_index="0"} 0
keypool_quota_marked{provider="groq",key="groq-1",metric="tokens",window="day",limit_index="1"} 0
# HELP keypool_quota_reported_limit The limit's amount as the provider last reported it (x-ratelimit-limit-*); absent before a report.
# TYPE keypool_quota_reported_limit gauge
# HELP keypool_quota_limit The limit's amount per window.
# TYPE keypool_quota_limit gauge
keypool_quota_limit{provider="groq",key="groq-1",metric="requests",window="minute",limit_index="0"} 30
keypool_quota_limit{provider="groq",key="groq-1",metric="tokens",window="day",limit_index="1"} 14400
# HELP keypool_quota_remaining What is left of the limit in its current window.
# TYPE keypool_quota_remaining gauge
keypool_quota_remaining{provider="groq",key="groq-1",metric="requests",window="minute",limit_index="0"} 18
keypool_quota_remaining{provider="groq",key="groq-1",metric="tokens",window="day",limit_index="1"} 2600
# HELP keypool_quota_usage_ratio Used divided by limit: 0.8 is 80% used.
# TYPE keypool_quota_usage_ratio gauge
keypool_quota_usage_ratio{provider="groq",key="groq-1",metric="requests",window="minute",limit_index="0"} 0.4
keypool_quota_usage_ratio{provider="groq",key="groq-1",metric="tokens",window="day",limit_index="1"} 0.8194444444444444
# HELP keypool_quota_resets_at_seconds End of the limit's current window (rolling limits: when fully replenished), unix time in seconds.
# TYPE keypool_quota_resets_at_seconds gauge
keypool_quota_resets_at_seconds{provider="groq",key="groq-1",metric="requests",window="minute",limit_index="0"} 1795516980
keypool_quota_resets_at_seconds{provider="groq",key="groq-1",metric="tokens",window="day",limit_index="1"} 1795564800
# HELP keypool_quota_usage_rate_per_second The limit's usage rate measured between polls (exponentially weighted), per second.
# TYPE keypool_quota_usage_rate_per_second gauge
keypool_quota_usage_rate_per_second{provider="groq",key="groq-1",metric="requests",window="minute",limit_index="0"} 0.2
keypool_quota_usage_rate_per_second{provider="groq",key="groq-1",metric="tokens",window="day",limit_index="1"} 1.5
# HELP keypool_quota_exhausts_at_seconds When the limit runs out at its usage rate, if before it resets, unix time in seconds.
# TYPE keypool_quota_exhausts_at_seconds gauge
keypool_quota_exhausts_at_seconds{provider="groq",key="groq-1",metric="tokens",window="day",limit_index="1"} 1795534927.25
)";
  const std::string text = kp::to_prometheus(small_snapshot());
  CHECK(text == expected);
  const Exposition e = parse_exposition(text);
  CHECK(e.names() == all_families);
}

TEST_CASE("to_prometheus follows the format's rules and declares every family, even an empty one",
          "[export][prometheus]") {
  const Exposition empty = parse_exposition(kp::to_prometheus(kp::Snapshot{}));
  CHECK(empty.names() == all_families);
  for (const Family& family : empty.families) {
    INFO(family.name);
    CHECK(family.type == (family.name.ends_with("_total") ? "counter" : "gauge"));
    CHECK(family.help.back() == '.');
    const bool pool_wide = family.name == "keypool_snapshot_timestamp_seconds" ||
                           family.name == "keypool_events_dropped_total" || family.name == "keypool_sink_failures_total";
    CHECK(family.samples.size() == (pool_wide ? 1u : 0u));
  }
  CHECK(value_of(empty, "keypool_snapshot_timestamp_seconds", {}) == "0");
}

TEST_CASE("to_prometheus writes one series per status, 1 for the current one", "[export][prometheus]") {
  for (const auto status : {kp::KeyStatus::available, kp::KeyStatus::warning, kp::KeyStatus::critical,
                            kp::KeyStatus::exhausted, kp::KeyStatus::cooling_down, kp::KeyStatus::disabled}) {
    kp::Snapshot snap = small_snapshot();
    snap.keys[0].status = status;
    const Exposition e = parse_exposition(kp::to_prometheus(snap));
    const Family& family = e.family("keypool_key_status");
    REQUIRE(family.samples.size() == 6);
    for (const Sample& s : family.samples)
      CHECK(s.value == (s.label("status") == kp::to_string(status) ? "1" : "0"));
  }
}

TEST_CASE("to_prometheus leaves out the samples of absent times and of metrics without daily capacity",
          "[export][prometheus]") {
  kp::Snapshot snap = small_snapshot();
  snap.providers[0].totals.next_recovery.reset();
  snap.providers[0].totals.exhausts_at.reset();
  snap.providers[0].totals.daily_capacity = {4'800, 0, 0, 0, 5'000'000};
  snap.providers[0].totals.daily_used = {1'200, 0, 0, 0, 7};
  snap.keys[0].available_at.reset();
  snap.keys[0].exhausts_at.reset();
  snap.keys[0].last_error.reset();
  snap.keys[0].limits[1].exhausts_at.reset();
  const Exposition e = parse_exposition(kp::to_prometheus(snap));
  for (const char* name : {"keypool_provider_next_recovery_at_seconds", "keypool_provider_exhausts_at_seconds",
                           "keypool_key_available_at_seconds", "keypool_key_exhausts_at_seconds",
                           "keypool_key_last_error_at_seconds", "keypool_quota_exhausts_at_seconds"}) {
    INFO(name);
    CHECK(e.family(name).samples.empty());
  }
  REQUIRE(e.family("keypool_daily_capacity").samples.size() == 2);
  CHECK(value_of(e, "keypool_daily_capacity", {{"metric", "requests"}}) == "4800");
  CHECK(value_of(e, "keypool_daily_capacity", {{"metric", "spend"}}) == "5000000");
  REQUIRE(e.family("keypool_daily_used").samples.size() == 2);
  CHECK(value_of(e, "keypool_daily_used", {{"metric", "requests"}}) == "1200");
  CHECK(value_of(e, "keypool_daily_used", {{"metric", "spend"}}) == "7");
}

TEST_CASE("to_prometheus writes integers exactly, times to the nanosecond and floats as Go does",
          "[export][prometheus]") {
  kp::Snapshot snap = small_snapshot();
  snap.events_dropped = std::numeric_limits<std::uint64_t>::max();
  snap.at = kp::TimePoint{} - 1'500ms;
  snap.keys[0].available_at = kp::TimePoint{} + 1ns;
  snap.keys[0].exhausts_at = kp::TimePoint::max();
  snap.keys[0].last_error_at = kp::TimePoint::min();
  snap.keys[0].last_error_status = 0;
  snap.keys[0].limits[0].fraction = std::numeric_limits<double>::quiet_NaN();
  snap.keys[0].limits[1].fraction = std::numeric_limits<double>::infinity();
  snap.keys[0].limits[0].rate_per_second = -std::numeric_limits<double>::infinity();
  snap.keys[0].limits[1].rate_per_second = 1e21;
  const std::string text = kp::to_prometheus(snap);
  const Exposition e = parse_exposition(text);
  CHECK(value_of(e, "keypool_events_dropped_total", {}) == "18446744073709551615");
  CHECK(value_of(e, "keypool_snapshot_timestamp_seconds", {}) == "-1.5");
  CHECK(value_of(e, "keypool_key_available_at_seconds", {}) == "0.000000001");
  CHECK(value_of(e, "keypool_key_exhausts_at_seconds", {}) == "9223372036.854775807");
  CHECK(value_of(e, "keypool_key_last_error_at_seconds", {{"status", "0"}}) == "-9223372036.854775808");
  CHECK(value_of(e, "keypool_quota_usage_ratio", {{"limit_index", "0"}}) == "NaN");
  CHECK(value_of(e, "keypool_quota_usage_ratio", {{"limit_index", "1"}}) == "+Inf");
  CHECK(value_of(e, "keypool_quota_usage_rate_per_second", {{"limit_index", "0"}}) == "-Inf");
  CHECK(value_of(e, "keypool_quota_usage_rate_per_second", {{"limit_index", "1"}}) == "1e+21");
  snap.keys[0].limits[0].fraction = -0.0;
  snap.keys[0].limits[1].fraction = 1.0 / 3.0;
  const Exposition again = parse_exposition(kp::to_prometheus(snap));
  CHECK(value_of(again, "keypool_quota_usage_ratio", {{"limit_index", "0"}}) == "0");
  CHECK(value_of(again, "keypool_quota_usage_ratio", {{"limit_index", "1"}}) == "0.3333333333333333");
}

TEST_CASE("to_prometheus escapes label values and makes them valid UTF-8: they read back as written",
          "[export][prometheus][escape]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"quote\"d", "quote\"d"},
      {"back\\slash", "back\\slash"},
      {"new\nline", "new\nline"},
      {"all \\\"\n\\n", "all \\\"\n\\n"},
      {"tab\tcr\r\x01", "tab\tcr\r\x01"},  // other control characters need no escape
      {"…日本😀", "…日本😀"},
      {"bad\xff\xc0\xe2\x82", "bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"", ""},
  };
  for (const auto& [written, read] : cases) {
    INFO(written);
    kp::Snapshot snap = small_snapshot();
    snap.keys[0].label = written;
    snap.keys[0].provider_name = written;
    snap.keys[0].limits[0].window = written;
    snap.providers[0].name = written;
    const std::string text = kp::to_prometheus(snap);
    Exposition e;
    REQUIRE_NOTHROW(e = parse_exposition(text));
    for (const Family& family : e.families) {
      for (const Sample& s : family.samples) {
        for (const auto& [name, value] : s.labels) {
          if (name == "key" || name == "provider") CHECK(value == read);
        }
      }
    }
    CHECK(value_of(e, "keypool_quota_used", {{"limit_index", "0"}, {"window", read}}) == "12");
  }
  CHECK(has_line(kp::to_prometheus([] {
                   kp::Snapshot snap = small_snapshot();
                   snap.keys[0].label = "a\\b\"c\nd";
                   return snap;
                 }()),
                 R"(keypool_key_weight{provider="groq",key="a\\b\"c\nd"} 2)"));
}

TEST_CASE("to_prometheus tells two limits of one metric and window apart by limit_index", "[export][prometheus]") {
  kp::Snapshot snap = small_snapshot();
  snap.keys[0].limits = {limit(kp::Metric::requests, "rolling", "requests 30 per 60.000000s rolling", 3, 30, at + 6s),
                         limit(kp::Metric::requests, "rolling", "requests 5 per 1.000000s rolling", 1, 5, at + 200ms),
                         limit(kp::Metric::requests, "rolling", "requests 5 per 1.000000s rolling", 1, 5, at + 200ms)};
  const std::string text = kp::to_prometheus(snap);
  const Exposition e = parse_exposition(text);  // refuses duplicate series
  REQUIRE(e.family("keypool_quota_limit").samples.size() == 3);
  CHECK(value_of(e, "keypool_quota_limit", {{"limit_index", "0"}}) == "30");
  CHECK(value_of(e, "keypool_quota_limit", {{"limit_index", "1"}}) == "5");
  CHECK(value_of(e, "keypool_quota_limit", {{"limit_index", "2"}}) == "5");
  CHECK(has_line(text, R"(keypool_quota_resets_at_seconds{provider="groq",key="groq-1",metric="requests",window="rolling",limit_index="1"} 1795516927.2)"));
}

TEST_CASE("to_prometheus never writes two series of one name and labels, even for keys labelled alike",
          "[export][prometheus]") {
  kp::Snapshot snap = small_snapshot();
  kp::KeySnapshot twin = snap.keys[0];
  snap.keys.push_back(twin);                      // the same label (a hand-built snapshot)
  twin.label = "groq-1\xff";                       // differs only in an ill-formed byte...
  snap.keys.push_back(twin);
  twin.label = "groq-1\xfe";                       // ...and again: both read "groq-1\uFFFD"
  snap.keys.push_back(twin);
  twin.label = "groq-1#2";                         // a real label that the first rename would take
  snap.keys.push_back(twin);
  snap.providers.push_back(snap.providers[0]);     // a provider twice
  const Exposition e = parse_exposition(kp::to_prometheus(snap));  // refuses duplicate series
  std::vector<std::string> keys;
  for (const Sample& s : e.family("keypool_key_weight").samples) keys.push_back(s.label("key"));
  CHECK(keys == std::vector<std::string>{"groq-1", "groq-1#3", "groq-1\xEF\xBF\xBD", "groq-1\xEF\xBF\xBD#2", "groq-1#2"});
  std::vector<std::string> providers;
  for (const Sample& s : e.family("keypool_provider_tier").samples) providers.push_back(s.label("provider"));
  CHECK(providers == std::vector<std::string>{"groq", "groq#2"});
}

TEST_CASE("to_prometheus of a snapshot of 1,000 keys is well formed", "[export][prometheus]") {
  kp::Snapshot snap = many_keys(1'000, 1);
  for (std::uint32_t p = 0; p < 7; ++p) {
    snap.providers.emplace_back();
    snap.providers.back().id = kp::ProviderId{p};
    snap.providers.back().name = "provider-" + std::to_string(p);
  }
  const Exposition e = parse_exposition(kp::to_prometheus(snap));
  CHECK(e.family("keypool_key_status").samples.size() == 6'000);
  CHECK(e.family("keypool_quota_used").samples.size() == 2'000);
  CHECK(e.family("keypool_provider_keys").samples.size() == 28);
  CHECK(value_of(e, "keypool_key_successes_total", {{"key", "key-999"}}) == "999");
  CHECK(value_of(e, "keypool_quota_used", {{"key", "key-999"}, {"metric", "tokens"}}) == "9990");
}

TEST_CASE("to_prometheus of a real pool's snapshot has its keys, limits and statuses", "[export][prometheus][pool]") {
  kp::clock::Manual clock{kp::TimePoint{sys_days{2026y / November / 23} + 8h}};
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{8}, clock};
  const auto groq = pool.add_provider("groq", 0);
  const auto gemini = pool.add_provider("gemini", 1);
  pool.add_key(groq, kp::Secret{"gsk_prom_test_secret_a1"}, {kp::Limit::requests(2).per_minute()}, {.label = "a"});
  pool.add_key(groq, kp::Secret{"gsk_prom_test_secret_b2"},
               {kp::Limit::requests(100).per_day(), kp::Limit::tokens(1'000).per_day()}, {.label = "b"});
  const auto c = pool.add_key(gemini, kp::Secret{"gsk_prom_test_secret_c3"}, {kp::Limit::requests(10).per_minute()});
  pool.disable(c);
  const int granted = commit_tokens_until_refused(pool, 200, 20);
  CHECK(granted == 7);  // a: 2 requests a minute; b: 1,000 tokens a day at 200 each
  clock.advance(60s);

  const Exposition e = parse_exposition(kp::to_prometheus(pool.snapshot()));
  CHECK(value_of(e, "keypool_snapshot_timestamp_seconds", {}) == "1795420860");  // 2026-11-23T08:01:00Z
  CHECK(value_of(e, "keypool_key_status", {{"key", "a"}, {"status", "available"}}) == "1");
  CHECK(value_of(e, "keypool_key_status", {{"key", "b"}, {"status", "exhausted"}}) == "1");
  CHECK(value_of(e, "keypool_key_status", {{"key", "gsk_…t_c3"}, {"status", "disabled"}}) == "1");
  CHECK(value_of(e, "keypool_key_status", {{"key", "gsk_…t_c3"}, {"provider", "gemini"}, {"status", "available"}}) == "0");
  CHECK(value_of(e, "keypool_quota_used", {{"key", "a"}}) == "0");
  CHECK(value_of(e, "keypool_quota_resets_at_seconds", {{"key", "a"}}) == "1795420920");
  CHECK(value_of(e, "keypool_quota_used", {{"key", "b"}, {"metric", "requests"}, {"window", "day"}}) == "5");
  CHECK(value_of(e, "keypool_quota_used", {{"key", "b"}, {"metric", "tokens"}}) == "1000");
  CHECK(value_of(e, "keypool_quota_remaining", {{"key", "b"}, {"metric", "tokens"}}) == "0");
  CHECK(value_of(e, "keypool_quota_usage_ratio", {{"key", "b"}, {"metric", "tokens"}}) == "1");
  CHECK(value_of(e, "keypool_quota_usage_ratio", {{"key", "b"}, {"metric", "requests"}}) == "0.05");
  CHECK(value_of(e, "keypool_quota_resets_at_seconds", {{"key", "b"}, {"limit_index", "1"}}) == "1795478400");
}

TEST_CASE("no exported text contains a key's secret, nor any 8 characters of one", "[export][secret]") {
  const std::vector<std::string> secrets = {"gsk_Q7mZp2XwR9vTn4LcB8kJ", "AIzaSyD7hJq2Vw9Lx4Rt6Np8MkZ3",
                                            "sk-proj-Hx8Tq3Wm6Zv2Nc9Rf5Lp1Yd"};
  kp::clock::Manual clock{kp::TimePoint{sys_days{2026y / November / 23} + 8h}};
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{8}, clock};
  const auto groq = pool.add_provider("groq", 0);
  std::vector<kp::KeyId> keys;
  for (const std::string& secret : secrets)  // labels default to the redacted secret
    keys.push_back(pool.add_key(groq, kp::Secret{secret},
                                {kp::Limit::requests(5).per_minute(), kp::Limit::tokens(10'000).per_day()}));

  // Traffic: successes, a rate limit, an auth failure (disables its key), transient failures.
  for (int i = 0; i < 6; ++i) {
    kp::Lease lease = pool.acquire({.tokens = 300});
    REQUIRE(lease);
    lease.commit({.tokens = 250});
  }
  if (kp::Lease lease = pool.acquire({.tokens = 10})) lease.fail(kp::Outcome::rate_limited(30s).with_status(429));
  if (kp::Lease lease = pool.acquire({.tokens = 10})) lease.fail(kp::Outcome::auth_failed().with_status(401));
  if (kp::Lease lease = pool.acquire({.tokens = 10})) lease.fail(kp::Outcome::transient().with_status(503));
  clock.advance(5s);

  const kp::Snapshot snap = pool.snapshot();
  const std::string json = kp::to_json(snap);
  const std::string prometheus = kp::to_prometheus(snap);
  for (std::size_t k = 0; k < secrets.size(); ++k) {
    const std::string redacted = kp::Secret{secrets[k]}.redacted();
    INFO("secret " << k << ", redacted " << redacted);
    CHECK(std::string{pool.label(keys[k])} == redacted);
    CHECK_THAT(json, Contains("\"label\":\"" + redacted + "\""));  // the key is there, by its redacted name
    CHECK_THAT(prometheus, Contains("key=\"" + redacted + "\""));
    for (std::size_t i = 0; i + 8 <= secrets[k].size(); ++i) {
      const std::string piece = secrets[k].substr(i, 8);
      INFO("piece " << piece);
      CHECK(json.find(piece) == std::string::npos);
      CHECK(prometheus.find(piece) == std::string::npos);
    }
  }
  CHECK_THAT(json, Contains("\"status\":\"disabled\""));  // the traffic did reach the snapshot
}

TEST_CASE("to_prometheus writes a series per limit of each key's models and of each group, labelled model and group",
          "[export][prometheus][models]") {
  kp::clock::Manual clock{kp::TimePoint{sys_days{2026y / November / 23} + 8h}};
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{8}, clock};
  const auto groq = pool.add_provider("groq");
  const auto org = pool.add_group(groq, "org \"1\"", {kp::Limit::requests(50).per_day()},
                                  {{"llama-70b", {kp::Limit::tokens(12'000).per_minute()}}});
  pool.add_key(groq, kp::Secret{"gsk_prom_models_a1"}, {kp::Limit::requests(30).per_minute()},
               {.label = "a", .models = {{"llama-70b", {kp::Limit::requests(1'000).per_day()}}}, .group = org});
  pool.acquire({.tokens = 700, .model = pool.model("llama-70b")}).commit({.tokens = 700});
  const std::string text = kp::to_prometheus(pool.snapshot());
  const Exposition e = parse_exposition(text);
  // The key's own limit: no model, no group label.
  CHECK(value_of(e, "keypool_quota_used", {{"key", "a"}, {"window", "minute"}}) == "1");
  CHECK(value_of(e, "keypool_quota_used", {{"key", "a"}, {"model", "llama-70b"}}) == "1");
  CHECK(value_of(e, "keypool_quota_limit", {{"key", "a"}, {"model", "llama-70b"}}) == "1000");
  CHECK(value_of(e, "keypool_quota_used", {{"group", "org \"1\""}, {"window", "day"}}) == "1");
  CHECK(value_of(e, "keypool_quota_used", {{"group", "org \"1\""}, {"model", "llama-70b"}}) == "700");
  CHECK(text.find("group=\"org \\\"1\\\"\"") != std::string::npos);  // escaped as a label value
}
