// libFuzzer target: keypool::Zone::posix on arbitrary text, and the conversions of the zones it
// accepts at a few instants decoded from the input.
//
// The input is the rule text up to the first '\n'; the bytes after it are instants, 8 bytes each
// (little-endian seconds since 1970, at most 8 of them), checked together with a fixed set (1970,
// 2026, around 2100, far past and far future). The seeds are real POSIX TZ strings.
//
// Checked: posix either throws keypool::Error or returns a zone named by the rule, with offsets
// within ±26 h. For every instant: the period around it contains it, its offset is the one
// offset_at gives and the standard or daylight one as is_dst says, and its neighbours meet it at
// its ends. For instants from 1970 on, the calendar windows of every unit keep their contract (the
// one tests/calendar_test.cpp checks over real zones): window_index never decreases, the window of
// t starts at or before t and the next one after it, window_start(i) is the first instant of
// window i; and a local day starts within the zone's offsets of its UTC midnight.
#include <keypool/detail/calendar.hpp>
#include <keypool/error.hpp>
#include <keypool/zone.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace kp = keypool;
using kp::detail::WindowUnit;
using std::chrono::seconds;
using std::chrono::sys_seconds;

constexpr std::int64_t hour = 3'600;
constexpr std::int64_t day = 86'400;

[[noreturn]] void fail(std::string_view rule, const char* why, std::int64_t at) {
  std::fprintf(stderr, "Zone::posix(\"%.*s\"): %s (at %lld s since 1970)\n", static_cast<int>(rule.size()), rule.data(), why,
               static_cast<long long>(at));
  std::abort();
}

void check_period(std::string_view rule, const kp::Zone& zone, std::int64_t at) {
  const sys_seconds t{seconds{at}};
  const kp::Zone::Period period = zone.period_at(t);
  if (!(period.begin <= t && t < period.end)) fail(rule, "the period does not contain the instant", at);
  if (zone.offset_at(t) != period.offset) fail(rule, "offset_at differs from period_at's offset", at);
  if (period.offset != (period.is_dst ? zone.daylight_offset() : zone.standard_offset()))
    fail(rule, "the period's offset is not the one its is_dst names", at);
  if (!zone.has_dst() && (period.begin != sys_seconds::min() || period.end != sys_seconds::max() || period.is_dst))
    fail(rule, "a zone without DST has a period with ends", at);
  // Neighbours meet at the ends (within the years where rules apply: ±2^52 s).
  constexpr std::int64_t inside = std::int64_t{1} << 50;
  if (at < -inside || at > inside) return;
  if (period.begin != sys_seconds::min()) {
    if (zone.period_at(period.begin).begin != period.begin) fail(rule, "the period at a period's begin starts elsewhere", at);
    if (zone.period_at(period.begin - seconds{1}).end != period.begin) fail(rule, "the period before does not end at begin", at);
  }
  if (period.end != sys_seconds::max()) {
    if (zone.period_at(period.end).begin != period.end) fail(rule, "the period after does not start at end", at);
    if (zone.period_at(period.end - seconds{1}).end != period.end) fail(rule, "the period's last second ends elsewhere", at);
  }
}

void check_windows(std::string_view rule, const kp::Zone& zone, const std::vector<std::int64_t>& sorted) {
  static constexpr WindowUnit units[] = {WindowUnit::second, WindowUnit::minute, WindowUnit::hour, WindowUnit::day,
                                         WindowUnit::month};
  for (const WindowUnit unit : units) {
    std::int64_t previous = 0;
    for (const std::int64_t at : sorted) {
      const sys_seconds t{seconds{at}};
      const std::int64_t index = kp::detail::window_index(unit, zone, t);
      const sys_seconds start = kp::detail::window_start(unit, zone, index);
      const sys_seconds next = kp::detail::window_start(unit, zone, index + 1);
      if (index < previous) fail(rule, "window_index decreased", at);
      if (!(start <= t && t < next)) fail(rule, "the instant lies outside its window", at);
      if (kp::detail::window_index(unit, zone, start) != index) fail(rule, "window_index(window_start(i)) != i", at);
      if (index > 0 && kp::detail::window_index(unit, zone, start - seconds{1}) != index - 1)
        fail(rule, "the second before window_start(i) is not in window i-1", at);
      previous = index;
    }
  }
  // A local day starts where local time first reads its midnight: within the zone's offsets of
  // the UTC instant of that midnight.
  const std::int64_t most = std::max(zone.standard_offset().count(), zone.daylight_offset().count());
  const std::int64_t least = std::min(zone.standard_offset().count(), zone.daylight_offset().count());
  for (const std::int64_t at : sorted) {
    const std::int64_t local_day = kp::detail::floor_div(at, day);
    const std::int64_t first = kp::detail::calendar::first_instant_of_local_day(zone, local_day);
    if (first < local_day * day - most || first > local_day * day - least)
      fail(rule, "a local day starts beyond the zone's offsets from its midnight", at);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input{reinterpret_cast<const char*>(data), size};
  const std::size_t newline = input.find('\n');
  const std::string_view rule = input.substr(0, newline);

  std::vector<std::int64_t> instants{0,           1'795'420'800,  4'102'444'800 + 3 * hour,  -2'208'988'800,
                                     -1'000'000,  std::int64_t{1} << 40, std::int64_t{1} << 51,
                                     (std::int64_t{1} << 52) - 1, -(std::int64_t{1} << 52) - 1, std::int64_t{1} << 60};
  if (newline != std::string_view::npos) {
    std::string_view rest = input.substr(newline + 1);
    for (int n = 0; n < 8 && rest.size() >= 8; ++n, rest.remove_prefix(8)) {
      std::uint64_t bits = 0;
      std::memcpy(&bits, rest.data(), 8);
      // Keep within sys_seconds' range with room for the ±1 s the checks add.
      instants.push_back(static_cast<std::int64_t>(bits) / 4);
    }
  }

  kp::Zone zone;
  try {
    zone = kp::Zone::posix(rule);
  } catch (const kp::Error& error) {
    if (std::strlen(error.what()) == 0) fail(rule, "an Error without a message", 0);
    return 0;
  }
  if (zone.name() != rule) fail(rule, "the zone is not named by its rule", 0);
  if (zone.standard_offset() < seconds{-26 * hour} || zone.standard_offset() > seconds{26 * hour} ||
      zone.daylight_offset() < seconds{-26 * hour} || zone.daylight_offset() > seconds{26 * hour})
    fail(rule, "an offset beyond 26 hours", 0);
  if (!zone.has_dst() && zone.daylight_offset() != zone.standard_offset()) fail(rule, "two offsets without DST", 0);
  if (!(kp::Zone::posix(rule) == zone)) fail(rule, "the same rule read twice gives another zone", 0);

  for (const std::int64_t at : instants) check_period(rule, zone, at);

  // The calendar's contract holds from 1970 on, up to its horizon (2^51 s); instants are taken
  // below 2^50 s, as month indices near the horizon are clamped on a 31-day month (window_start).
  constexpr std::int64_t calendar_span = kp::detail::calendar::horizon / 2;
  std::vector<std::int64_t> sorted;
  for (const std::int64_t at : instants) sorted.push_back(at < 0 ? -(at % calendar_span) : at % calendar_span);
  std::sort(sorted.begin(), sorted.end());
  check_windows(rule, zone, sorted);
  return 0;
}
