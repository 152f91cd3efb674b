// keypool::store::MappedFile: counters in a memory-mapped state file, shared by every process of a
// host that maps it and kept across restarts and crashes. The file is versioned, checked on open,
// and never holds key material. The format and the guarantees are in docs/storage.md.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <keypool/accounting/calendar_window.hpp>
#include <keypool/accounting/counter.hpp>
#include <keypool/detail/file_lock.hpp>
#include <keypool/detail/packed_window.hpp>
#include <keypool/detail/state_file.hpp>
#include <keypool/error.hpp>
#include <keypool/events.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/limit.hpp>
#include <keypool/outcome.hpp>
#include <keypool/store/binding.hpp>
#include <keypool/time.hpp>

namespace keypool::store {

static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free,
              "store::MappedFile needs lock-free, address-free 64-bit atomics: processes share the slots");

/// One key as a state file describes it (see MappedFile::describe). Holds no key material: the
/// file never has any.
struct StoredKey {
  std::string label;
  std::string provider;
  /// The limits, rebuilt exactly as the last pool that bound the key gave them.
  std::vector<Limit> limits;
  /// The layout fingerprint the counters were written for (KeyBinding::layout).
  std::uint64_t layout = 0;
  /// When the key was first added to the file, and last bound by a pool.
  TimePoint created_at{};
  TimePoint bound_at{};
};

/// What a state file holds, as MappedFile::describe / MappedFile::inspect read it.
struct FileDescription {
  std::filesystem::path path;
  std::uint32_t format_version = 0;
  std::uint32_t slot_version = 0;
  TimePoint created_at{};
  /// Size of the file in bytes (fstat), and how many keys its table holds before it grows again.
  std::uint64_t bytes = 0;
  std::size_t key_room = 0;
  /// Every key the file has counters for, in the order they were first added.
  std::vector<StoredKey> keys;
};

/// A word of a key's slot that MappedFile found impossible when a pool bound the key, and what it
/// did about it (see MappedFile::repair_bound and docs/storage.md, "Corrupted counter words").
struct StateRepair {
  std::string label;     ///< the key's label (a meter's: "<key>@<model>", "group:<name>", …)
  std::string provider;  ///< the key's provider
  /// The word: a limit's counter or its window cache, named by the limit's window ("minute",
  /// "day", "rolling", …; `limit` says which limit), or "alerted", "blocked_until", "health",
  /// "last_error", "unused" (a word nothing uses). Static storage.
  std::string_view word;
  std::optional<std::size_t> limit;  ///< the index of the limit the word belongs to, if any
  Metric metric = Metric::requests;  ///< that limit's metric
  std::uint64_t amount = 0;          ///< that limit's amount (0: not a limit's counter)
  std::uint64_t found = 0;           ///< the word as found
  std::uint64_t repaired = 0;        ///< the word as written (a read-only store writes nothing)
  std::uint64_t used = 0;            ///< the limit's usage after the repair, in its current window (calendar) or not yet replenished (rolling)
  bool written = false;              ///< false for a read-only store, or when a live pool rewrote the word first
  std::string what;                  ///< one sentence: the file, the key, the word, why it was impossible, what was done

  /// The state_repaired event that reports it (its names point into this repair).
  [[nodiscard]] Event event(TimePoint at, ProviderId provider_id) const noexcept {
    Event e;
    e.kind = EventKind::state_repaired;
    e.at = at;
    e.provider = provider_id;
    e.provider_name = provider;
    e.key_label = label;
    e.window = word;
    if (limit) {
      e.metric = metric;
      e.limit = amount;
      e.used = used;
    }
    e.reported = found;
    return e;
  }
};

/// Counter slots in a memory-mapped file (MAP_SHARED). Every pool that opens the same file, in this
/// process or another, shares the counters of the keys it adds under the same label: admission
/// stays exact across all of them, and the counts survive restarts and crashes.
///
///     kp::KeyPool<kp::store::MappedFile> pool{kp::store::MappedFile{"/var/lib/app/quota.kp"}};
///
/// Opening creates the file when absent (atomically: a file at the path is always complete) and
/// otherwise checks it: magic, format version, KeySlot version, layout, header checksum, size, and
/// every key record's checksums. Anything wrong is a keypool::Error that names the problem and the
/// way out; a file is never zeroed or rewritten to make it fit. The counter and health words of a
/// key found in the file are checked when a pool binds it (repair_bound): a word no run could have
/// written is repaired and reported (EventKind::state_repaired), never left to break the key.
///
/// Keys are matched across pools and runs by label. A label found with another layout fingerprint
/// (other limit kinds, metrics, periods) is refused by `bind`. The file holds per key its label,
/// provider name, limits (kind, metric, amount, unit or period, zone rule, headroom) and its
/// KeySlot; never the secret.
///
/// Layout changes (creating the file, adding a key, growing the table) run under an flock(2) on the
/// file and this object's mutex; the hot path takes neither: the pool works on the slot words in
/// the mapping with lock-free atomics, with no system call. The table grows in chunks of 64 keys;
/// each chunk is mapped once and never moved, so a bound slot's address is stable until this object
/// is destroyed, whatever other processes add.
///
/// Thread safety: every member is thread-safe. Move-only; moving keeps every slot address.
/// After fork(), the child may keep using slots bound before the fork, but must open its own
/// MappedFile to bind keys (a lock taken through the inherited descriptor would be shared with the
/// parent); `bind` in the child throws keypool::Error saying so.
class MappedFile {
 public:
  /// How a file is created.
  struct Options {
    /// Permission bits of a file this process creates (the process umask applies). Processes of
    /// several users sharing one file need a group that may read and write it.
    unsigned permissions = 0644;
  };

  /// Opens the state file at `path` for reading and writing, creating it when absent (the
  /// directory must exist). Throws keypool::Error when the file cannot be opened or created, or
  /// is not a valid state file of this build (foreign, empty, truncated, corrupted, another format
  /// or KeySlot version, another layout); the message says which and how to recover.
  /// O(keys in the file).
  explicit MappedFile(std::filesystem::path path) : MappedFile(std::move(path), Options{}) {}
  MappedFile(std::filesystem::path path, Options options) : state_(std::make_unique<State>()) {
    State& s = *state_;
    s.path = std::move(path);
    s.who = "store::MappedFile \"" + s.path.string() + "\": ";
    s.read_only = false;
    s.fd = open_or_create(s, options);
    attach(s);
  }

  /// Opens an existing state file for inspection, without write access to it. The checks are those
  /// of the read-write constructor. A pool over a read-only store sees the file's live counts in
  /// `snapshot()` (on Linux, where a private mapping shows the file's changes until it is written);
  /// `bind` accepts only keys the file holds (with their layout). What such a pool writes
  /// (acquire, reset, disable, …) stays in this process, in a private copy-on-write mapping, and
  /// never reaches the file; the pages it wrote stop following the file, so a view meant to stay
  /// live only calls snapshot() and poll(). Throws keypool::Error as the constructor does, and when
  /// the file does not exist. O(keys in the file).
  [[nodiscard]] static MappedFile read_only(std::filesystem::path path) {
    MappedFile file{ReadOnlyTag{}};
    State& s = *file.state_;
    s.path = std::move(path);
    s.who = "store::MappedFile \"" + s.path.string() + "\" (read-only): ";
    s.read_only = true;
    const int fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw open_error(s, errno);
    s.fd = detail::FileDescriptor{fd};
    attach(s);
    return file;
  }

  /// The keys a state file holds and their limits, read without write access:
  /// `read_only(path).describe()`. Throws keypool::Error as read_only does.
  [[nodiscard]] static FileDescription inspect(const std::filesystem::path& path) { return read_only(path).describe(); }

  MappedFile(MappedFile&&) noexcept = default;
  MappedFile& operator=(MappedFile&&) noexcept = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  /// Unmaps the file (the pool flushes it first). Slots handed out die with it.
  ~MappedFile() = default;

  // ---------------------------------------------------------------------------------------------
  // StoragePolicy

  /// Called once by the pool's constructor with its capacity. The file does not depend on it: the
  /// table grows as keys are added, for any number of pools of any capacities. Throws
  /// keypool::Error when `capacity` exceeds the most keys a file holds (16,777,216).
  void reserve(std::size_t capacity) {
    State& s = live("reserve");
    if (capacity > detail::state_file::max_keys)
      throw Error(s.who + "a state file holds at most " + std::to_string(detail::state_file::max_keys) + " keys");
    std::lock_guard guard{s.mutex};
    s.capacity = capacity;
  }
  /// The pool grew past its Capacity: keys up to `capacity` in all may bind (the file's table
  /// grows in chunks as keys are added anyway). Throws keypool::Error beyond 16,777,216 keys.
  void grow(std::size_t capacity) {
    State& s = live("grow");
    if (capacity > detail::state_file::max_keys)
      throw Error(s.who + "a state file holds at most " + std::to_string(detail::state_file::max_keys) + " keys");
    std::lock_guard guard{s.mutex};
    s.capacity = std::max(s.capacity, capacity);
  }

  /// The slot of the key `binding` describes: the one the file holds for `binding.label` (its
  /// counts, cooldown and disabled flag as left by any pool), or a new zeroed one. A found key
  /// whose stored provider name or limit amounts, zones or headroom differ is re-described with
  /// the new ones (its counters are kept: the layout is the same). Throws keypool::Error when the
  /// label is stored with another layout fingerprint, a name is too long for the file (label 127
  /// bytes, provider 63, zone rule 79), the file is full or cannot grow (disk full), the file
  /// turns out damaged, this is a forked child, or (read-only) the label is not in the file.
  /// Thread-safe; takes the file lock. O(keys in the file).
  [[nodiscard]] KeySlot* bind(const KeyBinding& binding) {
    namespace sf = detail::state_file;
    State& s = live("bind");
    const std::string key{binding.label};
    if (binding.label.empty()) throw Error(s.who + "a key needs a label to be matched across runs");
    if (binding.label.size() > sf::max_label_bytes)
      throw Error(s.who + "key '" + key + "': the label is " + std::to_string(binding.label.size()) +
                  " bytes; a state file holds labels of at most " + std::to_string(sf::max_label_bytes) +
                  " bytes: choose a shorter KeyOptions::label");
    const sf::Description wanted = sf::describe(binding.limits, binding.provider, key);

    std::lock_guard guard{s.mutex};
    if (s.capacity != 0 && binding.index >= s.capacity)
      throw Error(s.who + "key index " + std::to_string(binding.index) + " beyond the reserved capacity");
    check_process(s);
    detail::FileLock lock{s.fd.get(), s.read_only ? detail::FileLock::Mode::shared : detail::FileLock::Mode::exclusive,
                          s.who};
    refresh(s);

    const std::size_t room = s.chunks.size() * sf::keys_per_chunk;
    std::size_t index = 0;
    for (; index < room; ++index) {
      sf::Descriptor& d = descriptor(s, index);
      const std::uint64_t state = detail::word(d.state).load(std::memory_order_acquire);
      if (state != sf::key_in_use) break;  // keys are added in order: the first free record ends them
      if (d.label_length != binding.label.size() || std::memcmp(d.label, binding.label.data(), binding.label.size()) != 0)
        continue;
      const sf::Description& stored = current_description(s, index);  // checks the record
      if (d.layout != binding.layout) {
        throw Error(s.who + "key '" + key + "' is stored with other limits (" + stored_limits_text(stored) +
                    ") than it is given now (" + sf::describe_limits(binding.limits) +
                    "): its counters would mean nothing for them. To keep its counts, give the key its old "
                    "limits; to count it afresh, give it a new label (KeyOptions::label); to count every key "
                    "afresh, delete the file");
      }
      if (!s.read_only) {
        if (!same_description(stored, wanted)) redescribe(s, index, wanted);
        detail::word(d.bound_at_ns).store(now_ns(), std::memory_order_relaxed);
      }
      s.pending.push_back(Pending{&slot(s, index), key, std::string{binding.provider},
                                  std::vector<Limit>(binding.limits.begin(), binding.limits.end())});
      return &slot(s, index);
    }
    if (s.read_only)
      throw Error(s.who + "key '" + key + "' is not in the file: a read-only store binds only the keys the file "
                  "holds (MappedFile::describe lists them)");
    if (index == room) grow(s);
    add_key(s, index, binding, wanted);
    return &slot(s, index);
  }

  /// Writes dirty pages of the mapping to disk and waits (msync MS_SYNC): after it returns, a power
  /// loss or kernel crash loses nothing recorded before the call. Called by the pool's poll() and
  /// destructor. A failed msync is counted in flush_failures(). Does nothing on a read-only store.
  /// Thread-safe; blocks the calling thread for the I/O. Never throws.
  void flush() noexcept {
    if (!state_ || state_->read_only) return;
    State& s = *state_;
    try {
      std::lock_guard guard{s.mutex};
      for (const detail::Mapping& mapping : s.mappings)
        if (::msync(mapping.data(), mapping.size(), MS_SYNC) != 0) s.flush_failures.fetch_add(1, std::memory_order_relaxed);
    } catch (...) {
      s.flush_failures.fetch_add(1, std::memory_order_relaxed);  // the mutex could not be locked
    }
  }

  /// Checks the words of the slots of the keys found in the file since the last call (their
  /// counters were written by an earlier run or another process) against their limits and `now`,
  /// repairs every word no run of keypool could have written, and returns what it repaired, each
  /// with a sentence naming the file, the key and the limit. The pool calls it right after it adds
  /// keys (KeyPool::add_key, add_group) and raises EventKind::state_repaired for each. A
  /// read-only store writes nothing and returns what it would repair. docs/storage.md lists the
  /// checks and the repairs. Thread-safe; lock-free on the words (a word a live pool changes
  /// meanwhile is left to it). O(keys bound since the last call × limits).
  /// The repairs stay valid (at their addresses) while this store lives, so events can point into them.
  [[nodiscard]] std::vector<const StateRepair*> repair_bound(TimePoint now) {
    State& s = live("repair_bound");
    std::lock_guard guard{s.mutex};
    std::vector<StateRepair> repairs;
    for (const Pending& p : s.pending) check_slot(s, p, now, repairs);
    s.pending.clear();
    std::vector<const StateRepair*> made;
    for (StateRepair& repair : repairs) made.push_back(&s.repairs.emplace_back(std::move(repair)));
    return made;
  }

  // ---------------------------------------------------------------------------------------------
  // Inspection

  /// Every key the file holds, with its label, provider and limits, as of now. Thread-safe; takes
  /// the file lock (shared). Allocates. O(keys in the file). Throws keypool::Error when the file
  /// turns out damaged (a key record's checksum fails).
  [[nodiscard]] FileDescription describe() const {
    namespace sf = detail::state_file;
    State& s = live("describe");
    std::lock_guard guard{s.mutex};
    detail::FileLock lock{s.fd.get(), detail::FileLock::Mode::shared, s.who};
    refresh(s);
    FileDescription description;
    const sf::Header& head = header(s);
    description.path = s.path;
    description.format_version = head.format_version;
    description.slot_version = head.slot_version;
    description.created_at = TimePoint{Duration{static_cast<std::int64_t>(head.created_at_ns)}};
    struct stat info{};
    description.bytes = ::fstat(s.fd.get(), &info) == 0 ? static_cast<std::uint64_t>(info.st_size) : sf::file_bytes(s.chunks.size());
    description.key_room = s.chunks.size() * sf::keys_per_chunk;
    for (std::size_t i = 0; i < description.key_room; ++i) {
      sf::Descriptor& d = descriptor(s, i);
      if (detail::word(d.state).load(std::memory_order_acquire) != sf::key_in_use) break;
      const sf::Description& stored = current_description(s, i);
      StoredKey key;
      key.label.assign(d.label, d.label_length);
      key.provider.assign(stored.provider, stored.provider_length);
      key.layout = d.layout;
      key.created_at = TimePoint{Duration{static_cast<std::int64_t>(d.created_at_ns)}};
      key.bound_at = TimePoint{Duration{static_cast<std::int64_t>(detail::word(d.bound_at_ns).load(std::memory_order_relaxed))}};
      key.limits = decode_limits(s, i, stored);
      description.keys.push_back(std::move(key));
    }
    return description;
  }

  /// The file's path, as given.
  [[nodiscard]] const std::filesystem::path& path() const { return live("path").path; }
  /// True for a store opened with read_only().
  [[nodiscard]] bool is_read_only() const { return live("is_read_only").read_only; }
  /// msync calls that failed (I/O error, …) since this object opened the file. Thread-safe.
  [[nodiscard]] std::uint64_t flush_failures() const {
    return live("flush_failures").flush_failures.load(std::memory_order_relaxed);
  }

 private:
  struct ReadOnlyTag {};
  explicit MappedFile(ReadOnlyTag) : state_(std::make_unique<State>()) {}

  struct Pending {
    KeySlot* slot;
    std::string label;
    std::string provider;
    std::vector<Limit> limits;
  };

  struct State {
    std::filesystem::path path;
    std::string who;  // message prefix: store::MappedFile "path":
    bool read_only = false;
    detail::FileDescriptor fd;
    pid_t opener = ::getpid();
    std::size_t capacity = 0;
    std::vector<detail::Mapping> mappings;  // never moved or unmapped while the object lives
    std::vector<std::byte*> chunks;         // address of each mapped chunk
    std::mutex mutex;                       // guards mappings, chunks, capacity, and descriptor writes
    std::atomic<std::uint64_t> flush_failures{0};
    std::vector<Pending> pending;           // keys found in the file, their words not yet checked
    std::deque<StateRepair> repairs;        // every repair made, at stable addresses
  };

  State& live(const char* what) const {
    if (!state_) throw Error(std::string{"store::MappedFile::"} + what + ": this object was moved from");
    return *state_;
  }

  static std::uint64_t now_ns() noexcept {
    const auto ns = std::chrono::duration_cast<Duration>(std::chrono::system_clock::now().time_since_epoch()).count();
    return ns < 0 ? 0 : static_cast<std::uint64_t>(ns);
  }

  // ---------------------------------------------------------------------------------------------
  // Checking the words of a slot (docs/storage.md, "Corrupted counter words")

  /// Generous bounds on what a live pool writes: a commit above its estimate may add up to the
  /// largest limit of its metric on the key (or a meter) to a word, so usage up to this many times
  /// that is still taken as real.
  static constexpr std::uint64_t plausible_overcommits = 1024;
  /// As many for a rolling limit's arrival time: a word further ahead keeps the key refused for
  /// longer than the calendar's (bounded by its window), so the bound is tighter.
  static constexpr std::uint64_t plausible_rolling_overcommits = 16;
  /// The longest cooldown taken as real (cooldowns last until a provider's reset: a month at most).
  static constexpr std::uint64_t longest_cooldown_ns = 400ull * 86'400 * 1'000'000'000;

  static std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) noexcept {
    std::uint64_t product = 0;
    return __builtin_mul_overflow(a, b, &product) ? ~std::uint64_t{0} : product;
  }
  static std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
    return a > ~std::uint64_t{0} - b ? ~std::uint64_t{0} : a + b;
  }
  static std::string hex(std::uint64_t value) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text = "0x";
    for (int shift = 60; shift >= 0; shift -= 4) text += digits[(value >> shift) & 0xf];
    return text;
  }

  /// Checks one slot (see repair_bound) and appends what it repaired to `out`.
  static void check_slot(const State& s, const Pending& p, TimePoint now, std::vector<StateRepair>& out) {
    KeySlot& slot = *p.slot;
    const std::uint64_t now_ns_ = now.time_since_epoch().count() < 0 ? 0 : static_cast<std::uint64_t>(now.time_since_epoch().count());
    const std::int64_t now_sec = detail::to_seconds(now);
    // Replaces `seen` by `desired` (unless a live pool changed the word meanwhile) and reports it.
    const auto repair = [&](std::uint64_t& w, std::uint64_t seen, std::uint64_t desired, std::string_view word,
                            std::optional<std::size_t> limit, std::uint64_t used, const std::string& why) {
      StateRepair r;
      r.label = p.label;
      r.provider = p.provider;
      r.word = word;
      r.limit = limit;
      if (limit) {
        r.metric = p.limits[*limit].metric();
        r.amount = p.limits[*limit].amount();
      }
      r.found = seen;
      r.repaired = desired;
      r.used = used;
      if (!s.read_only) {
        std::uint64_t expected = seen;
        r.written = detail::word(w).compare_exchange_strong(expected, desired, std::memory_order_relaxed);
        if (!r.written) return;  // a live pool wrote the word meanwhile: it is fresh, not corrupted
      }
      r.what = s.who + "key '" + p.label + "'" +
               (limit ? ", limit " + std::to_string(*limit + 1) + " (" + p.limits[*limit].describe() + ")" : std::string{}) +
               ": the " + std::string{r.word} + " word holds " + hex(seen) + ", " + why + (s.read_only ? " (would be repaired)" : "");
      out.push_back(std::move(r));
    };
    const auto load = [](std::uint64_t& w) { return detail::word(w).load(std::memory_order_relaxed); };

    for (std::size_t i = 0; i < max_limits_per_key; ++i) {
      KeySlot::Counter& counter = slot.counters[i];
      const bool has_limit = i < p.limits.size();
      const Limit::Kind kind = has_limit ? p.limits[i].kind() : Limit::Kind::unset;
      if (kind != Limit::Kind::window && kind != Limit::Kind::rolling) {
        // Words no counter uses stay zero.
        const std::optional<std::size_t> which = has_limit ? std::optional<std::size_t>{i} : std::nullopt;
        for (std::uint64_t* w : {&counter.state, &counter.window_end, &slot.alerted[i]})
          if (const std::uint64_t v = load(*w); v != 0)
            repair(*w, v, 0, "unused", which, 0, "but no counter uses it (a per-request cap, or no limit): set to 0");
        continue;
      }
      const Limit& limit = p.limits[i];
      // The largest amount of this metric on the key: how far a commit above its estimate may go.
      std::uint64_t largest = limit.amount();
      for (const Limit& other : p.limits)
        if (other.metric() == limit.metric() && other.kind() != Limit::Kind::per_request) largest = std::max(largest, other.amount());
      if (kind == Limit::Kind::rolling) {
        check_rolling(counter, limit, largest, now_ns_, i, repair, load);
        if (const std::uint64_t a = load(slot.alerted[i]); a != 0)
          repair(slot.alerted[i], a, 0, "alerted", i, 0, "but a rolling limit raises no threshold alerts: set to 0");
        continue;
      }
      const std::uint64_t epoch = check_window(counter, limit, largest, now_sec, i, !s.read_only, repair, load);
      // Alerts are claimed for the window a reservation was made in: never one after the counter's.
      if (const std::uint64_t a = load(slot.alerted[i]); (a >> 8) > epoch)
        repair(slot.alerted[i], a, 0, "alerted", i, 0,
               "a window after the counter's: cleared (an alert of this window may fire again)");
    }

    if (const std::uint64_t b = load(slot.blocked_until);
        b != disabled_until && b > saturating_add(now_ns_, longest_cooldown_ns)) {
      // One flipped bit of `disabled_until` leaves almost all bits set: the key was disabled.
      const bool was_disabled = std::popcount(b) >= 62;
      repair(slot.blocked_until, b, was_disabled ? disabled_until : 0, "blocked_until", std::nullopt, 0,
             was_disabled ? std::string{"one bit short of 'disabled': the key stays disabled"}
                          : "a cooldown longer than any keypool sets (over 400 days): cleared (the key is tried again; "
                            "a provider that still refuses it cools it down anew)");
    }
    if (const std::uint64_t h = load(slot.health); h > (std::uint64_t{1} << 32))
      repair(slot.health, h, 0, "health", std::nullopt, 0, "more consecutive failures than a key can have had: set to 0");
    if (const std::uint64_t e = load(slot.last_error); e != 0) {
      const std::uint64_t kind = e & 0xff;
      const auto seconds = static_cast<std::int64_t>(e >> 24);
      if (kind > static_cast<std::uint64_t>(Outcome::Kind::bad_request) || kind == 0 || seconds > now_sec)
        repair(slot.last_error, e, 0, "last_error", std::nullopt, 0,
               "no failure's record (an unknown outcome, or a time in the future): cleared");
    }
    if (const std::uint64_t r = load(slot.reserved[0]); r != 0)
      repair(slot.reserved[0], r, 0, "unused", std::nullopt, 0, "but no field uses it: set to 0");
  }

  /// A calendar counter and its cached window end (see detail::WindowEnd), which repeats the low
  /// 30 bits of the counter's window index: one flipped bit in either word shows as a mismatch.
  /// Returns the counter's window index after the check.
  template <class Repair, class Load>
  static std::uint64_t check_window(KeySlot::Counter& counter, const Limit& limit, std::uint64_t largest, std::int64_t now_sec,
                                    std::size_t i, bool writable, const Repair& repair, const Load& load) {
    using detail::WindowEnd;
    const detail::PackedWindow packing{limit.unit()};
    const std::uint64_t seen = load(counter.state);
    const std::uint64_t cache = load(counter.window_end);
    if (seen == 0 && cache == 0) return 0;  // never used
    const std::string_view word = limit.window_name();
    const accounting::WindowNow current = accounting::current_window_of(limit, now_sec);
    // The last window a cache can describe (its end, in 34 bits of seconds, is in the year 2514).
    const std::uint64_t last = accounting::current_window_of(limit, static_cast<std::int64_t>(WindowEnd::end_mask) - 1).epoch;
    const auto cache_for = [&](std::uint64_t epoch) {
      return WindowEnd::pack(epoch, accounting::window_end_of(limit, epoch));
    };
    const std::uint64_t stored = packing.epoch(seen);
    // The window the cache names: its 30 low bits, the stored index's high bits (the nearest such).
    std::optional<std::uint64_t> cached;
    if (cache != 0) {
      constexpr std::uint64_t span = std::uint64_t{1} << 30;
      std::uint64_t candidate = (stored & ~(span - 1)) | (cache >> WindowEnd::end_bits);
      if (candidate > stored && candidate - stored > span / 2 && candidate >= span) candidate -= span;
      else if (candidate < stored && stored - candidate > span / 2) candidate += span;
      if (candidate <= last && cache_for(candidate) == cache) cached = candidate;
    }
    std::uint64_t epoch = stored;
    std::uint64_t used = packing.used(seen);
    std::string why;
    // Ahead of the next window: the cache must confirm it. Ahead of any clock that stepped back
    // (or of the year 2262): impossible, whatever the cache says.
    const bool impossible = accounting::CalendarWindow::impossible(limit, stored, current, now_sec);
    const bool ahead = impossible || stored > current.epoch + 1 || stored > last;
    if (cached && !accounting::CalendarWindow::impossible(limit, *cached, current, now_sec)) {
      if (*cached > stored) {
        // A counter's window only moves forward, and its cache follows it: never behind it.
        epoch = *cached;
        why = "its window index is behind the window its cache names: restored to that window";
      } else if (*cached < stored && stored > current.epoch) {
        // A counter moves to a later window only when a clock reaches it, and the cache follows:
        // ahead of now, the two agree (a clock that stepped back).
        epoch = *cached;
        why = "its window index is after the current window and after its cache's: restored to the cache's window";
      }
      // Equal: the index is confirmed (even ahead of now: the clock stepped back). Behind the
      // stored index and not ahead of now: a cache not yet updated, which the next use refreshes.
    } else if (ahead) {
      if (cache == 0 && std::popcount(seen) == 1) {
        epoch = 0;  // a never-used counter with one stray bit
        used = 0;
        why = "a never-used counter with one stray bit: set to 0";
      } else {
        // Which window it counted is lost: the conservative repair counts the current one spent.
        epoch = current.epoch;
        used = limit.amount();
        why = "its window index is after the current window and its cache does not confirm it: the current window "
              "counts as spent (reset the key to give it back)";
      }
    }
    const std::uint64_t plausible = std::min(packing.mask, saturating_mul(largest, plausible_overcommits));
    if (used > plausible) {
      why += std::string{why.empty() ? "" : "; "} + "its usage " + std::to_string(used) +
             " is more than any run could have recorded: counted as the limit (" + std::to_string(limit.amount()) +
             ", spent until the window ends, as it was)";
      used = limit.amount();
    }
    const std::uint64_t desired = packing.pack(epoch, used);
    const std::uint64_t shown = epoch >= current.epoch ? used : 0;
    if (desired != seen) repair(counter.state, seen, desired, word, i, shown, why);
    // The cache must name the counter's window with its true end (a wrong end would keep a spent
    // window past its reset), or be one the hot path sees as stale.
    if (cache != 0 && !cached) {
      const std::uint64_t fixed = epoch <= last ? cache_for(epoch) : 0;
      repair(counter.window_end, cache, fixed, word, i, shown,
             "in its window cache, the end of no window: rewritten for the counter's window");
    } else if (writable && cache == 0 && desired != seen && epoch <= last && epoch != 0) {
      detail::word(counter.window_end).store(cache_for(epoch), std::memory_order_relaxed);
    }
    return epoch;
  }

  /// A rolling counter: its theoretical arrival time (ns) is never further ahead of now than
  /// commits above their estimates could push it.
  template <class Repair, class Load>
  static void check_rolling(KeySlot::Counter& counter, const Limit& limit, std::uint64_t largest, std::uint64_t now_ns_,
                            std::size_t i, const Repair& repair, const Load& load) {
    const auto period = static_cast<std::uint64_t>(std::max<std::int64_t>(1, limit.period().count()));
    const std::uint64_t ratio = (largest + limit.amount() - 1) / std::max<std::uint64_t>(1, limit.amount());
    const std::uint64_t reach = saturating_add(period, saturating_mul(period, saturating_mul(ratio, plausible_rolling_overcommits)));
    const std::uint64_t tat = load(counter.state);
    if (tat > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) || tat > saturating_add(now_ns_, reach)) {
      // Which part of the burst was used is lost: the conservative repair counts it all used, so the
      // limit admits again after one period.
      const std::uint64_t spent = saturating_add(now_ns_, period);
      repair(counter.state, tat, spent, "rolling", i, limit.amount(),
             "further ahead of now than any run could have pushed it: the whole burst counts as used (it "
             "replenishes within one period; reset the key to give it back)");
    }
    if (const std::uint64_t cache = load(counter.window_end); cache != 0)
      repair(counter.window_end, cache, 0, "rolling", i, 0, "in a window cache a rolling limit does not use: set to 0");
  }

  static std::string advice_delete() {
    return "restore the file from a backup, or delete it to start counting afresh (every count it holds is lost)";
  }

  // ---------------------------------------------------------------------------------------------
  // Opening

  static Error open_error(const State& s, int code) {
    switch (code) {
      case ENOENT:
        if (s.read_only) return Error(s.who + "the file does not exist (a read-only open never creates one)");
        return Error(s.who + "the file does not exist");
      case EACCES:
      case EPERM:
        if (s.read_only) return Error(s.who + "permission denied reading the file: " + detail::errno_text(code));
        return Error(s.who + "permission denied opening the file for reading and writing (" + detail::errno_text(code) +
                     "): a pool needs write access to count. Grant this process write permission, or open the file "
                     "with MappedFile::read_only(path) to inspect it");
      case EROFS:
        return Error(s.who + "the file is on a read-only file system: a pool needs write access to count. Move it to "
                     "a writable place, or open it with MappedFile::read_only(path) to inspect it");
      case EISDIR:
        return Error(s.who + "the path is a directory; give the path of a state file, e.g. \"quota.kp\" inside it");
      case ENOTDIR:
        return Error(s.who + "a component of the path is not a directory");
      default:
        return Error(s.who + "cannot open the file: " + detail::errno_text(code));
    }
  }

  /// Opens the file read-write, creating it first when absent.
  static detail::FileDescriptor open_or_create(const State& s, const Options& options) {
    for (int attempt = 0; attempt < 64; ++attempt) {
      const int fd = ::open(s.path.c_str(), O_RDWR | O_CLOEXEC);
      if (fd >= 0) return detail::FileDescriptor{fd};
      const int code = errno;
      if (code == EINTR) continue;
      if (code != ENOENT) throw open_error(s, code);
      if (std::optional<detail::FileDescriptor> created = create(s, options)) return std::move(*created);
      // Another process created it between our open and our link: open theirs.
    }
    throw Error(s.who + "the file keeps disappearing while it is opened: is another program deleting it?");
  }

  /// Creates the file atomically: a complete header is written to a temporary file in the same
  /// directory, made durable, then hard-linked to the path (link fails if the path exists, so of
  /// several processes starting at once exactly one creates it). Empty optional: someone else won.
  static std::optional<detail::FileDescriptor> create(const State& s, const Options& options) {
    namespace sf = detail::state_file;
    static std::atomic<unsigned> serial{0};
    const std::filesystem::path directory = s.path.has_parent_path() ? s.path.parent_path() : std::filesystem::path{"."};
    std::filesystem::path temporary;
    int raw = -1;
    for (int attempt = 0; raw < 0 && attempt < 16; ++attempt) {  // a name left by a killed process is skipped
      temporary = s.path;
      temporary += ".creating." + std::to_string(::getpid()) + "." + std::to_string(serial.fetch_add(1));
      raw = ::open(temporary.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(options.permissions));
      if (raw < 0 && errno != EEXIST && errno != EINTR) break;
    }
    if (raw < 0) {
      const int code = errno;
      if (code == ENOENT)
        throw Error(s.who + "the directory \"" + directory.string() +
                    "\" does not exist; create it first (keypool does not create directories)");
      if (code == EACCES || code == EPERM || code == EROFS)
        throw Error(s.who + "cannot create the file in \"" + directory.string() + "\": " + detail::errno_text(code) +
                    "; the directory must be writable by this process (or create the file once with a process that may)");
      if (code == ENOTDIR) throw Error(s.who + "a component of the path is not a directory");
      throw Error(s.who + "cannot create the file: " + detail::errno_text(code));
    }
    detail::FileDescriptor fd{raw};
    auto discard = [&temporary] { ::unlink(temporary.c_str()); };
    alignas(8) unsigned char page[sf::header_bytes] = {};
    const sf::Header header = sf::fresh_header(now_ns());
    std::memcpy(page, &header, sizeof header);
    std::size_t written = 0;
    while (written < sizeof page) {
      const ssize_t n = ::pwrite(fd.get(), page + written, sizeof page - written, static_cast<off_t>(written));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int code = n < 0 ? errno : EIO;
        discard();
        throw Error(s.who + "cannot write the new file's header: " + detail::errno_text(code));
      }
      written += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
      const int code = errno;
      discard();
      throw Error(s.who + "cannot make the new file durable (fsync): " + detail::errno_text(code));
    }
    if (::link(temporary.c_str(), s.path.c_str()) != 0) {
      const int code = errno;
      discard();
      if (code == EEXIST) return std::nullopt;
      throw Error(s.who + "cannot create the file (link: " + detail::errno_text(code) +
                  "); state files need a local file system with hard links (ext4, xfs, btrfs, tmpfs, …)");
    }
    discard();
    // The new name durable too (best effort: some file systems refuse fsync on a directory).
    if (const int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
    return fd;
  }

  /// Checks the open file and maps its table. Runs under a shared file lock, so no process grows
  /// the file meanwhile.
  static void attach(State& s) {
    namespace sf = detail::state_file;
    struct stat info{};
    if (::fstat(s.fd.get(), &info) != 0) throw Error(s.who + "cannot stat the file: " + detail::errno_text(errno));
    if (!S_ISREG(info.st_mode)) throw Error(s.who + "not a regular file; give the path of a state file");
    detail::FileLock lock{s.fd.get(), detail::FileLock::Mode::shared, s.who};
    if (::fstat(s.fd.get(), &info) != 0) throw Error(s.who + "cannot stat the file: " + detail::errno_text(errno));
    const auto size = static_cast<std::uint64_t>(info.st_size);
    if (size == 0)
      throw Error(s.who + "the file is empty (0 bytes): it is not a keypool state file (keypool never leaves one "
                  "empty). Delete it and keypool creates a fresh one");

    sf::Header header{};
    const std::size_t have = static_cast<std::size_t>(std::min<std::uint64_t>(size, sizeof header));
    std::size_t got = 0;
    while (got < have) {
      const ssize_t n = ::pread(s.fd.get(), reinterpret_cast<unsigned char*>(&header) + got, have - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Error(s.who + "cannot read the file: " + detail::errno_text(n < 0 ? errno : EIO));
      got += static_cast<std::size_t>(n);
    }
    const std::size_t magic_bytes = std::min(have, sf::magic.size());
    if (std::memcmp(header.magic, sf::magic.data(), magic_bytes) != 0) {
      bool text = true;
      for (std::size_t i = 0; i < have && text; ++i) {
        const unsigned char c = reinterpret_cast<const unsigned char*>(&header)[i];
        text = c == '\n' || c == '\r' || c == '\t' || (c >= 0x20 && c < 0x7f) || c >= 0x80;
      }
      throw Error(s.who + "not a keypool state file: it does not start with keypool's signature" +
                  (text ? " (it looks like a text file)" : "") +
                  ". Check the path; if this file may be replaced, delete it and keypool creates a state file there");
    }
    if (size < sf::header_bytes)
      throw Error(s.who + "the file is truncated: " + std::to_string(size) + " bytes, shorter than its " +
                  std::to_string(sf::header_bytes) + "-byte header; " + advice_delete());
    if (header.byte_order != sf::byte_order_mark) {
      if (header.byte_order == __builtin_bswap32(sf::byte_order_mark))
        throw Error(s.who + "the file was written on a machine of the other byte order; state files are not portable "
                    "between such machines: delete it to start counting afresh here");
    }
    const bool checksum_ok = sf::header_checksum(header) == header.checksum;
    if (header.format_version != sf::format_version)
      throw Error(s.who + "the file has format version " + std::to_string(header.format_version) + "; this build of "
                  "keypool reads version " + std::to_string(sf::format_version) +
                  (checksum_ok ? "" : " (or the header is corrupted)") +
                  ". Open it with the keypool version that wrote it, or delete it to start counting afresh (its "
                  "counts are lost)");
    if (!checksum_ok)
      throw Error(s.who + "the header is corrupted (checksum mismatch): the file was damaged (disk error, or "
                  "written to by another program); " + advice_delete());
    if (header.slot_version != key_slot_version)
      throw Error(s.who + "the file's counters use KeySlot version " + std::to_string(header.slot_version) +
                  "; this build of keypool uses version " + std::to_string(key_slot_version) +
                  ". Open it with the keypool version that wrote it, or delete it to start counting afresh (its "
                  "counts are lost)");
    if (header.header_bytes != sf::header_bytes || header.slot_bytes != sizeof(KeySlot) ||
        header.descriptor_bytes != sizeof(sf::Descriptor) || header.keys_per_chunk != sf::keys_per_chunk ||
        header.max_limits != max_limits_per_key)
      throw Error(s.who + "the file's layout (header " + std::to_string(header.header_bytes) + " bytes, slots " +
                  std::to_string(header.slot_bytes) + " bytes, key records " + std::to_string(header.descriptor_bytes) +
                  " bytes, " + std::to_string(header.keys_per_chunk) + " keys per chunk, " +
                  std::to_string(header.max_limits) + " limits per key) differs from this build's (" +
                  std::to_string(sf::header_bytes) + ", " + std::to_string(sizeof(KeySlot)) + ", " +
                  std::to_string(sizeof(sf::Descriptor)) + ", " + std::to_string(sf::keys_per_chunk) + ", " +
                  std::to_string(max_limits_per_key) + "). Open it with the build that wrote it, or delete it to "
                  "start counting afresh (its counts are lost)");
    const std::uint64_t chunks = read_chunks(s, header.chunks);
    check_size(s, size, chunks);

    const int protection = PROT_READ | PROT_WRITE;
    const int flags = s.read_only ? MAP_PRIVATE : MAP_SHARED;
    void* base = ::mmap(nullptr, sf::file_bytes(chunks), protection, flags, s.fd.get(), 0);
    if (base == MAP_FAILED) throw Error(s.who + "cannot map the file: " + detail::errno_text(errno));
    s.mappings.emplace_back(base, sf::file_bytes(chunks));
    for (std::uint64_t c = 0; c < chunks; ++c)
      s.chunks.push_back(static_cast<std::byte*>(base) + sf::chunk_offset(c));

    // Every key record must be intact: in use ones first, then free ones.
    const std::size_t room = s.chunks.size() * sf::keys_per_chunk;
    bool in_use = true;
    for (std::size_t i = 0; i < room; ++i) {
      const std::uint64_t state = detail::word(descriptor(s, i).state).load(std::memory_order_acquire);
      if (state == sf::key_in_use && in_use) {
        (void)current_description(s, i);
        continue;
      }
      if (state == 0) {
        in_use = false;
        continue;
      }
      throw Error(s.who + "key record #" + std::to_string(i) + " is corrupted (its state word is invalid" +
                  (state == sf::key_in_use ? ", after a free record" : "") + "); " + advice_delete());
    }
  }

  static std::uint64_t read_chunks(const State& s, std::uint64_t word) {
    const std::optional<std::uint32_t> chunks = detail::state_file::read_checked_word(word);
    if (!chunks || *chunks > detail::state_file::max_chunks)
      throw Error(s.who + "the header is corrupted (its table size word fails its check): " + advice_delete());
    return *chunks;
  }

  static void check_size(const State& s, std::uint64_t size, std::uint64_t chunks) {
    const std::uint64_t expected = detail::state_file::file_bytes(chunks);
    if (size < expected)
      throw Error(s.who + "the file is truncated: " + std::to_string(size) + " bytes, but its header describes " +
                  std::to_string(expected) + " bytes (" + std::to_string(chunks * detail::state_file::keys_per_chunk) +
                  " key records). It was cut short (copied while in use? disk full?); " + advice_delete());
  }

  // ---------------------------------------------------------------------------------------------
  // The table (callers hold s.mutex and the file lock)

  static detail::state_file::Header& header(const State& s) noexcept {
    return *reinterpret_cast<detail::state_file::Header*>(s.mappings.front().data());
  }
  static KeySlot& slot(const State& s, std::size_t index) noexcept {
    namespace sf = detail::state_file;
    return *reinterpret_cast<KeySlot*>(s.chunks[index / sf::keys_per_chunk] + (index % sf::keys_per_chunk) * sizeof(KeySlot));
  }
  static detail::state_file::Descriptor& descriptor(const State& s, std::size_t index) noexcept {
    namespace sf = detail::state_file;
    return *reinterpret_cast<sf::Descriptor*>(s.chunks[index / sf::keys_per_chunk] + sf::chunk_slots_bytes +
                                               (index % sf::keys_per_chunk) * sizeof(sf::Descriptor));
  }

  /// The current description of key record `index` (in use), after checking the record.
  static const detail::state_file::Description& current_description(const State& s, std::size_t index) {
    namespace sf = detail::state_file;
    const sf::Descriptor& d = descriptor(s, index);
    const auto corrupted = [&](const char* what) {
      return Error(s.who + "key record #" + std::to_string(index) + " is corrupted (" + what + "); " + advice_delete());
    };
    if (d.label_length == 0 || d.label_length > sf::max_label_bytes || sf::identity_checksum(d) != d.identity_checksum)
      throw corrupted("its label checksum fails");
    const std::optional<std::uint32_t> selector = sf::read_checked_word(d.selector);
    if (!selector || *selector > 1) throw corrupted("its description selector fails its check");
    const sf::Description& description = d.described[*selector];
    if (description.limit_count > max_limits_per_key || description.provider_length > sf::max_provider_bytes ||
        sf::description_checksum(description) != description.checksum)
      throw Error(s.who + "key record #" + std::to_string(index) + " ('" + std::string{d.label, d.label_length} +
                  "') is corrupted (its description checksum fails); " + advice_delete());
    return description;
  }

  static std::vector<Limit> decode_limits(const State& s, std::size_t index, const detail::state_file::Description& stored) {
    std::vector<Limit> limits;
    for (std::uint32_t i = 0; i < stored.limit_count; ++i) {
      try {
        limits.push_back(detail::state_file::decode(stored.limits[i]));
      } catch (const Error& error) {
        const detail::state_file::Descriptor& d = descriptor(s, index);
        throw Error(s.who + "key record #" + std::to_string(index) + " ('" + std::string{d.label, d.label_length} +
                    "') holds limit " + std::to_string(i + 1) + " that this build cannot rebuild (" + error.what() +
                    "); " + advice_delete());
      }
    }
    return limits;
  }

  static std::string stored_limits_text(const detail::state_file::Description& stored) {
    std::vector<Limit> limits;
    try {
      for (std::uint32_t i = 0; i < stored.limit_count; ++i) limits.push_back(detail::state_file::decode(stored.limits[i]));
    } catch (const Error&) {
      return "limits this build cannot describe";
    }
    return detail::state_file::describe_limits(limits);
  }

  static bool same_description(const detail::state_file::Description& a, const detail::state_file::Description& b) noexcept {
    return a.limit_count == b.limit_count && a.provider_length == b.provider_length &&
           std::memcmp(a.provider, b.provider, a.provider_length) == 0 &&
           std::memcmp(a.limits, b.limits, a.limit_count * sizeof(detail::state_file::LimitRecord)) == 0;
  }

  /// Throws in a forked child: its file descriptor (and so its flock) is the parent's.
  static void check_process(const State& s) {
    if (::getpid() != s.opener)
      throw Error(s.who + "this MappedFile was opened by process " + std::to_string(s.opener) + " and is used in " +
                  std::to_string(::getpid()) + " (a fork): its file lock would be shared with the parent. Open the "
                  "file again in this process to add keys (slots bound before the fork keep working)");
  }

  /// Maps chunks other processes added since we last looked.
  static void refresh(State& s) {
    namespace sf = detail::state_file;
    const std::uint64_t chunks =
        read_chunks(s, detail::word(header(s).chunks).load(std::memory_order_acquire));
    if (chunks <= s.chunks.size()) return;
    struct stat info{};
    if (::fstat(s.fd.get(), &info) != 0) throw Error(s.who + "cannot stat the file: " + detail::errno_text(errno));
    check_size(s, static_cast<std::uint64_t>(info.st_size), chunks);
    map_chunks(s, s.chunks.size(), chunks);
  }

  /// Maps chunks [from, to) in one new mapping (the others stay where they are).
  static void map_chunks(State& s, std::uint64_t from, std::uint64_t to) {
    namespace sf = detail::state_file;
    const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    const std::uint64_t begin = sf::chunk_offset(from);
    const std::uint64_t map_offset = begin / page * page;  // chunks are 4 KiB-aligned; pages may be larger
    const std::uint64_t bytes = sf::chunk_offset(to) - map_offset;
    const int flags = s.read_only ? MAP_PRIVATE : MAP_SHARED;
    void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, s.fd.get(), static_cast<off_t>(map_offset));
    if (base == MAP_FAILED) throw Error(s.who + "cannot map the file's new keys: " + detail::errno_text(errno));
    s.chunks.reserve(to);
    s.mappings.emplace_back(base, bytes);
    for (std::uint64_t c = from; c < to; ++c)
      s.chunks.push_back(static_cast<std::byte*>(base) + (sf::chunk_offset(c) - map_offset));
  }

  /// Grows the table by half (at least one chunk): allocates the disk blocks first, so that a full
  /// disk is this Error and never a SIGBUS on the hot path; makes the new size durable; then
  /// publishes it in the header.
  static void grow(State& s) {
    namespace sf = detail::state_file;
    const std::uint64_t chunks = s.chunks.size();
    if (chunks >= sf::max_chunks)
      throw Error(s.who + "the file holds the most keys a state file can (" + std::to_string(sf::max_keys) + ")");
    const std::uint64_t target = std::min<std::uint64_t>(sf::max_chunks, chunks + std::max<std::uint64_t>(1, chunks / 2));
    const std::uint64_t from = sf::file_bytes(chunks);
    const std::uint64_t to = sf::file_bytes(target);
    int code = 0;
    do code = ::posix_fallocate(s.fd.get(), static_cast<off_t>(from), static_cast<off_t>(to - from));
    while (code == EINTR);
    if (code != 0)
      throw Error(s.who + "cannot grow the file to " + std::to_string(to) + " bytes (" +
                  std::to_string(target * sf::keys_per_chunk) + " keys): " + detail::errno_text(code) +
                  "; free disk space (nothing was changed)");
    if (::fsync(s.fd.get()) != 0)
      throw Error(s.who + "cannot make the grown file durable (fsync): " + detail::errno_text(errno));
    map_chunks(s, chunks, target);
    detail::word(header(s).chunks).store(sf::checked_word(static_cast<std::uint32_t>(target)), std::memory_order_release);
    ::msync(s.mappings.front().data(), sf::header_bytes, MS_SYNC);
  }

  /// Writes key record `index` (free, inside the table) and publishes it: its state word last, so
  /// a crash before leaves a free record that the next add overwrites.
  static void add_key(State& s, std::size_t index, const KeyBinding& binding, const detail::state_file::Description& wanted) {
    namespace sf = detail::state_file;
    sf::Descriptor& d = descriptor(s, index);
    const std::uint64_t now = now_ns();
    d.selector = sf::checked_word(0);
    d.bound_at_ns = now;
    d.layout = binding.layout;
    d.created_at_ns = now;
    d.label_length = static_cast<std::uint32_t>(binding.label.size());
    d.reserved0 = 0;
    std::memset(d.label, 0, sizeof d.label);
    std::memcpy(d.label, binding.label.data(), binding.label.size());
    d.identity_checksum = sf::identity_checksum(d);
    d.described[0] = wanted;
    std::memset(&d.described[1], 0, sizeof d.described[1]);
    std::memset(d.reserved, 0, sizeof d.reserved);
    // A record left by a process that crashed while adding it was never published: no pool holds
    // its slot, so zeroing it cannot lose a count.
    std::memset(static_cast<void*>(&slot(s, index)), 0, sizeof(KeySlot));
    sync_range(&slot(s, index), sizeof(KeySlot));
    sync_range(&d, sizeof d);
    detail::word(d.state).store(sf::key_in_use, std::memory_order_release);
    sync_range(&d.state, sizeof d.state);
  }

  /// Replaces the description of key record `index`: writes the copy not in use, then flips the
  /// selector (one word), so a crash at any moment leaves one valid copy current.
  static void redescribe(State& s, std::size_t index, const detail::state_file::Description& wanted) {
    namespace sf = detail::state_file;
    sf::Descriptor& d = descriptor(s, index);
    const std::uint32_t current = *sf::read_checked_word(d.selector);  // checked by current_description
    const std::uint32_t next = 1 - current;
    d.described[next] = wanted;
    sync_range(&d.described[next], sizeof d.described[next]);
    detail::word(d.selector).store(sf::checked_word(next), std::memory_order_release);
    sync_range(&d.selector, sizeof d.selector);
  }

  /// msync of the pages holding [address, address + bytes): layout changes are made durable at
  /// once (they are rare), so a power loss never leaves a published record half on disk.
  static void sync_range(const void* address, std::size_t bytes) noexcept {
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(address) / page * page;
    const auto end = reinterpret_cast<std::uintptr_t>(address) + bytes;
    ::msync(reinterpret_cast<void*>(begin), end - begin, MS_SYNC);
  }

  std::unique_ptr<State> state_;
};

}  // namespace keypool::store
