// Readable instants for the zone and calendar tests: build one from a civil UTC time, print one
// as ISO 8601 so that failures say which instant broke.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

/// The UTC instant y-m-d hh:mm:ss.
inline std::chrono::sys_seconds utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  const std::chrono::sys_days date{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}};
  return std::chrono::sys_seconds{date} + std::chrono::hours{hh} + std::chrono::minutes{mm} + std::chrono::seconds{ss};
}

/// "2026-03-08T10:00:00Z" ("min"/"max" for the extremes).
inline std::string iso(std::chrono::sys_seconds t) {
  if (t == std::chrono::sys_seconds::min()) return "min";
  if (t == std::chrono::sys_seconds::max()) return "max";
  const auto date_part = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day date{date_part};
  const auto second_of_day = (t - date_part).count();
  char text[48];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(second_of_day / 3600), static_cast<int>(second_of_day / 60 % 60),
                static_cast<int>(second_of_day % 60));
  return text;
}
