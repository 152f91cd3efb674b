// glibc's reading of a POSIX TZ rule, an independent oracle for the zone and calendar tests: sets
// TZ for its lifetime and restores it afterwards. Not thread-safe (setenv), as Catch runs tests
// on one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

class GlibcZone {
 public:
  explicit GlibcZone(const std::string& rule) {
    if (const char* old = std::getenv("TZ")) saved_ = std::string{old};
    ::setenv("TZ", rule.c_str(), 1);
    ::tzset();
  }
  ~GlibcZone() {
    if (saved_) {
      ::setenv("TZ", saved_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  GlibcZone(const GlibcZone&) = delete;
  GlibcZone& operator=(const GlibcZone&) = delete;

  /// The UTC offset in force at t (east positive).
  std::chrono::seconds offset_at(std::chrono::sys_seconds t) const { return std::chrono::seconds{local(t).tm_gmtoff}; }
  std::string standard_name() const { return ::tzname[0]; }

  /// The local date at t, as a day count from 1970-01-01.
  std::int64_t local_day(std::chrono::sys_seconds t) const {
    const std::tm tm = local(t);
    const std::chrono::year_month_day date{std::chrono::year{tm.tm_year + 1900},
                                           std::chrono::month{static_cast<unsigned>(tm.tm_mon + 1)},
                                           std::chrono::day{static_cast<unsigned>(tm.tm_mday)}};
    return std::chrono::sys_days{date}.time_since_epoch().count();
  }

 private:
  static std::tm local(std::chrono::sys_seconds t) {
    const std::time_t time = t.time_since_epoch().count();
    std::tm tm{};
    ::localtime_r(&time, &tm);
    return tm;
  }
  std::optional<std::string> saved_;
};
