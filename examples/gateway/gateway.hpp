// The gateway: an OpenAI-compatible HTTP proxy in front of rate-limited providers. Each chat
// completion gets a key from a keypool::KeyPool (tier by tier), is forwarded with it, and the
// provider's answer is classified and settled on the lease (real usage committed, limits learnt,
// retried on another key when the key was limited); when no key can serve, the client gets a 429
// with Retry-After saying when service resumes.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <keypool/client_limiter.hpp>
#include <keypool/keypool.hpp>
#include <keypool/store/mapped_file.hpp>
#include <keypool/store/redis.hpp>

#include "access_log.hpp"
#include "config.hpp"
#include "constant_time.hpp"
#include "dashboard.hpp"
#include "history.hpp"
#include "openai_api.hpp"
#include "reload.hpp"
#include "streaming.hpp"
#include "request_checks.hpp"
#include "webhook.hpp"



namespace gateway {

namespace kp = keypool;

/// The pool: tier-by-tier failover (round-robin inside a tier); events go through a bounded
/// lock-free queue to a thread that logs them (and posts them to the webhook, if configured).
/// Counts live in `Store`: process memory, a state file (`state_file`) or Redis (`redis`).
template <class Store>
using PoolOn = kp::KeyPool<kp::select::Priority<kp::select::RoundRobin>, kp::alert::Queued<kp::alert::Callback>, Store>;
using Pool = PoolOn<kp::store::Memory>;

/// "2026-11-24T00:00:00Z" (whole seconds, rounded down): the gateway's one time format.
[[nodiscard]] inline std::string format_time(kp::TimePoint t) { return utc_seconds(t); }

/// Whole seconds to wait, rounded up, at least 1 (a Retry-After of 0 invites a busy loop).
[[nodiscard]] inline std::int64_t retry_after_seconds(kp::Duration wait) {
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
  return std::max<std::int64_t>(seconds, 1);
}

/// Writes whole lines to a stream shared by threads. Never given a secret.
class Log {
 public:
  explicit Log(std::ostream& out) : out_(out) {}
  void line(std::string_view text) {
    std::lock_guard lock{mutex_};
    out_ << text << '\n' << std::flush;
  }

 private:
  std::mutex mutex_;
  std::ostream& out_;
};

/// What main needs of a gateway, whatever its store.
class Server {
 public:
  virtual ~Server() = default;
  /// Binds the listening socket; returns the port, or -1 when it cannot be bound.
  virtual int bind() = 0;
  /// Serves until stop(). Returns false if the server failed.
  virtual bool run() = 0;
  /// Stops serving (requests in progress finish). Thread-safe; harmless before run.
  virtual void stop() = 0;
  [[nodiscard]] virtual const std::string& listen_host() const noexcept = 0;
  /// SIGHUP: re-reads the configuration file and the keys files and applies what changed to the
  /// running pool (keys added, removed or rotated, limits, new providers), or nothing when the
  /// change cannot be applied. Never throws; logs the outcome. reload.hpp; docs/gateway.md, "Reload".
  virtual void reload() = 0;
};

/// The running gateway over a pool whose counts live in `Store`. Construct it (reads the keys from
/// the environment), `bind`, then `run` until `stop` (from another thread, e.g. on SIGTERM).
template <class Store = kp::store::Memory>
class BasicGateway final : public Server {
 public:
  using Pool = PoolOn<Store>;
  /// What a chat completion request ended as, for /metrics.
  enum class Result : std::size_t {
    ok, provider_error, client_limited, keys_exhausted, upstream_failed, invalid_request,
    payload_too_large, request_too_large, no_keys
  };
  static constexpr std::array<std::string_view, 9> result_names{
      "ok", "provider_error", "client_limited", "keys_exhausted", "upstream_failed", "invalid_request",
      "payload_too_large", "request_too_large", "no_keys"};
  /// Upstream answers per provider: the six Outcome kinds, then "no_answer" (connection failed).
  static constexpr std::size_t answer_kinds = 7;

  /// Builds the pool from `config` and the keys the environment holds for each provider.
  /// `config_file` names the file in errors. Throws ConfigError (environment problems are
  /// reported at the line of the provider concerned).
  BasicGateway(Config config, std::string config_file, Log& log, Store store = Store{})
      : config_(std::move(config)),
        config_file_(config_file),
        log_(log),
        webhook_(make_webhook(config_file)),
        recent_events_(config_.recent_events),
        pool_(make_pool(std::move(store))),
        models_(std::make_shared<const openai::Models>(config_)) {
    // Providers a reload adds are appended without moving the others (request threads read them).
    config_.providers.reserve(Pool::max_providers);
    std::size_t providers_with_keys = 0;
    for (std::size_t p = 0; p < config_.providers.size(); ++p) {
      const ProviderConfig& provider = config_.providers[p];
      const std::size_t line = provider.keys_file_line != 0 ? provider.keys_file_line
                               : provider.keys_env_line != 0 ? provider.keys_env_line : provider.line;
      std::vector<WantedKey> keys = wanted_keys(provider, config_file);
      const kp::ProviderId id = pool_.add_provider(provider.name, provider.tier);
      providers_.push_back(id);
      next_key_number_.push_back(keys.size() + 1);
      if (keys.empty()) {
        log_.line("warning: provider '" + provider.name + "' has no key: " +
                  (provider.keys_file.empty() ? "set " + provider.keys_env + ", " + provider.keys_env + "_1.. or " +
                                                    provider.keys_env + "S"
                                              : "its keys_file " + log_escape(provider.keys_file) + " holds none"));
        continue;
      }
      ++providers_with_keys;
      for (std::size_t k = 0; k < keys.size(); ++k) {
        // A named key is labelled by its name; the others by their position, as they always were.
        std::string label = keys[k].name.empty() ? provider.name + "-" + std::to_string(k + 1) : keys[k].name;
        try {
          add_one_key(p, std::move(label), keys[k].name, std::move(keys[k].secret));
        } catch (const kp::Error& e) {
          throw ConfigError(config_file, line, std::string{"provider '"} + provider.name + "': " + e.what());
        }
      }
      log_.line("provider " + provider.name + " (tier " + std::to_string(provider.tier) + "): " +
                std::to_string(keys.size()) + " key(s) from " +
                (provider.keys_file.empty() ? provider.keys_env : "keys_file " + log_escape(provider.keys_file)));
    }
    provider_count_.store(config_.providers.size(), std::memory_order_release);
    if (providers_with_keys == 0)
      throw ConfigError(config_file, config_.providers.front().line,
                        config_.providers.front().keys_file.empty()
                            ? "no provider has a key in the environment (for provider '" + config_.providers.front().name +
                                  "' set " + config_.providers.front().keys_env + ")"
                            : "no provider has a key (provider '" + config_.providers.front().name + "': its keys_file " +
                                  config_.providers.front().keys_file + " holds none)");
    answers_ = std::make_unique<std::atomic<std::uint64_t>[]>(Pool::max_providers * answer_kinds);
    models_ = make_models(config_);

    if (const char* token = std::getenv(config_.admin_token_env.c_str()); token != nullptr && *token != '\0') {
      admin_token_ = kp::Secret{token};
      if (admin_token_.size() < 16)
        log_.line("warning: the admin token in " + config_.admin_token_env + " is short (" +
                  std::to_string(admin_token_.size()) + " characters); use 32 random characters or more");
    } else {
      log_.line("admin endpoints disabled: " + config_.admin_token_env + " is not set");
    }
    if (config_.client_requests != 0) {
      // A random hash seed: clients cannot pick addresses that crowd one probe window.
      std::random_device random;
      limiter_ = std::make_unique<kp::ClientLimiter>(kp::ClientLimiter::Options{
          .requests = config_.client_requests,
          .per = config_.client_per,
          .hash_seed = (std::uint64_t{random()} << 32) | random()});
    }
    monitor_ = std::make_unique<kp::Monitor<Pool>>(pool_, std::chrono::seconds{1});
    dashboard_started_ = pool_.clock().now();
    if (config_.history_every > std::chrono::nanoseconds::zero()) {
      history_ = std::make_unique<History>(HistoryOptions{.every = config_.history_every, .span = config_.history_span});
      sampler_ = std::make_unique<Ticker>(config_.history_every, [this] { history_->sample(pool_.snapshot()); });
    }
    routes();
  }

  BasicGateway(const BasicGateway&) = delete;
  BasicGateway& operator=(const BasicGateway&) = delete;
  ~BasicGateway() override { stop(); }

  /// Binds the listening socket; returns the port (the chosen one when the config says 0), or
  /// -1 when the address cannot be bound (among others: another process listens on the port;
  /// SO_REUSEPORT is not set, so two gateways never share one).
  int bind() override {
    // `threads` workers, more while slow clients hold them (each at most the read timeout per
    // read), up to `connections`.
    server_.new_task_queue = [threads = config_.threads, connections = config_.connections] {
      return new ElasticPool(threads, std::max(threads, connections));
    };
    server_.set_payload_max_length(max_body_bytes);
    server_.set_socket_options(listen_socket_options);
    server_.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(config_.client_timeout));
    server_.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(config_.client_timeout));
    server_.set_keep_alive_timeout(std::max<time_t>(1, std::chrono::duration_cast<std::chrono::seconds>(config_.client_timeout).count()));
    if (config_.listen_port == 0) return server_.bind_to_any_port(config_.listen_host);
    return server_.bind_to_port(config_.listen_host, config_.listen_port) ? config_.listen_port : -1;
  }
  bool run() override { return server_.listen_after_bind(); }
  void stop() override { server_.stop(); }
  [[nodiscard]] bool running() const { return server_.is_running(); }

  [[nodiscard]] Pool& pool() noexcept { return pool_; }
  [[nodiscard]] const std::string& listen_host() const noexcept override { return config_.listen_host; }

  void reload() override {
    log_.line("reload requested");
    (void)apply_reload();
  }

  /// What a reload answers: 200 with the changes, or the status and error of a refused one.
  struct ReloadOutcome {
    int status = 200;
    nlohmann::json body;
  };

  /// Re-reads the configuration and the keys files and applies the difference to the running
  /// pool: keys added, removed or given a new secret, limits changed (each key keeps its
  /// counts), providers added. A change it cannot make (a mistake in a file, a tier or base_url
  /// changed, a provider removed, limits the store refuses) changes nothing. Logs the outcome.
  /// Never throws. Thread-safe (reloads run one at a time; requests go on meanwhile).
  ReloadOutcome apply_reload() {
    std::lock_guard lock{keys_mutex_};
    try {
      nlohmann::json changes = reload_locked();
      std::string summary;
      for (const auto& change : changes["changes"]) summary += " " + change["change"].get<std::string>() + ":" + change["label"].get<std::string>();
      log_.line("reload: applied" + (summary.empty() ? std::string{" (nothing changed)"} : summary) +
                (changes["restart_needed"].empty() ? "" : "; needing a restart, not applied: " + changes["restart_needed"].dump()));
      return {200, std::move(changes)};
    } catch (const ConfigError& e) {
      log_.line(std::string{"reload: the configuration has a mistake, nothing changed: "} + log_escape(e.what()));
      return {422, openai::error_body("invalid_configuration", std::string{e.what()} + "; nothing changed", "invalid_configuration")};
    } catch (const ReloadRefused& e) {
      log_.line(std::string{"reload: refused, nothing changed: "} + log_escape(e.what()));
      return {e.status, openai::error_body("reload_refused", std::string{e.what()} + "; nothing changed", e.code)};
    } catch (const std::exception& e) {
      log_.line(std::string{"reload: failed: "} + log_escape(e.what()));
      return {500, openai::error_body("server_error", "the reload failed part way (see the gateway's log, request " +
                                                          current_access().id + ")", "reload_failed")};
    }
  }

 private:
  // The webhook of the config, if any. Throws ConfigError at the webhook's line.
  std::unique_ptr<Webhook> make_webhook(const std::string& config_file) {
    if (config_.webhook_url.empty()) return nullptr;
    std::string url = config_.webhook_url;
    if (url.rfind("env:", 0) == 0) {
      const char* value = std::getenv(url.c_str() + 4);
      if (value == nullptr || *value == '\0')
        throw ConfigError(config_file, config_.webhook_line, "'webhook': " + url.substr(4) + " is not set in the environment");
      url = value;
    }
    WebhookOptions options;
    options.style = config_.webhook_style == "telegram" ? WebhookStyle::telegram
                    : config_.webhook_style == "event"  ? WebhookStyle::event
                                                        : WebhookStyle::slack;
    options.chat_id = config_.webhook_chat_id;
    try {
      auto webhook = std::make_unique<Webhook>(url, options);
      log_.line("alerts are also posted to " + webhook->origin() + " (" + config_.webhook_style + ")");
      return webhook;
    } catch (const kp::Error& e) {
      throw ConfigError(config_file, config_.webhook_line, std::string{"'webhook': "} + e.what());
    }
  }

  // Adds a key of provider `p` to the pool and to the gateway's tables. Throws kp::Error.
  // Under keys_mutex_ (or in the constructor).
  void add_one_key(std::size_t p, std::string label, std::string name, kp::Secret secret) {
    const ProviderConfig& provider = config_.providers[p];
    std::vector<kp::ModelLimits> served;  // `models`: the key serves only these
    for (const std::string& model : provider.models) served.push_back({.model = model});
    const kp::KeyId key = pool_.add_key(providers_[p], secret, provider.limits, {.label = label, .models = served});
    key_labels_.emplace_back(label, key);
    keys_.push_back({p, std::move(label), std::move(name), std::move(secret), key});
  }

  // The model routing of `config`, with the pool's ids of the listed models.
  std::shared_ptr<const openai::Models> make_models(const Config& config) {
    auto models = std::make_shared<openai::Models>(config);
    for (const ProviderConfig& provider : config.providers)
      for (const std::string& model : provider.models) models->set_id(model, pool_.model(model));
    return models;
  }

  // The reload itself, under keys_mutex_: checks everything first (throws ConfigError or
  // ReloadRefused, nothing changed), then applies. Returns {"reloaded", "changes", "restart_needed"}.
  nlohmann::json reload_locked() {
    Config fresh = load_config(config_file_);
    const std::size_t running_count = config_.providers.size();
    // Every running provider must still be there, changed only in what a reload can change.
    std::vector<std::size_t> fresh_of(running_count);
    for (std::size_t p = 0; p < running_count; ++p) {
      const auto it = std::find_if(fresh.providers.begin(), fresh.providers.end(),
                                   [&](const ProviderConfig& f) { return f.name == config_.providers[p].name; });
      if (it == fresh.providers.end())
        throw ReloadRefused(409, "provider_removed",
                            "provider '" + config_.providers[p].name +
                                "' is no longer in the configuration: a running gateway cannot remove a provider; give "
                                "it an empty keys_file to retire its keys, or restart the gateway");
      if (const auto why = unreloadable_change(config_.providers[p], *it)) throw ReloadRefused(409, "restart_needed", *why);
      fresh_of[p] = static_cast<std::size_t>(it - fresh.providers.begin());
    }
    std::vector<std::size_t> added_providers;  // indices in fresh.providers
    for (std::size_t f = 0; f < fresh.providers.size(); ++f)
      if (std::find(fresh_of.begin(), fresh_of.end(), f) == fresh_of.end()) added_providers.push_back(f);
    if (running_count + added_providers.size() > Pool::max_providers)
      throw ReloadRefused(409, "too_many_providers", "a pool holds at most " + std::to_string(Pool::max_providers) + " providers");

    // The keys each provider should have (a keys file's mistake is a ConfigError).
    std::vector<std::vector<WantedKey>> wanted(fresh.providers.size());
    for (std::size_t f = 0; f < fresh.providers.size(); ++f) wanted[f] = wanted_keys(fresh.providers[f], config_file_);

    // The plan. A named key is the same key while its name stays (a new secret rotates it); an
    // unnamed key is the same key while its secret stays.
    struct Add {
      std::size_t provider;  // index in the running config once added providers are appended
      std::string label, name;
      kp::Secret secret;
    };
    struct Rotate {
      std::size_t entry;
      kp::Secret secret;
    };
    std::vector<Add> adds;
    std::vector<Rotate> rotations;
    std::vector<bool> kept(keys_.size(), false);
    std::vector<std::size_t> next_number = next_key_number_;
    for (std::size_t f = 0; f < fresh.providers.size(); ++f) {
      const auto running = std::find(fresh_of.begin(), fresh_of.end(), f);
      const std::size_t p = running != fresh_of.end() ? static_cast<std::size_t>(running - fresh_of.begin())
                                                      : running_count + static_cast<std::size_t>(
                                                            std::find(added_providers.begin(), added_providers.end(), f) -
                                                            added_providers.begin());
      if (p >= next_number.size()) next_number.resize(p + 1, 1);
      for (WantedKey& key : wanted[f]) {
        std::optional<std::size_t> match;
        for (std::size_t e = 0; e < keys_.size() && !match; ++e) {
          if (kept[e] || keys_[e].provider != p) continue;
          if (key.name.empty() ? keys_[e].name.empty() && keys_[e].secret.reveal() == key.secret.reveal()
                               : keys_[e].name == key.name)
            match = e;
        }
        if (match) {
          kept[*match] = true;
          if (keys_[*match].secret.reveal() != key.secret.reveal()) rotations.push_back({*match, std::move(key.secret)});
          continue;
        }
        std::string label = key.name.empty() ? fresh.providers[f].name + "-" + std::to_string(next_number[p]++) : key.name;
        adds.push_back({p, std::move(label), std::move(key.name), std::move(key.secret)});
      }
    }
    // Labels and secrets must stay unique in the pool once the plan is applied.
    {
      std::vector<std::string_view> labels, secrets;
      for (std::size_t e = 0; e < keys_.size(); ++e) {
        if (!kept[e]) continue;
        labels.push_back(keys_[e].label);
        bool rotated = false;
        for (const Rotate& r : rotations)
          if (r.entry == e) rotated = true;
        if (!rotated) secrets.push_back(keys_[e].secret.reveal());
      }
      for (const Rotate& r : rotations) secrets.push_back(r.secret.reveal());
      for (const Add& a : adds) {
        if (std::find(labels.begin(), labels.end(), a.label) != labels.end())
          throw ReloadRefused(409, "duplicate_label", "the key label '" + a.label + "' would be given to two keys; rename one in its keys file");
        labels.push_back(a.label);
        secrets.push_back(a.secret.reveal());
      }
      std::vector<std::string_view> sorted = secrets;
      std::sort(sorted.begin(), sorted.end());
      if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
        throw ReloadRefused(409, "duplicate_secret", "one secret is given to two keys (in two keys files, or under two names); keep one");
    }

    // Apply. Limits first: the store may refuse them (undone then, nothing else is touched yet).
    nlohmann::json changes = nlohmann::json::array();
    std::vector<std::pair<std::size_t, std::vector<kp::Limit>>> limits_changed;  // provider, old limits
    for (std::size_t p = 0; p < running_count; ++p) {
      const ProviderConfig& now = fresh.providers[fresh_of[p]];
      if (now.limits == config_.providers[p].limits) continue;
      std::vector<kp::KeyId> done;
      try {
        for (std::size_t e = 0; e < keys_.size(); ++e) {
          if (keys_[e].provider != p || !kept[e]) continue;
          pool_.set_limits(keys_[e].id, now.limits);
          done.push_back(keys_[e].id);
        }
      } catch (const kp::Error& e) {
        // Undone: back to the limits they had (an amounts-only change is undone exactly).
        try {
          for (const kp::KeyId id : done) pool_.set_limits(id, config_.providers[p].limits);
          for (auto it = limits_changed.rbegin(); it != limits_changed.rend(); ++it) {
            for (std::size_t k = 0; k < keys_.size(); ++k)
              if (keys_[k].provider == it->first && kept[k]) pool_.set_limits(keys_[k].id, it->second);
            config_.providers[it->first].limits = it->second;
          }
        } catch (const kp::Error& undo) {
          log_.line(std::string{"reload: undoing a limits change failed: "} + log_escape(undo.what()));
        }
        throw ReloadRefused(409, "limits_refused", "provider '" + config_.providers[p].name +
                                                       "': the new limits cannot be applied while the gateway runs (" +
                                                       e.what() + ")");
      }
      limits_changed.emplace_back(p, config_.providers[p].limits);
      config_.providers[p].limits = now.limits;  // read by add_one_key only, under keys_mutex_
      changes.push_back({{"change", "limits_changed"}, {"label", config_.providers[p].name}, {"keys", done.size()}});
    }
    for (std::size_t p = 0; p < running_count; ++p) {
      config_.providers[p].keys_file = fresh.providers[fresh_of[p]].keys_file;
      config_.providers[p].keys_file_line = fresh.providers[fresh_of[p]].keys_file_line;
      config_.providers[p].keys_env = fresh.providers[fresh_of[p]].keys_env;
    }
    // New providers: appended (the vector was reserved: request threads never see it move).
    for (const std::size_t f : added_providers) {
      config_.providers.push_back(fresh.providers[f]);
      const kp::ProviderId id = pool_.add_provider(fresh.providers[f].name, fresh.providers[f].tier);
      providers_.push_back(id);
      changes.push_back({{"change", "provider_added"}, {"label", fresh.providers[f].name}});
    }
    if (next_number.size() < config_.providers.size()) next_number.resize(config_.providers.size(), 1);
    next_key_number_ = next_number;
    provider_count_.store(config_.providers.size(), std::memory_order_release);
    if (!added_providers.empty()) models_.store(make_models(config_), std::memory_order_release);
    // Keys: removed first (their secrets and labels are then free), rotated, added.
    std::vector<KeyEntry> remaining;
    for (std::size_t e = 0; e < keys_.size(); ++e) {
      if (kept[e]) continue;
      pool_.remove_key(keys_[e].id);
      changes.push_back({{"change", "key_removed"}, {"label", keys_[e].label}, {"provider", config_.providers[keys_[e].provider].name}});
    }
    for (Rotate& r : rotations) {
      pool_.rotate_secret(keys_[r.entry].id, r.secret);
      keys_[r.entry].secret = std::move(r.secret);
      changes.push_back({{"change", "key_rotated"}, {"label", keys_[r.entry].label}, {"provider", config_.providers[keys_[r.entry].provider].name}});
    }
    for (std::size_t e = 0; e < keys_.size(); ++e)
      if (kept[e]) remaining.push_back(std::move(keys_[e]));
    keys_ = std::move(remaining);
    key_labels_.clear();
    for (const KeyEntry& entry : keys_) key_labels_.emplace_back(entry.label, entry.id);
    for (Add& a : adds) {
      const std::string label = a.label;
      add_one_key(a.provider, std::move(a.label), std::move(a.name), std::move(a.secret));
      changes.push_back({{"change", "key_added"}, {"label", label}, {"provider", config_.providers[a.provider].name}});
    }
    return {{"reloaded", true}, {"changes", std::move(changes)}, {"restart_needed", restart_only_changes(config_, fresh)}};
  }

  Pool make_pool(Store store) {
    std::size_t keys = 0, meters = 0;
    // Capacity: count the keys first (env::keys is cheap); duplicates are reported later.
    for (const ProviderConfig& provider : config_.providers) {
      try {
        const std::size_t count = kp::env::keys(provider.keys_env).size();
        keys += count;
        meters += count * provider.models.size();  // one meter per model a key serves
      } catch (const kp::Error&) {
      }
    }
    return Pool{kp::Capacity{.keys = std::max<std::size_t>(keys, 1), .meters = std::max<std::size_t>(meters, 256)}, std::move(store),
                // On the queue's drainer thread: a slow webhook never stalls a request.
                kp::alert::Queued<kp::alert::Callback>{kp::alert::Callback{[this](const kp::Event& event) {
                  recent_events_.push(event);
                  log_.line("event: " + kp::format_event(event));
                  if (!webhook_) return;
                  try {
                    webhook_->emit(event);
                  } catch (const std::exception& e) {
                    log_.line(std::string{"webhook: "} + e.what());
                  }
                }}}};
  }

  // A POST whose body is read through read_bounded: chunked bodies are bounded too. Chunked
  // bodies to other routes are refused before they are read (see guard()).
  template <class Handler>
  void post_bounded(const std::string& path, Handler handler) {
    bounded_paths_.push_back(path);
    server_.Post(path, [this, handler](const httplib::Request& req, httplib::Response& res,
                                       const httplib::ContentReader& reader) {
      httplib::Request bounded = req;
      bool too_large = false;
      if (!read_bounded(reader, bounded.body, too_large)) {
        res.set_header("Connection", "close");
        close_after_answer(req);
        answer_problem(res, too_large ? Problem{413, "invalid_request_error",
                                                "the request body is larger than " + std::to_string(max_body_bytes) +
                                                    " bytes", "", "payload_too_large"}
                                      : Problem{400, "invalid_request_error", "the request body could not be read", "",
                                                "unreadable_body"});
        count(too_large ? Result::payload_too_large : Result::invalid_request);
        return;
      }
      handler(bounded, res);
    });
  }

  // Before routing (headers read, body not yet): starts the access record, sends the request id,
  // refuses a declared body above the limit and a chunked body the route would read unbounded.
  httplib::Server::HandlerResponse guard(const httplib::Request& req, httplib::Response& res) {
    res.set_header("x-request-id", begin_access());
    const bool chunked = req.has_header("Transfer-Encoding");
    const std::string length = req.get_header_value("Content-Length");
    // (cpp-httplib itself drops a connection whose Content-Length is not a number.)
    std::uint64_t declared = 0;
    const std::errc error = std::from_chars(length.data(), length.data() + length.size(), declared).ec;
    const bool too_large = error == std::errc::result_out_of_range || declared > max_body_bytes;
    const bool bounded = std::find(bounded_paths_.begin(), bounded_paths_.end(), req.path) != bounded_paths_.end();
    if (!too_large && !(chunked && !bounded)) return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("Connection", "close");  // the body is left unread
    close_after_answer(req);
    if (too_large) {
      answer_problem(res, {413, "invalid_request_error",
                           "the request body is larger than " + std::to_string(max_body_bytes) + " bytes", "",
                           "payload_too_large"});
      if (bounded) count(Result::payload_too_large);
    } else {
      answer_problem(res, {411, "invalid_request_error", "send this request with a Content-Length, not chunked", "",
                           "length_required"});
    }
    return httplib::Server::HandlerResponse::Handled;
  }

  void routes() {
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) { return guard(req, res); });
    // A handler's exception: a JSON 500 without the exception's text (which may quote the request).
    server_.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      res.status = 500;
      res.headers.erase("EXCEPTION_WHAT");
      res.set_content(error_json("server_error", "internal error in the gateway (see its log, request " +
                                                     current_access().id + ")"),
                      "application/json");
      log_.line("request " + current_access().id + ": a handler threw");
    });
    post_bounded("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { chat(req, res); });
    post_bounded("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      chat(req, res, openai::Endpoint::completions);
    });
    post_bounded("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
      chat(req, res, openai::Endpoint::embeddings);
    });
    server_.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(models()->list(started_).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    });
    server_.Get("/v1/models/(.+)", [this](const httplib::Request& req, httplib::Response& res) {
      const nlohmann::json model = models()->find(req.matches[1].str(), started_);
      if (model.is_null()) {
        json_error(res, 404, "invalid_request_error",
                   "The model '" + openai::Models::shorten(req.matches[1].str()) + "' does not exist or is not served by this gateway",
                   {{"code", "model_not_found"}, {"param", "model"}});
        return;
      }
      res.set_content(model.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    });
    server_.Get("/quota-status", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(kp::to_json(pool_.snapshot()), "application/json");
    });
    post_bounded("/quota-status/reset",
                 [this](const httplib::Request& req, httplib::Response& res) { admin_reset(req, res); });
    post_bounded("/quota-status/enable",
                 [this](const httplib::Request& req, httplib::Response& res) { admin_enable(req, res); });
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics(), "text/plain; version=0.0.4; charset=utf-8");
    });
    server_.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{\"status\":\"ok\"}", "application/json");
    });
    server_.Get("/dashboard", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string{gateway::dashboard_html}, "text/html; charset=utf-8");
    });
    post_bounded("/quota-status/disable",
                 [this](const httplib::Request& req, httplib::Response& res) { admin_disable(req, res); });
    dashboard_routes();
    post_bounded("/admin/reload", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      log_.line("reload requested by " + req.remote_addr);
      ReloadOutcome outcome = apply_reload();
      res.status = outcome.status;
      res.set_content(outcome.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    });
    openai::install_error_handler(server_, {{"/v1/chat/completions", "POST"}, {"/v1/completions", "POST"},
                                            {"/v1/embeddings", "POST"}, {"/v1/models", "GET"}, {"/v1/models/", "GET"},
                                            {"/quota-status", "GET"}, {"/quota-status/reset", "POST"},
                                            {"/quota-status/enable", "POST"}, {"/quota-status/disable", "POST"}, {"/admin/reload", "POST"}, {"/metrics", "GET"}, {"/health", "GET"},
                                            {"/dashboard", "GET"}, {"/quota-status/history", "GET"}, {"/events/recent", "GET"},
                                            {"/stats", "GET"}});
    server_.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      log_.line(access_line(finish_access(), req, res));
    });
  }

  static void json_error(httplib::Response& res, int status, std::string_view type, std::string_view message,
                         nlohmann::json extra = nlohmann::json::object()) {
    res.status = status;
    // OpenAI's shape (message, type, param, code); `code` repeats the type unless `extra` has one.
    res.set_content(openai::error_body(type, message, type, std::move(extra))
                        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                    "application/json");
  }

  // "minute", "second", "hour", else "90 s" or "250 ms".
  static std::string period_name(std::chrono::nanoseconds period) {
    if (period == std::chrono::minutes{1}) return "minute";
    if (period == std::chrono::seconds{1}) return "second";
    if (period == std::chrono::hours{1}) return "hour";
    if (period % std::chrono::seconds{1} == std::chrono::nanoseconds::zero())
      return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(period).count()) + " s";
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(period).count()) + " ms";
  }

  void count(Result result) {
    results_[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
    current_access().result = std::string{result_names[static_cast<std::size_t>(result)]};
  }

  // ---------------------------------------------------------------------------------------------
  // POST /v1/chat/completions

  // Also POST /v1/completions and /v1/embeddings (`endpoint`): the same admission, key
  // selection, failover and accounting; chat and text completions may stream (streaming.hpp).
  void chat(const httplib::Request& req, httplib::Response& res, openai::Endpoint endpoint = openai::Endpoint::chat) {
    if (limiter_) {
      const auto decision = limiter_->try_acquire(req.remote_addr, pool_.clock().now());
      if (!decision.allowed) {
        const std::int64_t wait = retry_after_seconds(decision.retry_after);
        res.set_header("Retry-After", std::to_string(wait));
        openai::set_retry_headers(res, decision.retry_after, config_.max_retry_after);
        json_error(res, 429, "client_rate_limited",
                   "this client sent more than " + std::to_string(config_.client_requests) + " requests per " +
                       period_name(config_.client_per) + "; retry in " + std::to_string(wait) +
                       " s (other clients are not affected)",
                   {{"retry_after_s", wait}, {"client", req.remote_addr}});
        count(Result::client_limited);
        current_access().cause = "client_limit";
        return;
      }
      res.set_header("X-RateLimit-Remaining", std::to_string(decision.remaining));
    }

    nlohmann::json body;
    kp::Request request;
    {
      // Size, UTF-8 and nesting depth are checked before the parser sees the body.
      Problem problem;
      auto parsed = parse_body(req.body, problem);
      if (parsed) {
        body = std::move(*parsed);
        if (const auto model = body.find("model"); model != body.end() && model->is_string())
          current_access().model = model->template get<std::string>();
        if (!completion_tokens(body, config_.default_max_tokens, problem)) parsed.reset();
      }
      if (!parsed) {
        answer_problem(res, problem);
        const Result result = problem.status == 413 ? Result::payload_too_large : Result::invalid_request;
        count(result);
        return;
      }
    }
    bool stream = false, client_wants_usage = false;
    try {
      if (!body.is_object()) throw std::invalid_argument("the body is not a JSON object");
      stream = openai::stream_requested(body);
      if (stream && endpoint == openai::Endpoint::embeddings)
        throw openai::RequestError(400, "invalid_value", "stream", "embeddings do not stream; send the request without \"stream\"");
      if (stream) client_wants_usage = openai::usage_requested(body);
      if (endpoint == openai::Endpoint::chat) {
        if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
          throw std::invalid_argument("\"messages\" must be a non-empty array");
        request.tokens = estimate_tokens(body);
      } else {
        request.tokens = openai::estimate(endpoint, body, config_.default_max_tokens);
      }
      request.priority = priority_of(req.get_header_value("X-Request-Priority"));
      request.model = models()->route(body);
    } catch (const openai::RequestError& e) {
      json_error(res, e.status, "invalid_request_error", e.what(), {{"code", e.code}, {"param", e.param}});
      count(Result::invalid_request);
      return;
    } catch (const std::invalid_argument& e) {  // the gateway's own words
      json_error(res, 400, "invalid_request_error", std::string{"invalid request: "} + e.what());
      count(Result::invalid_request);
      return;
    } catch (const std::exception&) {  // never a library's text: it may quote the request
      json_error(res, 400, "invalid_request_error", "invalid request: a field has the wrong type");
      count(Result::invalid_request);
      return;
    }

    // Each provider gets its own model name, or the client's.
    const nlohmann::json client_model = body.contains("model") ? body["model"] : nlohmann::json{};
    std::chrono::nanoseconds backoff = config_.backoff;
    std::string last_failure;
    int last_status = 0;
    for (unsigned attempt = 1; attempt <= config_.max_attempts; ++attempt) {
      kp::Lease lease = pool_.acquire(request);
      if (!lease) {
        refuse(res, lease.refusal(), last_failure);
        count(refusal_result(lease.refusal()));
        return;
      }
      const std::size_t p = lease.provider().value;
      const ProviderConfig& provider = config_.providers[p];
      current_access().attempts = attempt;
      current_access().provider = provider.name;
      current_access().key = std::string{lease.label()};
      if (nlohmann::json model = openai::forwarded_model(provider, client_model, endpoint); !model.is_null())
        body["model"] = std::move(model);
      else
        body.erase("model");

      httplib::Client client{provider.origin};
      const auto timeout = std::chrono::duration_cast<std::chrono::microseconds>(config_.upstream_timeout);
      client.set_connection_timeout(std::chrono::duration_cast<std::chrono::seconds>(timeout).count(),
                                    static_cast<time_t>(timeout.count() % 1'000'000));
      client.set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(timeout).count(),
                              static_cast<time_t>(timeout.count() % 1'000'000));
      client.set_write_timeout(std::chrono::duration_cast<std::chrono::seconds>(timeout).count(),
                               static_cast<time_t>(timeout.count() % 1'000'000));
      httplib::Headers headers;
      if (provider.auth == AuthStyle::bearer)
        headers.emplace("Authorization", "Bearer " + std::string{lease.secret().reveal()});
      else
        headers.emplace(provider.auth_header, std::string{lease.secret().reveal()});
      const std::string path = provider.path_prefix + std::string{openai::path_of(endpoint)};
      std::optional<httplib::Response> answer;
      std::string no_answer;
      if (stream) {
        // Read as it comes: until its first byte reaches the client, a failure tries another key.
        if (!body.contains("stream_options") || !body["stream_options"].is_object()) body["stream_options"] = nlohmann::json::object();
        body["stream_options"]["include_usage"] = true;  // the final chunk then reports the usage
        auto upstream = std::make_shared<UpstreamStream>(
            UpstreamStream::Target{provider.origin, path, headers, body.dump(), config_.upstream_timeout});
        const auto start = upstream->wait_start();
        if (start == UpstreamStream::Start::streaming) {
          stream_answer(res, std::move(lease), std::move(upstream), client_wants_usage,
                        endpoint == openai::Endpoint::chat ? openai::tokens_of_characters(openai::message_characters(body))
                                                           : openai::input_tokens(body, "prompt"),
                        attempt);
          return;
        }
        if (start == UpstreamStream::Start::answered) answer = upstream->answer();
        else no_answer = upstream->failure();
      } else if (auto result = client.Post(path, headers, body.dump(), "application/json")) {
        answer = std::move(*result);
      } else {
        no_answer = "no answer (" + httplib::to_string(result.error()) + ")";
      }

      if (!answer) {
        lease.fail(kp::Outcome::transient());
        answers_[p * answer_kinds + 6].fetch_add(1, std::memory_order_relaxed);
        last_failure = provider.name + "/" + std::string{lease.label()} + ": " + no_answer;
        last_status = 0;
        log_.line("attempt " + std::to_string(attempt) + ": " + last_failure);
        note_retry(attempt, provider.name, lease.label(), last_failure);
        sleep_backoff(backoff, attempt);
        continue;
      }

      const kp::Outcome outcome = kp::classify(answer->status, answer->headers, answer->body, pool_.clock().now());
      answers_[p * answer_kinds + static_cast<std::size_t>(outcome.kind())].fetch_add(1, std::memory_order_relaxed);
      if (outcome.kind() == kp::Outcome::Kind::success) {
        const std::uint64_t tokens = usage_tokens(answer->body).value_or(request.tokens);
        lease.commit({.tokens = tokens}, outcome);
        pass_through(res, *answer, provider.name, lease.label(), attempt);
        count(Result::ok);
        current_access().tokens = tokens;
        return;
      }
      lease.fail(outcome);
      if (outcome.kind() == kp::Outcome::Kind::bad_request) {
        // The request's own fault: another key would answer the same.
        pass_through(res, *answer, provider.name, lease.label(), attempt);
        count(Result::provider_error);
        return;
      }
      last_status = answer->status;
      last_failure = provider.name + "/" + std::string{lease.label()} + " answered " + std::to_string(answer->status) +
                     " (" + std::string{kp::to_string(outcome.kind())} + ")";
      log_.line("attempt " + std::to_string(attempt) + ": " + last_failure + "; trying another key");
      note_retry(attempt, provider.name, lease.label(), last_failure);
      if (outcome.kind() == kp::Outcome::Kind::transient) sleep_backoff(backoff, attempt);
    }
    // Every key was refused and is now disabled: the 503 of a pool with no usable key (as when
    // the pool refuses before any attempt), not a 502: waiting will not help, an operator must.
    if (kp::Lease probe = pool_.acquire(request); !probe) {
      if (probe.refusal().permanent()) {
        refuse(res, probe.refusal(), last_failure);
        count(refusal_result(probe.refusal()));
        return;
      }
    } else {
      probe.cancel();
    }
    json_error(res, 502, "upstream_failed",
               "no provider answered successfully after " + std::to_string(config_.max_attempts) +
                   " attempts; last: " + last_failure,
               {{"attempts", config_.max_attempts}, {"last_status", last_status}});
    count(Result::upstream_failed);
  }

  // The /metrics result of a refusal of the pool.
  static Result refusal_result(const kp::Refusal& refusal) {
    if (refusal.reason == kp::Reason::too_large) return Result::request_too_large;
    return refusal.permanent() ? Result::no_keys : Result::keys_exhausted;
  }

  // Waits `backoff` before the next attempt (if there is one), then doubles it (at most 5 s).
  void sleep_backoff(std::chrono::nanoseconds& backoff, unsigned attempt) const {
    if (attempt >= config_.max_attempts || backoff <= std::chrono::nanoseconds::zero()) return;
    std::this_thread::sleep_for(backoff);
    backoff = std::min<std::chrono::nanoseconds>(backoff * 2, std::chrono::seconds{5});
  }

  // Answers with the stream `upstream` has started on `lease`'s key; the lease is settled when
  // the stream ends: with the usage the provider reported, else `prompt_tokens` plus the content
  // streamed (about 4 characters a token), also when the client went away mid-stream.
  void stream_answer(httplib::Response& res, kp::Lease lease,
                     std::shared_ptr<UpstreamStream> upstream, bool client_wants_usage, std::uint64_t prompt_tokens,
                     unsigned attempt) {
    const std::size_t p = lease.provider().value;
    const std::string& provider = config_.providers[p].name;
    const kp::Outcome observed = kp::classify(upstream->status(), upstream->headers(), "", pool_.clock().now());
    answers_[p * answer_kinds + static_cast<std::size_t>(observed.kind())].fetch_add(1, std::memory_order_relaxed);
    const httplib::Headers head = upstream->headers();
    // x-request-id is the gateway's own (set in guard()); the provider's goes under another name.
    if (const auto it = head.find("x-request-id"); it != head.end()) res.set_header("X-Provider-Request-Id", it->second);
    res.set_header("X-Gateway-Provider", provider);
    res.set_header("X-Gateway-Key", std::string{lease.label()});
    res.set_header("X-Gateway-Attempts", std::to_string(attempt));
    auto held = std::make_shared<kp::Lease>(std::move(lease));
    relay_stream(res, std::move(upstream), client_wants_usage,
                 [this, held, observed, prompt_tokens](const StreamEnd& end) {
                   const std::uint64_t tokens =
                       end.usage.value_or(bounded_sum(prompt_tokens, openai::tokens_of_characters(end.content_characters)));
                   if (end.usage) held->commit({.tokens = tokens}, observed);
                   else held->commit({.tokens = tokens});
                   count(end.complete || end.client_gone ? Result::ok : Result::upstream_failed);
                   // On the server's thread, before its logger: the request's access line says it.
                   AccessRecord& access = current_access();
                   access.tokens = tokens;
                   access.stream = end.client_gone ? "client_gone" : end.complete ? "complete" : "broke_off";
                   access.usage = end.usage ? "reported" : "estimated";
                 });
  }

  // The seed's graceful degradation: say why, and when service resumes.
  void refuse(httplib::Response& res, const kp::Refusal& refusal, const std::string& last_failure) const {
    nlohmann::json extra{{"reason", kp::to_string(refusal.reason)}};
    if (!refusal.permanent()) current_access().cause = "keys";  // of a 429
    current_access().reason = std::string{kp::to_string(refusal.reason)};
    if (!last_failure.empty()) extra["last_failure"] = last_failure;
    if (refusal.permanent()) {
      const bool too_large = refusal.reason == kp::Reason::too_large;
      json_error(res, too_large ? 413 : 503, too_large ? "request_too_large" : "no_keys_available",
                 too_large ? "the request costs more than any key may ever admit; make it smaller"
                           : "no key can serve (all disabled, or none configured); an operator must act",
                 std::move(extra));
      return;
    }
    const std::int64_t wait = retry_after_seconds(refusal.retry_after);
    extra["retry_after_s"] = wait;
    extra["resumes_at"] = format_time(refusal.resets_at);
    res.set_header("Retry-After", std::to_string(wait));
    // A wait past max_retry_after: x-should-retry: false, so that SDKs give up now.
    const bool too_long = openai::set_retry_headers(res, refusal.retry_after, config_.max_retry_after);
    json_error(res, 429, "all_keys_exhausted",
               "every provider key is spent or rate limited (" + std::string{kp::to_string(refusal.reason)} +
                   "); service resumes at " + format_time(refusal.resets_at) + ", in " + std::to_string(wait) + " s" +
                   (too_long ? "; do not retry before then" : ""),
               std::move(extra));
  }

  static void pass_through(httplib::Response& res, const httplib::Response& answer, std::string_view provider,
                           std::string_view label, unsigned attempt) {
    res.status = answer.status;
    const std::string type = answer.get_header_value("Content-Type");
    res.set_content(answer.body, type.empty() ? "application/json" : type.c_str());
    if (answer.has_header("Retry-After")) res.set_header("Retry-After", answer.get_header_value("Retry-After"));
    // x-request-id is the gateway's own (access log); the provider's goes under another name.
    if (answer.has_header("x-request-id")) res.set_header("X-Provider-Request-Id", answer.get_header_value("x-request-id"));
    res.set_header("X-Gateway-Provider", std::string{provider});
    res.set_header("X-Gateway-Key", std::string{label});
    res.set_header("X-Gateway-Attempts", std::to_string(attempt));
  }

  // What the request may cost: its text at about 4 characters a token, plus the completion it
  // allows. Only an estimate: the real usage is committed from the answer.
  std::uint64_t estimate_tokens(const nlohmann::json& body) const {
    const std::uint64_t characters = openai::message_characters(body);
    Problem ignored;  // chat() refused a bad max_tokens before
    const std::uint64_t completion =
        completion_tokens(body, config_.default_max_tokens, ignored).value_or(config_.default_max_tokens);
    return bounded_sum((characters + 3) / 4, completion);
  }

  static kp::Priority priority_of(std::string_view header) {
    if (header.empty() || header == "normal") return kp::Priority::normal;
    if (header == "batch") return kp::Priority::batch;
    if (header == "critical") return kp::Priority::critical;
    throw std::invalid_argument("X-Request-Priority must be batch, normal or critical");
  }

  // usage.total_tokens of an OpenAI-style answer (or prompt + completion), if present.
  static std::optional<std::uint64_t> usage_tokens(const std::string& body) {
    if (json_depth(body, max_json_depth) > max_json_depth) return std::nullopt;  // a provider's answer is bounded too
    const auto answer = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!answer.is_object() || !answer.contains("usage") || !answer["usage"].is_object()) return std::nullopt;
    const auto& usage = answer["usage"];
    if (usage.contains("total_tokens") && usage["total_tokens"].is_number_unsigned())
      return usage["total_tokens"].get<std::uint64_t>();
    if (usage.contains("prompt_tokens") && usage["prompt_tokens"].is_number_unsigned() &&
        usage.contains("completion_tokens") && usage["completion_tokens"].is_number_unsigned())
      return usage["prompt_tokens"].get<std::uint64_t>() + usage["completion_tokens"].get<std::uint64_t>();
    return std::nullopt;
  }

  // ---------------------------------------------------------------------------------------------
  // POST /quota-status/reset

  // True when the request carries the admin token; otherwise answers 403 (no token configured)
  // or 401 and returns false.
  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (admin_token_.empty()) {
      // 403, not 404: the endpoint exists, but no credential can open it until an operator sets
      // the token; the body says how, so the operator is not left guessing at a wrong URL.
      json_error(res, 403, "admin_disabled",
                 "admin endpoints are off: start the gateway with " + config_.admin_token_env + " set");
      return false;
    }
    const std::string authorization = req.get_header_value("Authorization");
    // The scheme's name is case-insensitive (RFC 9110 §11.1).
    constexpr std::string_view scheme = "bearer ";
    bool has_bearer = authorization.size() > scheme.size();
    for (std::size_t i = 0; has_bearer && i < scheme.size(); ++i)
      has_bearer = (authorization[i] | 0x20) == scheme[i];
    const std::string_view presented = has_bearer ? std::string_view{authorization}.substr(scheme.size()) : std::string_view{};
    if (!constant_time_equal(presented, admin_token_.reveal())) {
      res.set_header("WWW-Authenticate", has_bearer ? R"(Bearer realm="keypool-gateway", error="invalid_token")"
                                                    : R"(Bearer realm="keypool-gateway")");
      json_error(res, 401, "unauthorized",
                 has_bearer ? "the bearer token is wrong" : "send Authorization: Bearer <admin token>");
      log_.line("admin request refused for " + req.remote_addr + " " + log_escape(req.path) +
                (has_bearer ? " (wrong token)" : " (no token)"));
      return false;
    }
    return true;
  }
  // The key labelled `label`, if any.
  std::optional<kp::KeyId> key_labelled(std::string_view label) const {
    std::lock_guard lock{keys_mutex_};
    for (const auto& [name, id] : key_labels_)
      if (name == label) return id;
    return std::nullopt;
  }

  // POST /quota-status/enable?key=LABEL: lets a disabled key (refused credential, spent credit)
  // serve again once the operator has fixed it.
  void admin_enable(const httplib::Request& req, httplib::Response& res) {
    admin_key_action(req, res, "enabled", [this](kp::KeyId id) { pool_.enable(id); });
  }

  // POST /quota-status/disable?key=LABEL: stops granting the key until enable (a leaked or
  // misbehaving key); probes never re-enable it.
  void admin_disable(const httplib::Request& req, httplib::Response& res) {
    admin_key_action(req, res, "disabled", [this](kp::KeyId id) { pool_.disable(id); });
  }

  // An admin action on the key ?key=LABEL names: 404 for an unknown label; 200 {"<done>": label}.
  template <class Action>
  void admin_key_action(const httplib::Request& req, httplib::Response& res, const std::string& done, Action&& action) {
    if (!authorized(req, res)) return;
    const std::string label = req.get_param_value("key");
    const auto id = key_labelled(label);
    if (!id) {
      json_error(res, 404, "unknown_key", "no key is labelled '" + label + "' (see /quota-status); give ?key=LABEL",
                 {{"param", "key"}});
      return;
    }
    action(*id);
    res.set_content(nlohmann::json{{done, label}}.dump(), "application/json");
    log_.line("admin " + done + " key " + label + " (" + req.remote_addr + ")");
  }

  // ?window=second|minute|hour|day|month, or nothing.
  static std::optional<kp::Window> window_named(std::string_view name) {
    for (const kp::Window window : {kp::Window::second, kp::Window::minute, kp::Window::hour, kp::Window::day,
                                    kp::Window::month})
      if (kp::to_string(window) == name) return window;
    return std::nullopt;
  }

  void admin_reset(const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    std::optional<kp::Window> window;
    if (req.has_param("window")) {
      window = window_named(req.get_param_value("window"));
      if (!window) {
        json_error(res, 400, "invalid_request_error",
                   "unknown window '" + req.get_param_value("window") + "' (second, minute, hour, day or month)",
                   {{"param", "window"}, {"code", "unknown_window"}});
        return;
      }
      if (!req.has_param("key")) {
        json_error(res, 400, "invalid_request_error", "?window= resets one key's window: give ?key=LABEL too",
                   {{"param", "key"}, {"code", "missing_key"}});
        return;
      }
    }
    if (req.has_param("key")) {
      const std::string label = req.get_param_value("key");
      if (const auto found = key_labelled(label)) {
        const kp::KeyId id = *found;
        if (window) {
          pool_.reset(id, *window);
          res.set_content(nlohmann::json{{"reset", label}, {"window", kp::to_string(*window)}}.dump(), "application/json");
          log_.line("admin reset of key " + label + "'s " + std::string{kp::to_string(*window)} + " by " + req.remote_addr);
          return;
        }
        pool_.reset(id);
        res.set_content(nlohmann::json{{"reset", label}}.dump(), "application/json");
        log_.line("admin reset of key " + label + " by " + req.remote_addr);
        return;
      }
      json_error(res, 404, "unknown_key", "no key is labelled '" + label + "' (see /quota-status)", {{"param", "key"}});
      return;
    }
    pool_.reset_all();
    std::size_t keys = 0;
    {
      std::lock_guard lock{keys_mutex_};
      keys = key_labels_.size();
    }
    res.set_content(nlohmann::json{{"reset", "all"}, {"keys", keys}}.dump(), "application/json");
    log_.line("admin reset of all keys by " + req.remote_addr);
  }

  // ---------------------------------------------------------------------------------------------
  // What the dashboard reads beside /quota-status (history.hpp): GET /quota-status/history,
  // GET /events/recent[?limit=N], GET /stats.

  void dashboard_routes() {
    server_.Get("/quota-status/history", [this](const httplib::Request&, httplib::Response& res) {
      if (!history_) {
        json_error(res, 404, "history_disabled",
                   "the usage history is off ('history off' in the configuration); see docs/gateway.md",
                   {{"param", nullptr}, {"code", "history_disabled"}});
        return;
      }
      res.set_header("Cache-Control", "no-store");
      res.set_content(history_->to_json(pool_.clock().now()), "application/json");
    });
    server_.Get("/events/recent", [this](const httplib::Request& req, httplib::Response& res) {
      std::size_t limit = recent_events_.capacity();
      if (req.has_param("limit")) {
        const std::string text = req.get_param_value("limit");
        const auto value = config_detail::parse_uint(text);
        if (!value || *value == 0 || *value > 100'000) {
          json_error(res, 400, "invalid_request_error",
                     "'limit' must be a whole number from 1 to 100000 (the events kept: " +
                         std::to_string(recent_events_.capacity()) + ")",
                     {{"param", "limit"}, {"code", "invalid_limit"}});
          return;
        }
        limit = static_cast<std::size_t>(*value);
      }
      res.set_header("Cache-Control", "no-store");
      res.set_content(recent_events_.to_json(limit), "application/json");
    });
    server_.Get("/stats", [this](const httplib::Request&, httplib::Response& res) {
      Counters counters;
      counters.started = dashboard_started_;
      counters.now = pool_.clock().now();
      for (std::size_t r = 0; r < result_names.size(); ++r)
        counters.results.emplace_back(std::string{result_names[r]}, results_[r].load(std::memory_order_relaxed));
      for (std::size_t p = 0; p < provider_count_.load(std::memory_order_acquire); ++p) {
        Counters::Provider provider{config_.providers[p].name, {}};
        for (std::size_t k = 0; k < answer_kinds; ++k) {
          const std::string_view kind =
              k < 6 ? kp::to_string(static_cast<kp::Outcome::Kind>(k)) : std::string_view{"no_answer"};
          provider.answers.emplace_back(std::string{kind},
                                        answers_[p * answer_kinds + k].load(std::memory_order_relaxed));
        }
        counters.providers.push_back(std::move(provider));
      }
      res.set_header("Cache-Control", "no-store");
      res.set_content(counters_json(counters), "application/json");
    });
  }

  // A failed attempt that moves the request to another key, for GET /events/recent.
  void note_retry(unsigned attempt, const std::string& provider, std::string_view label, const std::string& failure) {
    recent_events_.push(pool_.clock().now(), "retry", provider, std::string{label},
                        "attempt " + std::to_string(attempt) + ": " + failure);
  }

  // ---------------------------------------------------------------------------------------------
  // GET /metrics

  std::string metrics() const {
    std::string out = kp::to_prometheus(pool_.snapshot());
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += "# HELP keypool_gateway_requests_total Chat completion requests answered by the gateway, by result "
           "(each cause of a refusal apart).\n"
           "# TYPE keypool_gateway_requests_total counter\n";
    for (std::size_t r = 0; r < result_names.size(); ++r)
      out += "keypool_gateway_requests_total{result=\"" + std::string{result_names[r]} + "\"} " +
             std::to_string(results_[r].load(std::memory_order_relaxed)) + "\n";
    out += "# HELP keypool_gateway_upstream_answers_total Answers from providers, by provider and meaning "
           "(no_answer: the connection failed).\n"
           "# TYPE keypool_gateway_upstream_answers_total counter\n";
    for (std::size_t p = 0; p < provider_count_.load(std::memory_order_acquire); ++p) {
      for (std::size_t k = 0; k < answer_kinds; ++k) {
        const std::string_view kind =
            k < 6 ? kp::to_string(static_cast<kp::Outcome::Kind>(k)) : std::string_view{"no_answer"};
        out += "keypool_gateway_upstream_answers_total{provider=\"" + config_.providers[p].name + "\",outcome=\"" +
               std::string{kind} + "\"} " + std::to_string(answers_[p * answer_kinds + k].load(std::memory_order_relaxed)) + "\n";
      }
    }
    return out;
  }

  Config config_;
  std::string config_file_;
  std::vector<std::string> bounded_paths_;  // POST routes whose bodies read_bounded reads
  Log& log_;
  std::unique_ptr<Webhook> webhook_;  // null: no webhook configured
  RecentEvents recent_events_;        // before pool_: the pool's alert thread writes to it
  Pool pool_;
  std::vector<kp::ProviderId> providers_;
  std::vector<std::pair<std::string, kp::KeyId>> key_labels_;
  kp::Secret admin_token_;
  std::unique_ptr<kp::ClientLimiter> limiter_;  // null: client_limit off
  std::array<std::atomic<std::uint64_t>, result_names.size()> results_{};
  std::unique_ptr<std::atomic<std::uint64_t>[]> answers_;
  std::unique_ptr<kp::Monitor<Pool>> monitor_;
  // Which providers serve which model; /v1/models. Replaced whole by a reload that adds providers.
  std::atomic<std::shared_ptr<const openai::Models>> models_;
  [[nodiscard]] std::shared_ptr<const openai::Models> models() const { return models_.load(std::memory_order_acquire); }
  // For reloads (reload.hpp). Guards keys_, next_key_number_ and key_labels_ (admin endpoints read
  // the labels under it), and serializes reloads.
  mutable std::mutex keys_mutex_;
  struct KeyEntry {
    std::size_t provider;  // index in config_.providers (= its ProviderId)
    std::string label;
    std::string name;      // from the keys file; "" when the key is known by its secret
    kp::Secret secret;
    kp::KeyId id;
  };
  std::vector<KeyEntry> keys_;                 // the keys in the pool, removed ones left out
  std::vector<std::size_t> next_key_number_;   // per provider: N of the next unnamed key's label "NAME-N"
  std::atomic<std::size_t> provider_count_{0};  // config_.providers.size(), read by /metrics
  std::int64_t started_ = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();  // "created" of /v1/models
  kp::TimePoint dashboard_started_{};  // GET /stats' started_at
  std::unique_ptr<History> history_;   // null: history off
  std::unique_ptr<Ticker> sampler_;    // after pool_ and history_: stopped before them
  httplib::Server server_;
};

}  // namespace gateway

namespace gateway {

/// The gateway the configuration asks for: counts in memory, in `state_file`'s file
/// (store::MappedFile), or shared through `redis` (store::Redis). Throws ConfigError (a state file
/// that cannot be opened is reported at its line).
[[nodiscard]] inline std::unique_ptr<Server> make_server(Config config, const std::string& config_file, Log& log) {
  if (!config.state_file.empty()) {
    const std::size_t line = config.store_line;
    const std::string path = config.state_file;
    std::optional<kp::store::MappedFile> file;
    try {
      file.emplace(path);
    } catch (const kp::Error& e) {
      throw ConfigError(config_file, line, std::string{"'state_file': "} + e.what());
    }
    log.line("counts are kept in the state file " + log_escape(path));
    return std::make_unique<BasicGateway<kp::store::MappedFile>>(std::move(config), config_file, log, std::move(*file));
  }
  if (!config.redis_host.empty()) {
    kp::store::Redis::Options options;
    options.host = config.redis_host;
    options.port = config.redis_port;
    options.pool = config.redis_prefix;
    const std::string where = config.redis_host + ":" + std::to_string(config.redis_port);
    std::optional<kp::store::Redis> redis;
    try {
      redis.emplace(std::move(options));
    } catch (const kp::Error& e) {
      throw ConfigError(config_file, config.store_line, std::string{"'redis': "} + e.what());
    }
    log.line("counts are shared through Redis at " + log_escape(where) + " (prefix " + log_escape(config.redis_prefix) + ")");
    return std::make_unique<BasicGateway<kp::store::Redis>>(std::move(config), config_file, log, std::move(*redis));
  }
  return std::make_unique<BasicGateway<kp::store::Memory>>(std::move(config), config_file, log);
}

}  // namespace gateway
