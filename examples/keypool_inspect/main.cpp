// keypool_inspect: prints what a store::MappedFile state file holds — every key's label, provider,
// limits with their usage and resets, and status — from the file alone, without write access and
// without any secret (the file has none).
//
//   keypool_inspect quota.kp            a table
//   keypool_inspect quota.kp --json     one line of JSON: the file's header and kp::to_json's snapshot
//
// Names from the file (labels, provider names, zone rules) are printed escaped: a control byte, a
// byte of invalid UTF-8 or a backslash shows as \xNN or \\, so a damaged or hostile file cannot
// drive the terminal. A counter or health word the file holds that no run of keypool could have
// written shows as "corrupted" (the pool that opens the file next repairs it: docs/storage.md).
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
#include <utility>
#include <vector>

#include <keypool/alert/callback.hpp>
#include <keypool/export/json.hpp>
#include <keypool/keypool.hpp>
#include <keypool/store/mapped_file.hpp>

namespace kp = keypool;

namespace {

using InspectPool = kp::KeyPool<kp::store::MappedFile, kp::clock::System, kp::alert::Callback>;

/// The words found corrupted, per key label: the limits' (metric and window), and the other words' names.
struct Corrupted {
  std::map<std::string, std::vector<std::pair<kp::Metric, std::string>>> limits;
  std::map<std::string, std::vector<std::string>> words;
  [[nodiscard]] bool limit(const std::string& label, const kp::LimitUsage& usage) const {
    const auto found = limits.find(label);
    return found != limits.end() &&
           std::find(found->second.begin(), found->second.end(), std::pair{usage.metric, usage.window}) != found->second.end();
  }
};

/// `text` safe for a terminal: printable ASCII and valid UTF-8 pass; a control byte (C0, DEL, a C1
/// code point), a byte of invalid UTF-8 and a backslash are escaped (\x1b, \xc3, \\). With
/// `json`, `text` is JSON whose strings are escaped already (C0 and backslashes: kp::to_json): DEL
/// and C1 code points become \u007f…\u009f and a byte of invalid UTF-8 \ufffd (they only occur
/// inside strings, so the JSON stays valid).
std::string sanitize(std::string_view text, bool json) {
  std::string out;
  const auto escape = [&out, json](unsigned char byte, std::uint32_t code) {
    char escaped[8];
    if (json) std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(code));
    else std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned>(byte));
    out += escaped;
  };
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      if (!json && byte == '\\') out += "\\\\";
      else if (!json && byte < 0x20) escape(byte, byte);
      else if (byte == 0x7f) escape(byte, byte);
      else out += static_cast<char>(byte);
      ++i;
      continue;
    }
    // A UTF-8 sequence: its length from the lead byte, continuation bytes 10xxxxxx, no overlong
    // form, no surrogate, nothing past U+10FFFF.
    const std::size_t length = byte >= 0xc2 && byte <= 0xdf ? 2 : byte >= 0xe0 && byte <= 0xef ? 3 : byte >= 0xf0 && byte <= 0xf4 ? 4 : 0;
    bool valid = length != 0 && i + length <= text.size();
    std::uint32_t code = length == 2 ? byte & 0x1f : length == 3 ? byte & 0x0f : byte & 0x07;
    for (std::size_t k = 1; valid && k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      valid = (next & 0xc0) == 0x80;
      code = (code << 6) | (next & 0x3f);
    }
    valid = valid && !(length == 3 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff))) &&
            !(length == 4 && (code < 0x10000 || code > 0x10ffff));
    if (!valid) {
      escape(byte, 0xfffd);
      ++i;
      continue;
    }
    if (code >= 0x80 && code <= 0x9f) {  // C1 controls (ESC's 8-bit twin, CSI, …)
      if (json) escape(byte, code);
      else for (std::size_t k = 0; k < length; ++k) escape(static_cast<unsigned char>(text[i + k]), 0);
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  return out;
}
std::string printable(std::string_view text) { return sanitize(text, false); }

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

std::string status_text(const kp::KeySnapshot& key, kp::TimePoint now, const Corrupted& corrupted) {
  if (const auto found = corrupted.words.find(key.label); found != corrupted.words.end()) {
    std::string text = "corrupted (";
    for (std::size_t i = 0; i < found->second.size(); ++i) text += (i == 0 ? "" : ", ") + found->second[i];
    return text + ")";
  }
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

void print_table(const kp::store::FileDescription& file, const kp::Snapshot& snap, const Corrupted& corrupted) {
  std::cout << printable(file.path.string()) << ": format " << file.format_version << ", counters v" << file.slot_version
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
        row.label = printable(key.label);
        row.provider = printable(key.provider_name);
        row.status = status_text(key, snap.at, corrupted);
      }
      row.limit = printable(usage.description);
      const bool stateless = usage.window == "request";  // a per-request cap counts nothing
      const bool damaged = corrupted.limit(key.label, usage);
      row.usage = stateless ? "-" : damaged ? "corrupted" : std::to_string(usage.used) + "/" + std::to_string(usage.limit);
      row.resets = stateless ? "-"
                   : damaged ? "corrupted (a pool that opens the file repairs it)"
                             : format_time(usage.resets_at) + " (" + format_wait(snap.at, usage.resets_at) + ")";
      rows.push_back(std::move(row));
      first = false;
    }
    if (key.limits.empty())
      rows.push_back({printable(key.label), printable(key.provider_name), status_text(key, snap.at, corrupted), "(no limits)", "-", "-"});
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
    // The read-only store reports the words no run could have written (without repairing them).
    Corrupted corrupted;
    InspectPool pool{kp::Capacity{std::max<std::size_t>(1, file.keys.size())}, std::move(store),
                     kp::alert::Callback{[&corrupted](const kp::Event& event) {
                       if (event.kind != kp::EventKind::state_repaired) return;
                       const std::string label{event.key_label};
                       if (event.limit != 0) corrupted.limits[label].emplace_back(event.metric, std::string{event.window});
                       else corrupted.words[label].emplace_back(event.window);
                     }}};
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
      const std::string line = "{\"path\":" + json_string(file.path.string()) + ",\"format_version\":" +
                               std::to_string(file.format_version) + ",\"slot_version\":" + std::to_string(file.slot_version) +
                               ",\"created_at\":" + json_string(format_time(file.created_at)) + ",\"bytes\":" +
                               std::to_string(file.bytes) + ",\"key_room\":" + std::to_string(file.key_room) +
                               ",\"snapshot\":" + kp::to_json(snap) + "}";
      std::cout << sanitize(line, true) << '\n';
    } else {
      print_table(file, snap, corrupted);
    }
    return 0;
  } catch (const std::exception& error) {
    std::cerr << error.what() << '\n';
    return 1;
  }
}
