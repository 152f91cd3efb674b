// The on-disk format of store::MappedFile's state file: header, key table, key descriptors and
// how a Limit is written in one. docs/storage.md describes it for people; this is the definition.
// Internal: users include <keypool/store/mapped_file.hpp>.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <keypool/detail/calendar.hpp>
#include <keypool/error.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/limit.hpp>
#include <keypool/request.hpp>
#include <keypool/zone.hpp>

namespace keypool::detail::state_file {

// ---------------------------------------------------------------------------------------------
// Constants of format version 1

/// The first 8 bytes of every state file (PNG-style: a non-ASCII byte, then letters, then bytes
/// that line-ending conversion or a text editor would change).
inline constexpr std::array<unsigned char, 8> magic{0x89, 'K', 'P', 'Q', '\r', '\n', 0x1a, '\n'};
/// Bumped when the header, table or descriptor layout changes. The magic and this field keep their
/// offsets in every version, so any build can say which version a file is.
inline constexpr std::uint32_t format_version = 1;
/// Written as a native 32-bit integer: reads back otherwise on a machine of the other byte order.
inline constexpr std::uint32_t byte_order_mark = 0x01020304;
/// The header occupies the file's first page (4 KiB), so the key table starts page-aligned.
inline constexpr std::size_t header_bytes = 4096;
/// The key table grows in chunks of this many keys.
inline constexpr std::size_t keys_per_chunk = 64;
/// The most keys one file holds (as many as a pool's largest capacity).
inline constexpr std::size_t max_keys = std::size_t{1} << 24;
inline constexpr std::size_t max_chunks = max_keys / keys_per_chunk;
/// Longest label, provider name and reset-zone rule a file can describe, in bytes.
inline constexpr std::size_t max_label_bytes = 127;
inline constexpr std::size_t max_provider_bytes = 63;
inline constexpr std::size_t max_zone_bytes = 79;
/// `Descriptor::state` of a key in use: "KPKEY" and the format version, in one word.
inline constexpr std::uint64_t key_in_use = 0x4b504b4559000001ull;

// ---------------------------------------------------------------------------------------------
// Integrity helpers

/// FNV-1a, 64 bits. Any single changed byte changes the result (each step is a bijection).
[[nodiscard]] inline std::uint64_t fnv1a(const void* data, std::size_t bytes,
                                         std::uint64_t hash = 1469598103934665603ull) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) {
    hash ^= p[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

/// A 32-bit value stored with its complement in one 64-bit word: written with one aligned store
/// (so a crash leaves the old or the new value, never half of each), and checked on every read
/// (so a flipped bit is detected).
[[nodiscard]] constexpr std::uint64_t checked_word(std::uint32_t value) noexcept {
  return (static_cast<std::uint64_t>(~value) << 32) | value;
}
[[nodiscard]] constexpr std::optional<std::uint32_t> read_checked_word(std::uint64_t word) noexcept {
  const auto value = static_cast<std::uint32_t>(word);
  if (static_cast<std::uint32_t>(word >> 32) != static_cast<std::uint32_t>(~value)) return std::nullopt;
  return value;
}

// ---------------------------------------------------------------------------------------------
// The layout. Native byte order, no padding the compiler chooses (static_asserts below).

/// The file's first bytes. Everything up to `checksum` is written once, when the file is created;
/// `chunks` changes (under the file lock) each time the key table grows.
struct Header {
  unsigned char magic[8];
  std::uint32_t format_version;
  std::uint32_t slot_version;      // keypool::key_slot_version of the slots' words
  std::uint32_t byte_order;        // byte_order_mark
  std::uint32_t header_bytes;      // the layout this file was written with: refused if not ours
  std::uint32_t slot_bytes;
  std::uint32_t descriptor_bytes;
  std::uint32_t keys_per_chunk;
  std::uint32_t max_limits;
  std::uint64_t created_at_ns;     // UTC, nanoseconds since 1970
  std::uint64_t checksum;          // fnv1a of the bytes above
  std::uint64_t chunks;            // checked_word: chunks in the key table
};

/// One Limit, enough to rebuild it exactly (Limit == rebuilt).
struct LimitRecord {
  std::uint8_t kind;          // Limit::Kind
  std::uint8_t metric;        // Metric
  std::uint8_t unit;          // detail::WindowUnit (calendar windows)
  std::uint8_t zone_kind;     // ZoneKind
  std::int32_t zone_offset_seconds;  // the zone's standard offset east of UTC (fixed zones)
  std::uint64_t amount;
  std::int64_t period_ns;     // rolling limits
  double headroom[priority_count];
  std::uint8_t zone_length;
  char zone[max_zone_bytes];  // the zone's name: a POSIX rule for ZoneKind::posix
};

enum class ZoneKind : std::uint8_t { utc, fixed, posix };

/// What may change between runs for one label without invalidating its counters (same layout
/// fingerprint): the provider's name and the limits' amounts, zones and headroom. Kept twice in a
/// descriptor, so that it can be rewritten without a moment where no valid copy exists.
struct Description {
  std::uint64_t checksum;      // fnv1a of the bytes after it
  std::uint32_t limit_count;
  std::uint32_t provider_length;
  char provider[max_provider_bytes + 1];
  LimitRecord limits[max_limits_per_key];
};

/// One key of the table: who it is (label, layout), what it is (Description), and bookkeeping.
struct Descriptor {
  std::uint64_t state;              // 0: free; key_in_use, stored last, once the rest is written
  std::uint64_t selector;           // checked_word: which `described` copy is current (0 or 1)
  std::uint64_t bound_at_ns;        // the last time a pool bound this key (informational)
  std::uint64_t identity_checksum;  // fnv1a of layout … label
  std::uint64_t layout;             // KeyBinding::layout: never changes for a label
  std::uint64_t created_at_ns;
  std::uint32_t label_length;
  std::uint32_t reserved0;
  char label[max_label_bytes + 1];
  Description described[2];
  unsigned char reserved[40];
};

static_assert(std::is_trivially_copyable_v<Header> && std::is_standard_layout_v<Header>);
static_assert(std::is_trivially_copyable_v<Descriptor> && std::is_standard_layout_v<Descriptor>);
static_assert(sizeof(Header) == 64 && offsetof(Header, checksum) == 48 && offsetof(Header, chunks) == 56,
              "state-file header layout");
static_assert(sizeof(LimitRecord) == 128, "state-file limit record layout");
static_assert(sizeof(Description) == 1104, "state-file description layout");
static_assert(offsetof(Descriptor, layout) == 32 && offsetof(Descriptor, described) == 184,
              "state-file descriptor layout");
static_assert(sizeof(Descriptor) == 2432 && sizeof(Descriptor) % 64 == 0, "state-file descriptor layout");
static_assert(sizeof(KeySlot) == 256 && alignof(KeySlot) == 64);

/// A chunk: the slots of its keys first (dense, so the hot path touches few pages), then their
/// descriptors. A whole number of 4 KiB pages, so every chunk starts page-aligned in the file.
inline constexpr std::size_t chunk_slots_bytes = keys_per_chunk * sizeof(KeySlot);
inline constexpr std::size_t chunk_bytes = chunk_slots_bytes + keys_per_chunk * sizeof(Descriptor);
static_assert(chunk_bytes % 4096 == 0, "chunks must keep slots page-aligned");

/// The file's size for `chunks` chunks.
[[nodiscard]] constexpr std::uint64_t file_bytes(std::uint64_t chunks) noexcept {
  return header_bytes + chunks * chunk_bytes;
}
/// Offset of chunk `chunk` in the file.
[[nodiscard]] constexpr std::uint64_t chunk_offset(std::uint64_t chunk) noexcept {
  return header_bytes + chunk * chunk_bytes;
}

/// The header of a new file created now.
[[nodiscard]] inline Header fresh_header(std::uint64_t created_at_ns) noexcept {
  Header header{};
  std::memcpy(header.magic, magic.data(), magic.size());
  header.format_version = format_version;
  header.slot_version = key_slot_version;
  header.byte_order = byte_order_mark;
  header.header_bytes = static_cast<std::uint32_t>(header_bytes);
  header.slot_bytes = static_cast<std::uint32_t>(sizeof(KeySlot));
  header.descriptor_bytes = static_cast<std::uint32_t>(sizeof(Descriptor));
  header.keys_per_chunk = static_cast<std::uint32_t>(keys_per_chunk);
  header.max_limits = static_cast<std::uint32_t>(max_limits_per_key);
  header.created_at_ns = created_at_ns;
  header.checksum = fnv1a(&header, offsetof(Header, checksum));
  header.chunks = checked_word(0);
  return header;
}

[[nodiscard]] inline std::uint64_t header_checksum(const Header& header) noexcept {
  return fnv1a(&header, offsetof(Header, checksum));
}
[[nodiscard]] inline std::uint64_t identity_checksum(const Descriptor& d) noexcept {
  return fnv1a(&d.layout, offsetof(Descriptor, described) - offsetof(Descriptor, layout));
}
[[nodiscard]] inline std::uint64_t description_checksum(const Description& d) noexcept {
  return fnv1a(&d.limit_count, sizeof(Description) - offsetof(Description, limit_count));
}

// ---------------------------------------------------------------------------------------------
// Limits in and out

/// The record of `limit`. Throws keypool::Error (naming `key`) when its zone rule is too long.
[[nodiscard]] inline LimitRecord encode(const Limit& limit, std::string_view key) {
  LimitRecord record{};
  record.kind = static_cast<std::uint8_t>(limit.kind());
  record.metric = static_cast<std::uint8_t>(limit.metric());
  record.unit = static_cast<std::uint8_t>(limit.unit());
  record.amount = limit.amount();
  record.period_ns = limit.period().count();
  for (std::size_t p = 0; p < priority_count; ++p) record.headroom[p] = limit.headroom(static_cast<Priority>(p));
  const Zone& zone = limit.zone();
  const auto offset = static_cast<std::int32_t>(zone.standard_offset().count());
  record.zone_offset_seconds = offset;
  if (!zone.has_dst() && offset == 0 && zone.name() == "UTC") {
    record.zone_kind = static_cast<std::uint8_t>(ZoneKind::utc);
  } else if (!zone.has_dst() && offset % 60 == 0 && offset >= -26 * 3600 && offset <= 26 * 3600 &&
             Zone::fixed(std::chrono::minutes{offset / 60}) == zone) {
    record.zone_kind = static_cast<std::uint8_t>(ZoneKind::fixed);
  } else {
    record.zone_kind = static_cast<std::uint8_t>(ZoneKind::posix);
  }
  const std::string_view name = zone.name();
  if (name.size() > max_zone_bytes)
    throw Error("key '" + std::string{key} + "': the reset zone rule of limit '" + limit.describe() + "' is " +
                std::to_string(name.size()) + " bytes; a state file holds rules of at most " +
                std::to_string(max_zone_bytes) + " bytes");
  record.zone_length = static_cast<std::uint8_t>(name.size());
  std::memcpy(record.zone, name.data(), name.size());
  return record;
}

/// The Limit a record describes. Throws keypool::Error when the record holds no valid limit.
[[nodiscard]] inline Limit decode(const LimitRecord& record) {
  if (record.metric >= metric_count || record.kind == 0 || record.kind > 3 || record.unit > 4 || record.zone_kind > 2 ||
      record.zone_length > max_zone_bytes)
    throw Error("a stored limit has out-of-range fields");
  Limit limit = Limit::of(static_cast<Metric>(record.metric), record.amount);
  switch (static_cast<Limit::Kind>(record.kind)) {
    case Limit::Kind::per_request: return limit.per_request();
    case Limit::Kind::rolling: limit = limit.per(Duration{record.period_ns}); break;
    case Limit::Kind::window: {
      switch (static_cast<WindowUnit>(record.unit)) {
        case WindowUnit::second: limit = limit.per_second(); break;
        case WindowUnit::minute: limit = limit.per_minute(); break;
        case WindowUnit::hour: limit = limit.per_hour(); break;
        case WindowUnit::day: limit = limit.per_day(); break;
        case WindowUnit::month: limit = limit.per_month(); break;
      }
      const std::string_view name{record.zone, record.zone_length};
      switch (static_cast<ZoneKind>(record.zone_kind)) {
        case ZoneKind::utc: break;
        case ZoneKind::fixed: limit = limit.reset_zone(Zone::fixed(std::chrono::minutes{record.zone_offset_seconds / 60})); break;
        case ZoneKind::posix: limit = limit.reset_zone(Zone::posix(name)); break;
      }
      break;
    }
    case Limit::Kind::unset: break;
  }
  for (std::size_t p = 0; p < priority_count; ++p)
    if (record.headroom[p] < 1.0) limit = limit.headroom(static_cast<Priority>(p), record.headroom[p]);
  return limit;
}

/// The description of a key with these limits and provider. Throws keypool::Error (naming `key`)
/// when the provider name or a zone rule is too long, or there are too many limits.
[[nodiscard]] inline Description describe(std::span<const Limit> limits, std::string_view provider, std::string_view key) {
  if (limits.size() > max_limits_per_key)
    throw Error("key '" + std::string{key} + "': at most " + std::to_string(max_limits_per_key) + " limits per key");
  if (provider.size() > max_provider_bytes)
    throw Error("key '" + std::string{key} + "': the provider name is " + std::to_string(provider.size()) +
                " bytes; a state file holds provider names of at most " + std::to_string(max_provider_bytes) + " bytes");
  Description description{};
  description.limit_count = static_cast<std::uint32_t>(limits.size());
  description.provider_length = static_cast<std::uint32_t>(provider.size());
  std::memcpy(description.provider, provider.data(), provider.size());
  for (std::size_t i = 0; i < limits.size(); ++i) description.limits[i] = encode(limits[i], key);
  description.checksum = description_checksum(description);
  return description;
}

/// "requests 30 per minute, tokens 14400 per day", or "no limits".
[[nodiscard]] inline std::string describe_limits(std::span<const Limit> limits) {
  if (limits.empty()) return "no limits";
  std::string text;
  for (const Limit& limit : limits) {
    if (!text.empty()) text += ", ";
    text += limit.describe();
  }
  return text;
}

}  // namespace keypool::detail::state_file
