// Keys and limits changed while the gateway runs: the keys files (`keys_file PATH`, read at start
// and at each reload), how a key is known across reloads, and the plan a reload applies to the
// running pool (keys added, removed or given a new secret, limits changed, providers added).
// BasicGateway::reload (SIGHUP, POST /admin/reload) builds a plan, applies it, and says what
// changed. docs/gateway.md, "Reload".
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <keypool/env.hpp>
#include <keypool/error.hpp>
#include <keypool/secret.hpp>

#include "config.hpp"

namespace gateway {

/// One key a provider should have: its name from the keys file ("" when the line gives only the
/// secret) and its secret.
struct WantedKey {
  std::string name;
  keypool::Secret secret;
};

/// The largest keys file read (a few thousand keys).
inline constexpr std::size_t max_keys_file_bytes = std::size_t{1} << 20;

/// `path` as the configuration names it: a relative path is relative to the configuration file's
/// directory (a reload reads the same file whatever the working directory).
[[nodiscard]] inline std::string keys_file_path(const std::string& path, const std::string& config_file) {
  const std::filesystem::path given{path};
  if (given.is_absolute()) return path;
  return (std::filesystem::path{config_file}.parent_path() / given).string();
}

/// Reads a keys file: one key per line, either `SECRET` or `NAME SECRET` (NAME: letters, digits,
/// '-', '_' or '.'; it becomes the key's label), `#` comments and blank lines ignored. Refuses a
/// file others than its owner may read or write (as ssh does for private keys), one that is not a
/// regular file, a name or secret given twice. Throws ConfigError: problems with the file itself
/// at the `keys_file` line of `config_file`, problems of a line at that line of the keys file.
[[nodiscard]] inline std::vector<WantedKey> read_keys_file(const ProviderConfig& provider, const std::string& config_file) {
  const std::string path = keys_file_path(provider.keys_file, config_file);
  const auto fail = [&](const std::string& why) {
    throw ConfigError(config_file, provider.keys_file_line, "provider '" + provider.name + "': keys_file " + path + ": " + why);
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) fail(std::string{"cannot open it ("} + std::strerror(errno) + ")");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info{};
  if (::fstat(fd, &info) != 0) fail(std::string{"cannot read it ("} + std::strerror(errno) + ")");
  if (!S_ISREG(info.st_mode)) fail("it is not a regular file");
  if ((info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    fail(std::string{"permissions "} + mode + " are too open: other users may " +
         ((info.st_mode & 044) != 0 ? "read" : "write") + " the keys; run chmod 600 " + path);
  }
  if (static_cast<std::uint64_t>(info.st_size) > max_keys_file_bytes)
    fail("it is larger than " + std::to_string(max_keys_file_bytes) + " bytes");
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(std::string{"cannot read it ("} + std::strerror(errno) + ")");
    }
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > max_keys_file_bytes) fail("it is larger than " + std::to_string(max_keys_file_bytes) + " bytes");
  }

  std::vector<WantedKey> keys;
  std::vector<std::size_t> lines;  // of each key, for "given twice"
  std::size_t line_no = 0;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line = std::string_view{text}.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    const auto words = config_detail::split_words(line);
    if (words.empty()) continue;
    // Never quote a secret in an error: only line numbers and names.
    if (words.size() > 2)
      throw ConfigError(path, line_no, "expected SECRET or NAME SECRET, found " + std::to_string(words.size()) + " words");
    WantedKey key;
    if (words.size() == 2) {
      key.name = std::string{words[0]};
      for (const char c : key.name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
          throw ConfigError(path, line_no, "a key's name may hold only letters, digits, '-', '_' and '.'");
    }
    for (const char c : words.back())
      if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e)
        throw ConfigError(path, line_no, "the secret holds a character that is not printable ASCII");
    key.secret = keypool::Secret{words.back()};
    for (std::size_t k = 0; k < keys.size(); ++k) {
      if (!key.name.empty() && keys[k].name == key.name)
        throw ConfigError(path, line_no, "the name '" + key.name + "' is given twice (first at line " + std::to_string(lines[k]) + ")");
      if (keys[k].secret.reveal() == key.secret.reveal())
        throw ConfigError(path, line_no, "this secret is given twice (first at line " + std::to_string(lines[k]) + ")");
    }
    keys.push_back(std::move(key));
    lines.push_back(line_no);
  }
  return keys;
}

/// The keys `provider` should have: from its keys_file, else from the environment (keys_env; a
/// running process's environment never changes, so these are the keys it started with).
/// Throws ConfigError at the provider's line.
[[nodiscard]] inline std::vector<WantedKey> wanted_keys(const ProviderConfig& provider, const std::string& config_file) {
  if (!provider.keys_file.empty()) return read_keys_file(provider, config_file);
  std::vector<WantedKey> keys;
  try {
    for (keypool::Secret& secret : keypool::env::keys(provider.keys_env)) keys.push_back({"", std::move(secret)});
  } catch (const keypool::Error& e) {
    const std::size_t line = provider.keys_env_line != 0 ? provider.keys_env_line : provider.line;
    throw ConfigError(config_file, line, std::string{"provider '"} + provider.name + "': " + e.what());
  }
  return keys;
}

/// A reload that cannot be applied: nothing changed. `status` is the admin endpoint's answer
/// (422: a mistake in the configuration or a keys file; 409: a change the running gateway cannot
/// make), `code` its error code.
struct ReloadRefused : std::runtime_error {
  ReloadRefused(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status(status), code(std::move(code)) {}
  int status;
  std::string code;
};

/// The configuration directives a reload does not apply (they need a restart), as "directive"
/// names, comparing what the file said at start with what it says now.
[[nodiscard]] inline std::vector<std::string> restart_only_changes(const Config& running, const Config& fresh) {
  std::vector<std::string> changed;
  const auto note = [&](bool differs, const char* directive) {
    if (differs) changed.emplace_back(directive);
  };
  // (listen is left out: --port and --listen override it; a new address needs a restart anyway.)
  note(running.admin_token_env != fresh.admin_token_env, "admin_token_env");
  note(running.client_requests != fresh.client_requests || running.client_per != fresh.client_per, "client_limit");
  note(running.max_attempts != fresh.max_attempts, "max_attempts");
  note(running.backoff != fresh.backoff, "backoff");
  note(running.upstream_timeout != fresh.upstream_timeout, "upstream_timeout");
  note(running.default_max_tokens != fresh.default_max_tokens, "default_max_tokens");
  note(running.threads != fresh.threads, "threads");
  note(running.max_retry_after != fresh.max_retry_after, "max_retry_after");
  note(running.webhook_style != fresh.webhook_style || running.webhook_url != fresh.webhook_url ||
           running.webhook_chat_id != fresh.webhook_chat_id,
       "webhook");
  note(running.connections != fresh.connections, "connections");
  note(running.client_timeout != fresh.client_timeout, "client_timeout");
  note(running.state_file != fresh.state_file, "state_file");
  note(running.redis_host != fresh.redis_host || running.redis_port != fresh.redis_port ||
           running.redis_prefix != fresh.redis_prefix,
       "redis");
  return changed;
}

/// Why a provider's block cannot be reloaded as it now reads (a change the running gateway
/// cannot make), or nothing. Keys (keys_file, keys_env) and limits may change.
[[nodiscard]] inline std::optional<std::string> unreloadable_change(const ProviderConfig& running, const ProviderConfig& fresh) {
  const auto says = [&](const char* directive) {
    return "provider '" + running.name + "': its '" + directive +
           "' changed, which a reload cannot apply; restart the gateway (with state_file or redis the day's counts survive it)";
  };
  if (running.tier != fresh.tier)
    return "provider '" + running.name + "': its tier changed (" + std::to_string(running.tier) + " to " +
           std::to_string(fresh.tier) + "): the pool cannot move a provider to another tier while it runs; restart the "
           "gateway (with state_file or redis the day's counts survive it)";
  if (running.base_url != fresh.base_url) return says("base_url");
  if (running.model != fresh.model) return says("model");
  if (running.models != fresh.models) return says("models");
  if (running.auth != fresh.auth || running.auth_header != fresh.auth_header) return says("auth");
  return std::nullopt;
}

}  // namespace gateway
