// keypool::ClientLimiter: a per-client rate limit for the service in front of the providers (at
// most N requests per period per IP or API token): one GCRA word per client in a fixed-size,
// lock-free table. See docs/client-limiter.md for the design and its guarantees.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include <keypool/detail/thread_ordinal.hpp>
#include <keypool/error.hpp>
#include <keypool/time.hpp>

namespace keypool {

namespace detail {

/// A 64-bit hash of a client id, eight bytes at a time (multiply-xorshift rounds, then SplitMix64's
/// finalizer). Fast and well mixed, not cryptographic: `seed` makes the placement of ids in the
/// table unpredictable to clients that do not know it, nothing more.
[[nodiscard]] inline std::uint64_t hash_client_id(std::string_view id, std::uint64_t seed) noexcept {
  std::uint64_t hash = mix64(seed ^ (0x9E3779B97F4A7C15ull * (static_cast<std::uint64_t>(id.size()) + 1)));
  const char* data = id.data();
  std::size_t left = id.size();
  while (left >= 8) {
    std::uint64_t word;
    std::memcpy(&word, data, 8);
    hash = (hash ^ word) * 0xBF58476D1CE4E5B9ull;
    hash ^= hash >> 29;
    data += 8;
    left -= 8;
  }
  if (left > 0) {
    std::uint64_t word = 0;
    std::memcpy(&word, data, left);
    hash = (hash ^ word) * 0x94D049BB133111EBull;
    hash ^= hash >> 32;
  }
  return mix64(hash);
}

/// floor(n / d) for a divisor fixed in advance and any n < 2^61, by one 64×64→128-bit multiply and
/// a shift instead of a division (tens of cycles on current CPUs). With k = 61 + ceil(log2 d) and
/// m = ceil(2^k / d) = (2^k + e) / d, 0 ≤ e < d: n·m / 2^k = n/d + n·e / (d·2^k), and the error
/// n·e / (d·2^k) < 1/d never carries floor(n/d) over (its fraction is at most (d−1)/d).
/// Falls back to a division where the compiler has no 128-bit integer.
class DivideBy {
 public:
  static constexpr std::uint64_t max_dividend = std::uint64_t{1} << 61;

  explicit DivideBy(std::uint64_t divisor) noexcept : divisor_(divisor == 0 ? 1 : divisor) {
#if defined(__SIZEOF_INT128__)
    shift_ = 61 + static_cast<unsigned>(std::bit_width(divisor_ - 1));  // 61 + ceil(log2 d)
    const Wide power = Wide{1} << shift_;
    multiplier_ = static_cast<std::uint64_t>((power + divisor_ - 1) / divisor_);  // < 2^62 + 1
#endif
  }

  /// floor(n / divisor) for n < max_dividend.
  [[nodiscard]] std::uint64_t operator()(std::uint64_t n) const noexcept {
#if defined(__SIZEOF_INT128__)
    return static_cast<std::uint64_t>((Wide{n} * multiplier_) >> shift_);
#else
    return n / divisor_;
#endif
  }

 private:
#if defined(__SIZEOF_INT128__)
  __extension__ using Wide = unsigned __int128;
  std::uint64_t multiplier_ = 0;
  unsigned shift_ = 0;
#endif
  std::uint64_t divisor_;
};

/// Tells the CPU this thread is spinning (x86 `pause`, ARM `yield`): lets a sibling hyperthread
/// run and saves power. Not a system call.
inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield");
#endif
}

}  // namespace detail

/// At most `requests` per `per` for each client, in bursts of at most `burst`, decided in a few
/// nanoseconds without a lock:
///
///     keypool::ClientLimiter limiter{{.requests = 10, .per = std::chrono::minutes{1}}};
///     if (auto decision = limiter.try_acquire(client_ip, now); !decision)
///       reply_429(decision.retry_after);
///
/// Each client is a GCRA ("generic cell rate algorithm", the token bucket as one time stamp): its
/// theoretical arrival time, TAT, in one 64-bit word. A request of cost c is admitted when
/// max(TAT, now) + c·T − now ≤ burst·T, where T = ceil(per / requests) is the emission interval;
/// then TAT becomes max(TAT, now) + c·T. A client that has been idle long enough to be back at its
/// full burst (TAT ≤ now) is indistinguishable from one never seen.
///
/// Clients live in an open-addressing table of `capacity()` entries (max_clients rounded up to a
/// power of two), each a pair of 64-bit words {state, key}, allocated once in the constructor.
/// A client is identified by a 64-bit hash of its id and probes at most `probe_window` entries
/// from its home slot; an entry whose client is idle (or that was never used) is taken over by a
/// new client, so the table never grows and never needs a sweeper. When every entry of a new
/// client's window holds an active client, the request is refused (`full_refusals()` counts it)
/// with retry_after = the time until the first of those entries falls idle: a limiter that admitted
/// clients it cannot track would let anyone who rotates ids (a botnet, spoofed tokens) through
/// without a limit, while the clients it already tracks keep their exact budgets.
///
/// Guarantees (docs/client-limiter.md has the reasoning):
/// - Never over-admits: under any interleaving of threads, a client's admitted cost never exceeds
///   what GCRA allows at the times the calls pass, and with time standing still a client is
///   admitted exactly its burst, however many threads race for it. (Threads whose clock readings
///   disagree: a client forgotten by a call at a later time and met again by a call at an earlier
///   time gains at most the refill between the two readings; docs/client-limiter.md.)
/// - Lock-free: no lock, no allocation, no system call on `try_acquire` and `peek`. One exception
///   to "exact": a request that finds another thread in the middle of installing the same new
///   client spins a bounded while (the installer is two stores from done) and, if that thread was
///   descheduled meanwhile, is refused with retry_after = 1 ns (`contended_refusals()`).
/// - Two ids whose 64-bit hashes are equal share one budget (for hashed string ids the chance is
///   about n²/2^65 for n live clients; `try_acquire_hashed` takes a hash of your own).
/// - A clock that steps back: clients look busier (never less busy) until it catches up.
///
/// Times before 1970 count as 1970; times after 2116 as 2116.
class ClientLimiter {
 public:
  /// What the limiter admits. Every field is checked by the constructor.
  struct Options {
    /// Requests admitted per `per` at the steady rate; 0 is an error.
    std::uint64_t requests = 0;
    /// The period of `requests`, e.g. std::chrono::minutes{1}; zero or negative is an error.
    Duration per{};
    /// The most admitted at once (what an idle client may send back to back); 0 means `requests`.
    std::uint64_t burst = 0;
    /// The memory bound: entries in the table, rounded up to a power of two (16 bytes each); 0 is
    /// an error. Size it above the clients active at once (a client is active while its TAT is
    /// ahead of now): about 2× keeps refusals for a full window rare (docs/client-limiter.md).
    std::size_t max_clients = 65'536;
    /// Mixed into every hash: set a secret random value so clients cannot choose ids that crowd
    /// one probe window. 0 is a valid seed.
    std::uint64_t hash_seed = 0;
  };

  /// The answer to one request.
  struct Decision {
    /// Whether the request is admitted (its cost is now charged to the client).
    bool allowed;
    /// 0 when allowed; otherwise how long until this request would be admitted if nothing else
    /// is charged to the client meanwhile (exact, in ns). Duration::max() when it never will be
    /// (a cost above the burst). For a full window: until the first entry of the window falls
    /// idle. 1 ns for a contended install (see the class comment).
    Duration retry_after;
    /// Requests of cost 1 the client could still send right now, after this decision (for an
    /// X-RateLimit-Remaining header). 0 after a refusal for a full window or a contended install.
    std::uint64_t remaining = 0;
    /// Same as `allowed`.
    explicit operator bool() const noexcept { return allowed; }
  };

  /// At most this many entries are probed for one client, from its home slot on.
  static constexpr std::size_t probe_window = 16;

  /// Validates `options` and allocates the table (the only allocation the limiter ever makes).
  /// Throws keypool::Error on a zero `requests` or `max_clients`, a non-positive `per`, more than
  /// one request per nanosecond, a burst whose span (burst × per / requests) passes 2^61 ns (73
  /// years), or more than 2^40 clients; std::bad_alloc if the table cannot be allocated.
  explicit ClientLimiter(Options options)
      : options_(checked(options)),
        interval_((static_cast<std::uint64_t>(options_.per.count()) + options_.requests - 1) / options_.requests),
        tolerance_(options_.burst * interval_),
        per_interval_(interval_) {
    const std::size_t size = std::bit_ceil(options_.max_clients);
    mask_ = size - 1;
    window_ = std::min(size, probe_window);
    lines_ = std::make_unique<Line[]>((size + entries_per_line - 1) / entries_per_line);
  }

  ClientLimiter(const ClientLimiter&) = delete;
  ClientLimiter& operator=(const ClientLimiter&) = delete;

  /// Charges `cost` to `client` at `now` if its budget allows, and says so. `client` is any id (an
  /// IP address, an API token or its hash...); only its 64-bit hash is kept. Cost 0 charges
  /// nothing and creates no entry: it is allowed unless the clock stepped back behind the client's
  /// state (see `peek`). A cost above the burst is never allowed (retry_after = Duration::max()).
  /// Thread-safe, lock-free, no allocation, no system call. Reads at most probe_window entries
  /// (again only if another thread changed one of them meanwhile).
  [[nodiscard]] Decision try_acquire(std::string_view client, TimePoint now, std::uint64_t cost = 1) noexcept {
    return try_acquire_hashed(hash(client), now, cost);
  }

  /// `try_acquire` for a client already reduced to 64 bits (e.g. an IPv4 address, or `hash(id)`
  /// computed once for several calls): distinct values are distinct clients (but for one pair of
  /// values among 2^64, which depends on hash_seed: the table reserves one key for "empty").
  /// Thread-safe, lock-free, no allocation, no system call.
  [[nodiscard]] Decision try_acquire_hashed(std::uint64_t client_hash, TimePoint now, std::uint64_t cost = 1) noexcept {
    const std::uint64_t key = key_of(client_hash);
    const std::uint64_t now_ns = clamp(now);
    if (cost == 0) return inspect(key, now_ns, 0);
    if (cost > options_.burst) return never(key, now_ns);
    return acquire(key, now_ns, cost * interval_);
  }

  /// What `try_acquire(client, now, cost)` would answer, without charging anything or creating an
  /// entry. Advisory: another thread may change the answer at once. A new client is reported
  /// admissible even when its window is full. Thread-safe, lock-free, read-only.
  [[nodiscard]] Decision peek(std::string_view client, TimePoint now, std::uint64_t cost = 1) const noexcept {
    return peek_hashed(hash(client), now, cost);
  }

  /// `peek` for a client already reduced to 64 bits. Thread-safe, lock-free, read-only.
  [[nodiscard]] Decision peek_hashed(std::uint64_t client_hash, TimePoint now, std::uint64_t cost = 1) const noexcept {
    const std::uint64_t key = key_of(client_hash);
    const std::uint64_t now_ns = clamp(now);
    if (cost > options_.burst) return never(key, now_ns);
    return inspect(key, now_ns, cost * interval_);
  }

  /// The 64-bit hash `try_acquire(client, ...)` identifies `client` by (it depends on hash_seed).
  /// Thread-safe (pure).
  [[nodiscard]] std::uint64_t hash(std::string_view client) const noexcept {
    return detail::hash_client_id(client, options_.hash_seed);
  }

  /// Entries in the table: max_clients rounded up to a power of two. Thread-safe.
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

  /// Clients active at `now` (TAT ahead of now), plus installs in flight. O(capacity()): for
  /// metrics, not for the hot path. Thread-safe; the count may be stale at once.
  [[nodiscard]] std::size_t tracked(TimePoint now) const noexcept {
    const std::uint64_t now_ns = clamp(now);
    std::size_t count = 0;
    for (std::size_t i = 0; i <= mask_; ++i) {
      const Entry& e = entry_at(i);
      const std::uint64_t state = e.state.load(std::memory_order_acquire);
      if ((state & install_bit) != 0 || (state > now_ns && e.key.load(std::memory_order_relaxed) != empty_key))
        ++count;
    }
    return count;
  }

  /// Entries taken over from an idle client by a new one, since construction. Thread-safe (relaxed).
  [[nodiscard]] std::uint64_t evictions() const noexcept { return stats_.evictions.load(std::memory_order_relaxed); }

  /// Requests refused because every entry of the new client's window held an active client.
  /// A steadily growing count means max_clients is too small, or ids are being rotated.
  /// Thread-safe (relaxed).
  [[nodiscard]] std::uint64_t full_refusals() const noexcept { return stats_.full.load(std::memory_order_relaxed); }

  /// Requests refused (retry_after 1 ns) because another thread installing the same new client
  /// was descheduled mid-install. Thread-safe (relaxed).
  [[nodiscard]] std::uint64_t contended_refusals() const noexcept {
    return stats_.contended.load(std::memory_order_relaxed);
  }

  /// The options in force, with `burst` resolved (never 0). Thread-safe.
  [[nodiscard]] const Options& options() const noexcept { return options_; }

  /// T: the time one request of cost 1 occupies, ceil(per / requests) (rounded up, so the steady
  /// rate never exceeds requests per `per`). Thread-safe.
  [[nodiscard]] Duration emission_interval() const noexcept { return Duration{static_cast<Duration::rep>(interval_)}; }

 private:
  // An entry's state word is either a TAT in ns (bit 63 clear) or, while a thread installs a new
  // client in it, install_bit | (the client's key >> 1). Non-install values of one entry only
  // ever grow (see acquire), so a CAS that expects a value seen earlier succeeds only if nothing
  // was written in between: no ABA, and a {state, key} pair read state-first is consistent when
  // the state is read again unchanged.
  static constexpr std::uint64_t install_bit = std::uint64_t{1} << 63;
  static constexpr std::uint64_t max_time_ns = std::uint64_t{1} << 62;       // 2116-02-20
  static constexpr std::uint64_t max_tolerance_ns = std::uint64_t{1} << 61;  // 73 years
  static constexpr std::uint64_t empty_key = 0;
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  static constexpr int spin_limit = 256;

  struct Entry {
    std::atomic<std::uint64_t> state{0};    // TAT (ns since 1970) or an install marker
    std::atomic<std::uint64_t> key{empty_key};  // written only by the thread holding the marker
  };

  // Entries are grouped four to a 64-byte line, the table aligned on lines: a probe window spans
  // 4 or 5 lines. Not padded one per line (see docs/client-limiter.md, "Layout").
  static constexpr std::size_t entries_per_line = 4;
  struct alignas(64) Line {
    Entry entries[entries_per_line];
  };
  static_assert(sizeof(Line) == 64, "four entries must fill one cache line");

  [[nodiscard]] Entry& entry_at(std::size_t index) const noexcept {
    return lines_[index / entries_per_line].entries[index % entries_per_line];
  }

  struct alignas(64) Stats {
    std::atomic<std::uint64_t> evictions{0};
    std::atomic<std::uint64_t> full{0};
    std::atomic<std::uint64_t> contended{0};
  };

  enum class Check { proceed, retry, give_up };

  static Options checked(Options options) {
    if (options.requests == 0)
      throw Error("ClientLimiter: requests = 0 admits nothing; give a positive rate, e.g. {.requests = 10, .per = std::chrono::minutes{1}}");
    if (options.per <= Duration::zero())
      throw Error("ClientLimiter: per must be a positive duration, e.g. .per = std::chrono::minutes{1}");
    if (options.requests > static_cast<std::uint64_t>(options.per.count()))
      throw Error("ClientLimiter: more than one request per nanosecond is not supported; use a longer period");
    if (options.max_clients == 0)
      throw Error("ClientLimiter: max_clients = 0 leaves no room for any client; give the number of clients active at once (e.g. 65536)");
    if (options.max_clients > (std::size_t{1} << 40))
      throw Error("ClientLimiter: max_clients above 2^40 is not supported");
    if (options.burst == 0) options.burst = options.requests;
    const std::uint64_t interval =
        (static_cast<std::uint64_t>(options.per.count()) + options.requests - 1) / options.requests;
    if (options.burst > max_tolerance_ns / interval)
      throw Error("ClientLimiter: burst × per / requests overflows (over 2^61 ns, 73 years); use a smaller burst or a shorter period");
    return options;
  }

  [[nodiscard]] static std::uint64_t clamp(TimePoint now) noexcept {
    const auto count = now.time_since_epoch().count();
    if (count <= 0) return 0;
    return std::min(static_cast<std::uint64_t>(count), max_time_ns);
  }

  // A client's key: a bijective mix of its hash (distinct hashes, distinct keys), whose low bits
  // pick its home slot. 0 marks an empty entry, so the one hash that mixes to 0 is moved to 1.
  [[nodiscard]] std::uint64_t key_of(std::uint64_t client_hash) const noexcept {
    const std::uint64_t key = detail::mix64(client_hash ^ options_.hash_seed ^ 0x2545F4914F6CDD1Dull);
    return key == empty_key ? 1 : key;
  }
  [[nodiscard]] static std::uint64_t marker_of(std::uint64_t key) noexcept { return install_bit | (key >> 1); }

  [[nodiscard]] Entry& entry(std::uint64_t key, std::size_t probe) const noexcept {
    return entry_at((static_cast<std::size_t>(key) + probe) & mask_);
  }

  // Requests of cost 1 that fit at `now` with the client's TAT at `tat`.
  [[nodiscard]] std::uint64_t remaining_at(std::uint64_t tat, std::uint64_t now) const noexcept {
    const std::uint64_t lead = tat > now ? tat - now : 0;
    return lead >= tolerance_ ? 0 : per_interval_(tolerance_ - lead);
  }
  [[nodiscard]] static Decision admitted(std::uint64_t remaining) noexcept { return {true, Duration::zero(), remaining}; }
  [[nodiscard]] static Decision refused(std::uint64_t wait_ns, std::uint64_t remaining) noexcept {
    return {false, Duration{static_cast<Duration::rep>(wait_ns)}, remaining};
  }
  [[nodiscard]] Decision never(std::uint64_t key, std::uint64_t now) const noexcept {
    Decision decision = inspect(key, now, 0);
    decision.allowed = false;
    decision.retry_after = Duration::max();
    return decision;
  }

  // The GCRA answer for a client whose TAT is `tat`, for `increment` ns more, without a write.
  [[nodiscard]] Decision judge(std::uint64_t tat, std::uint64_t now, std::uint64_t increment) const noexcept {
    const std::uint64_t next = std::max(tat, now) + increment;
    if (next - now > tolerance_) return refused(next - tolerance_ - now, remaining_at(tat, now));
    return admitted(remaining_at(next, now));
  }

  // Read-only lookup: the client's answer for `increment` more, or a new client's.
  [[nodiscard]] Decision inspect(std::uint64_t key, std::uint64_t now, std::uint64_t increment) const noexcept {
    for (std::size_t probe = 0; probe < window_; ++probe) {
      Entry& e = entry(key, probe);
      std::uint64_t state = e.state.load(std::memory_order_acquire);
      for (;;) {
        if ((state & install_bit) != 0 || e.key.load(std::memory_order_relaxed) != key) break;
        const std::uint64_t again = e.state.load(std::memory_order_acquire);
        if (again == state) return judge(state, now, increment);
        state = again;  // written meanwhile: read the pair again
      }
    }
    return judge(0, now, increment);  // not tracked: a fresh client
  }

  Decision acquire(std::uint64_t key, std::uint64_t now, std::uint64_t increment) noexcept {
    const std::uint64_t marker = marker_of(key);
    for (;;) {  // each pass restarts after another thread changed an entry this pass depended on
      std::size_t candidate = npos;
      std::uint64_t candidate_state = 0;
      std::uint64_t candidate_key = empty_key;
      std::uint64_t soonest_idle = std::numeric_limits<std::uint64_t>::max();
      bool restart = false;
      for (std::size_t probe = 0; probe < window_ && !restart; ++probe) {
        Entry& e = entry(key, probe);
        std::uint64_t state = e.state.load(std::memory_order_acquire);
        if ((state & install_bit) != 0) {
          if (state != marker) continue;  // another client is being installed here
          // This client is being installed by another thread, two stores from done: wait for it.
          if (!await_change(e, state)) return contended();
          restart = true;
          break;
        }
        const std::uint64_t owner = e.key.load(std::memory_order_relaxed);
        if (owner == key) {
          bool lost = false;
          const Decision decision = charge(e, key, state, now, increment, lost);
          if (!lost) return decision;
          restart = true;  // the entry was taken over (this client was idle): look again
          break;
        }
        if (owner == empty_key || state <= now) {
          if (candidate == npos) {
            candidate = probe;
            candidate_state = state;
            candidate_key = owner;
          }
        } else {
          soonest_idle = std::min(soonest_idle, state - now);
        }
      }
      if (restart) continue;
      if (candidate == npos) {
        stats_.full.fetch_add(1, std::memory_order_relaxed);
        return refused(soonest_idle == std::numeric_limits<std::uint64_t>::max() ? 1 : soonest_idle, 0);
      }
      const Decision decision = install(key, marker, candidate, candidate_state, candidate_key, now, increment, restart);
      if (!restart) return decision;
    }
  }

  // Charges `increment` to the client whose entry `e` was read as {state, key}. Sets `lost` when
  // the entry no longer belongs to the client (it was idle and taken over): the caller looks again.
  Decision charge(Entry& e, std::uint64_t key, std::uint64_t state, std::uint64_t now, std::uint64_t increment,
                  bool& lost) noexcept {
    for (;;) {
      const std::uint64_t next = std::max(state, now) + increment;
      if (next - now > tolerance_) {
        // Refused without a write, if {state, key} was one consistent pair: the state unchanged
        // since (it only grows, and the key changes only under a marker).
        const std::uint64_t again = e.state.load(std::memory_order_acquire);
        if (again == state) return refused(next - tolerance_ - now, remaining_at(state, now));
        state = again;
      } else if (e.state.compare_exchange_weak(state, next, std::memory_order_acquire)) {
        return admitted(remaining_at(next, now));
      }
      // (The CAS is acquire for its failure case: the state it read publishes the key read next.)
      if ((state & install_bit) != 0 || e.key.load(std::memory_order_relaxed) != key) {
        lost = true;
        return {};
      }
    }
  }

  // Installs the client in the window's entry `candidate`, read as {candidate_state,
  // candidate_key} (idle or empty), and charges `increment`. Sets `restart` when the caller must
  // look again (the entry changed, or the client turned up elsewhere).
  Decision install(std::uint64_t key, std::uint64_t marker, std::size_t candidate, std::uint64_t candidate_state,
                   std::uint64_t candidate_key, std::uint64_t now, std::uint64_t increment, bool& restart) noexcept {
    Entry& e = entry(key, candidate);
    std::uint64_t expected = candidate_state;
    // seq_cst: this marker and the other installers' markers are ordered against the loads of
    // check_duplicates (store, then load another word: Dekker's pattern needs a total order).
    if (!e.state.compare_exchange_strong(expected, marker, std::memory_order_seq_cst)) {
      restart = true;
      return {};
    }
    // The key may have changed between our read of the state and this CAS only if a marker came
    // and went in between, but then the state would differ (it only grows): the key read is good.
    const Check check = check_duplicates(key, marker, candidate);
    if (check != Check::proceed) {
      // Give the entry back, empty: its old client (idle) may already have been installed
      // elsewhere by a thread that saw our marker. The state grows by one so that a CAS prepared
      // against the old {state, key} pair fails.
      e.key.store(empty_key, std::memory_order_relaxed);
      e.state.store(candidate_state + 1, std::memory_order_release);
      if (check == Check::give_up) return contended();
      restart = true;
      return {};
    }
    if (candidate_key != empty_key) stats_.evictions.fetch_add(1, std::memory_order_relaxed);
    e.key.store(key, std::memory_order_relaxed);
    // The new TAT: now + increment, which is above the old state (idle: at most now), or, for an
    // entry emptied by a give-back, at least the old state + 1 (monotonic).
    const std::uint64_t next = std::max(now + increment, candidate_state + 1);
    e.state.store(next, std::memory_order_release);  // publishes the key with the state
    return admitted(remaining_at(next, now));
  }

  // With our marker in the window's entry `mine`: is the client already in the window? Another
  // installer's marker earlier in the window wins (we retry); one later in the window will see ours
  // and give up, so we wait for it; an installed entry wins.
  [[nodiscard]] Check check_duplicates(std::uint64_t key, std::uint64_t marker, std::size_t mine) const noexcept {
    for (std::size_t probe = 0; probe < window_; ++probe) {
      if (probe == mine) continue;
      Entry& e = entry(key, probe);
      for (int spins = 0;; ++spins) {
        const std::uint64_t state = e.state.load(std::memory_order_seq_cst);
        if (state == marker) {
          if (probe < mine) return Check::retry;
          if (spins == spin_limit) return Check::give_up;
          detail::spin_pause();
          continue;
        }
        if ((state & install_bit) == 0 && e.key.load(std::memory_order_relaxed) == key) return Check::retry;
        break;
      }
    }
    return Check::proceed;
  }

  // Spins until the entry's state leaves `state` (true), or gives up after spin_limit pauses.
  [[nodiscard]] static bool await_change(const Entry& e, std::uint64_t state) noexcept {
    for (int spins = 0; spins < spin_limit; ++spins) {
      detail::spin_pause();
      if (e.state.load(std::memory_order_acquire) != state) return true;
    }
    return false;
  }

  Decision contended() noexcept {
    stats_.contended.fetch_add(1, std::memory_order_relaxed);
    return refused(1, 0);
  }

  // Read-only after construction: shared by every thread without contention.
  Options options_;
  std::uint64_t interval_ = 0;   // T, ns per unit of cost, rounded up
  std::uint64_t tolerance_ = 0;  // burst × T, at most 2^61
  detail::DivideBy per_interval_;  // x / T without a division
  std::size_t mask_ = 0;         // capacity − 1
  std::size_t window_ = 0;       // min(capacity, probe_window)
  std::unique_ptr<Line[]> lines_;
  // Written only on evictions and refusals, on a line of its own.
  Stats stats_;
};

}  // namespace keypool
