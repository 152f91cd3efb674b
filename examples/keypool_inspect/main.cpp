// keypool_inspect: prints what a store::MappedFile state file holds — every key's label, provider,
// limits with their usage and resets, and status — from the file alone, without write access and
// without any secret (the file has none).
//
//   keypool_inspect quota.kp            a table
//   keypool_inspect quota.kp --json     one line of JSON: the file's header and kp::to_json's snapshot
//
// Exit status: 0 printed, 1 the file could not be read (the message says why), 2 bad arguments.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <keypool/export/json.hpp>
#include <keypool/keypool.hpp>
#include <keypool/store/mapped_file.hpp>

namespace kp = keypool;

namespace {

using InspectPool = kp::KeyPool<kp::store::MappedFile, kp::clock::System>;

/// "2026-03-02T09:01:00Z", or "never" for TimePoint::max().
std::string format_time(kp::TimePoint t) {
  if (t == kp::TimePoint::max()) return "never";
  const std::time_t seconds = std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::system_clock::duration>(std::chrono::floor<std::chrono::seconds>(t)));
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

/// "in 3h12m", "in 40s", "now".
std::string format_wait(kp::TimePoint from, kp::TimePoint to) {
  if (to <= from) return "now";
  if (to == kp::TimePoint::max()) return "never";
  auto left = std::chrono::ceil<std::chrono::seconds>(to - from).count();
  std::string text = "in ";
  const std::int64_t days = left / 86'400, hours = left / 3'600 % 24, minutes = left / 60 % 60, seconds = left % 60;
  if (days > 0) text += std::to_string(days) + "d";
  if (hours > 0) text += std::to_string(hours) + "h";
  if (minutes > 0 && days == 0) text += std::to_string(minutes) + "m";
  if (seconds > 0 && days == 0 && hours == 0) text += std::to_string(seconds) + "s";
  return text;
}

std::string status_text(const kp::KeySnapshot& key, kp::TimePoint now) {
  switch (key.status) {
    case kp::KeyStatus::disabled: return "disabled";
    case kp::KeyStatus::cooling_down: return "cooling until " + format_time(key.blocked_until) + " (" + format_wait(now, key.blocked_until) + ")";
    default: return std::string{kp::to_string(key.status)};
  }
}

/// A JSON string literal (quotes and escapes).
std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

/// Columns on a terminal: UTF-8 code points (labels default to redacted secrets, "gsk_…3456").
std::size_t width_of(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void print_table(const kp::store::FileDescription& file, const kp::Snapshot& snap) {
  std::cout << file.path.string() << ": format " << file.format_version << ", counters v" << file.slot_version
            << ", created " << format_time(file.created_at) << ", " << file.keys.size() << " key"
            << (file.keys.size() == 1 ? "" : "s") << " (room for " << file.key_room << "), " << file.bytes << " bytes\n";
  if (snap.keys.empty()) return;

  struct Row {
    std::string label, provider, status, limit, usage, resets;
  };
  std::vector<Row> rows;
  for (const kp::KeySnapshot& key : snap.keys) {
    bool first = true;
    for (const kp::LimitUsage& usage : key.limits) {
      Row row;
      if (first) {
        row.label = key.label;
        row.provider = key.provider_name;
        row.status = status_text(key, snap.at);
      }
      row.limit = usage.description;
      const bool stateless = usage.window == "request";  // a per-request cap counts nothing
      row.usage = stateless ? "-" : std::to_string(usage.used) + "/" + std::to_string(usage.limit);
      row.resets = stateless ? "-" : format_time(usage.resets_at) + " (" + format_wait(snap.at, usage.resets_at) + ")";
      rows.push_back(std::move(row));
      first = false;
    }
    if (key.limits.empty()) rows.push_back({key.label, key.provider_name, status_text(key, snap.at), "(no limits)", "-", "-"});
  }
  Row header{"LABEL", "PROVIDER", "STATUS", "LIMIT", "USED/LIMIT", "RESETS"};
  std::size_t widths[5] = {};
  for (const Row& row : rows) {
    widths[0] = std::max({widths[0], width_of(header.label), width_of(row.label)});
    widths[1] = std::max({widths[1], width_of(header.provider), width_of(row.provider)});
    widths[2] = std::max({widths[2], width_of(header.status), width_of(row.status)});
    widths[3] = std::max({widths[3], width_of(header.limit), width_of(row.limit)});
    widths[4] = std::max({widths[4], width_of(header.usage), width_of(row.usage)});
  }
  const auto print = [&widths](const Row& row) {
    const auto cell = [](const std::string& text, std::size_t width) { return text + std::string(width - width_of(text) + 2, ' '); };
    std::cout << cell(row.label, widths[0]) << cell(row.provider, widths[1]) << cell(row.status, widths[2])
              << cell(row.limit, widths[3]) << cell(row.usage, widths[4]) << row.resets << '\n';
  };
  print(header);
  for (const Row& row : rows) print(row);
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  bool json = false;
  bool usage = argc < 2;
  for (int i = 1; i < argc && !usage; ++i) {
    const std::string_view arg{argv[i]};
    if (arg == "--json") json = true;
    else if (path.empty() && !arg.starts_with("-")) path = arg;
    else usage = true;  // --help, an unknown option, a second path
  }
  if (usage || path.empty()) {
    std::cerr << "usage: keypool_inspect STATE_FILE [--json]\n"
                 "Prints the keys a keypool state file (store::MappedFile) holds: label, provider, each limit's\n"
                 "usage and reset time, and status. Opens the file read-only; the file holds no secrets.\n";
    return 2;
  }
  try {
    // The description says which keys and limits the file holds; a pool over a read-only view of
    // the file turns their counter words into figures (the same ones a running pool reports).
    kp::store::MappedFile store = kp::store::MappedFile::read_only(path);
    const kp::store::FileDescription file = store.describe();
    InspectPool pool{kp::Capacity{std::max<std::size_t>(1, file.keys.size())}, std::move(store)};
    std::map<std::string, kp::ProviderId> providers;
    for (const kp::store::StoredKey& key : file.keys) {
      auto found = providers.find(key.provider);
      if (found == providers.end()) found = providers.emplace(key.provider, pool.add_provider(key.provider)).first;
      // The pool wants a secret per key: a placeholder, never sent anywhere (the file has none).
      pool.add_key(found->second, kp::Secret{"inspect-placeholder-" + std::to_string(pool.key_count())}, key.limits,
                   {.label = key.label});
    }
    const kp::Snapshot snap = pool.snapshot();
    if (json) {
      std::cout << "{\"path\":" << json_string(file.path.string()) << ",\"format_version\":" << file.format_version
                << ",\"slot_version\":" << file.slot_version << ",\"created_at\":" << json_string(format_time(file.created_at))
                << ",\"bytes\":" << file.bytes << ",\"key_room\":" << file.key_room << ",\"snapshot\":" << kp::to_json(snap)
                << "}\n";
    } else {
      print_table(file, snap);
    }
    return 0;
  } catch (const std::exception& error) {
    std::cerr << error.what() << '\n';
    return 1;
  }
}
