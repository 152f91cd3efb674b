// libFuzzer target: keypool::classify on a provider's answer decoded from the input.
//
// The input is an HTTP answer in text, so that the seeds are real answers and stay readable:
//
//     STATUS [DIALECT] [NOW]        e.g. "429 groq 1795420800000000000"
//     name: value                   headers, one a line, up to the first empty line
//
//     body                          everything after the empty line
//
// STATUS is a decimal integer (anything else reads as 0: no answer); DIALECT is a dialect's name
// (generic, openai, groq, ...) or a number taken modulo the dialect count (default generic); NOW is
// nanoseconds since 1970, any int64 (default 2026-11-23T08:00:00Z). A line without ':' is a header
// with that name and an empty value.
//
// Checked for every input, as tests/fuzz/classify_fuzz_test.cpp checks its mutations: classify
// returns (it is noexcept: a throw would terminate), the outcome fits the status class, waits are
// never negative nor longer than a year, times are never before now, a dialect that reads no
// windows claims none; the same answer given as a header lookup gives the same outcome, and
// classify is a pure function.
#include <keypool/classify.hpp>

#include "support/classify_contract.hpp"

#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace kp = keypool;
using Kind = kp::Outcome::Kind;
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Answer {
  int status = 0;
  kp::Dialect dialect = kp::dialects::generic;
  kp::TimePoint now{std::chrono::sys_days{std::chrono::year{2026} / std::chrono::November / 23} + std::chrono::hours{8}};
  Headers headers;
  std::string_view body;
};

std::string_view next_line(std::string_view& text) {
  const std::size_t end = text.find('\n');
  std::string_view line = text.substr(0, end);
  text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::string_view next_word(std::string_view& line) {
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  const std::size_t end = line.find(' ');
  const std::string_view word = line.substr(0, end);
  line = end == std::string_view::npos ? std::string_view{} : line.substr(end);
  return word;
}

template <class T>
std::optional<T> number(std::string_view word) {
  T value{};
  const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (ec != std::errc{} || end != word.data() + word.size()) return std::nullopt;
  return value;
}

Answer decode(std::string_view text) {
  Answer answer;
  std::string_view first = next_line(text);
  if (const auto status = number<int>(next_word(first))) answer.status = *status;
  if (const std::string_view dialect = next_word(first); !dialect.empty()) {
    if (const auto index = number<unsigned>(dialect)) {
      answer.dialect = static_cast<kp::Dialect>(*index % kp::dialect_count);
    } else {
      for (std::size_t d = 0; d < kp::dialect_count; ++d)
        if (kp::to_string(static_cast<kp::Dialect>(d)) == dialect) answer.dialect = static_cast<kp::Dialect>(d);
    }
  }
  if (const auto now = number<std::int64_t>(next_word(first))) answer.now = kp::TimePoint{kp::Duration{*now}};
  while (!text.empty()) {
    const std::string_view line = next_line(text);
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    answer.headers.emplace_back(std::string{line.substr(0, colon)}, std::string{value});
  }
  answer.body = text;
  return answer;
}

// Why the outcome breaks classify's contract, or nullptr when it keeps it: the contract of
// tests/support/classify_contract.hpp, and no windows from a dialect that reads none.
const char* violation(int status, const kp::Outcome& o, kp::TimePoint now, kp::Dialect dialect) {
  if (const char* broken = classify_contract::classify_violation(status, o, now)) return broken;
  if (!kp::detail::dialect::reading_of(dialect).windows)
    for (const auto& report : o.remaining())
      if (report.window != kp::Window::unknown) return "a window from a dialect that reads none";
  return nullptr;
}

[[noreturn]] void fail(const char* why, const Answer& answer, const kp::Outcome& outcome) {
  std::fprintf(stderr, "classify broke its contract: %s\nstatus %d, dialect %.*s, now %lld ns\noutcome: %.*s, retry_after %lld ns, until %lld ns\n",
               why, answer.status, static_cast<int>(kp::to_string(answer.dialect).size()), kp::to_string(answer.dialect).data(),
               static_cast<long long>(answer.now.time_since_epoch().count()),
               static_cast<int>(kp::to_string(outcome.kind()).size()), kp::to_string(outcome.kind()).data(),
               static_cast<long long>(outcome.retry_after().count()),
               static_cast<long long>(outcome.until().time_since_epoch().count()));
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Answer answer = decode(std::string_view{reinterpret_cast<const char*>(data), size});
  const kp::Outcome outcome = kp::classify(answer.status, answer.headers, answer.body, answer.now, answer.dialect);
  if (const char* why = violation(answer.status, outcome, answer.now, answer.dialect)) fail(why, answer, outcome);

  // The same headers through a lookup (what classify's HeaderLookup overload is for).
  const auto lookup = [&answer](std::string_view name) -> std::optional<std::string_view> {
    for (const auto& [key, value] : answer.headers)
      if (key.size() == name.size() && kp::detail::http::iequals(key, name)) return std::string_view{value};
    return std::nullopt;
  };
  if (!(kp::classify(answer.status, lookup, answer.body, answer.now, answer.dialect) == outcome))
    fail("a header lookup over the same headers gives another outcome", answer, outcome);
  if (!(kp::classify(answer.status, answer.headers, answer.body, answer.now, answer.dialect) == outcome))
    fail("classify is not a pure function", answer, outcome);
  return 0;
}
