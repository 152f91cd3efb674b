// keypool::KeyProbe, ProbeResult, ProbeOptions: checking, on a schedule, whether a key that a
// provider's answer disabled (a refused credential, a billing stop) works again
// (`pool.probe_disabled(probe)`, or a kp::Monitor given a probe).
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include <keypool/error.hpp>
#include <keypool/options.hpp>
#include <keypool/secret.hpp>
#include <keypool/time.hpp>

namespace keypool {

/// What a probe is asked about: one disabled key.
struct KeyProbe {
  KeyId key{};
  std::string_view label{};
  std::string_view provider{};
  const Secret& secret;
  std::uint32_t attempt = 1;  ///< 1 for the key's first probe since it was disabled
};

/// What a probe found. `works`: the credential is accepted again (the key is enabled);
/// `refused`: still refused (it stays disabled; the next probe waits twice as long);
/// `inconclusive`: no answer worth acting on (a network error, a 5xx): as `refused`.
enum class ProbeResult : std::uint8_t { works, refused, inconclusive };

/// When probes run: the first `first` after the key was disabled (or was first seen disabled),
/// then after each failed probe twice the previous wait, at most `longest`.
struct ProbeOptions {
  Duration first = std::chrono::minutes{1};
  Duration longest = std::chrono::hours{1};

  /// Throws keypool::Error unless `first` is positive and `longest` at least `first`.
  void check() const {
    if (first <= Duration::zero() || longest < first) throw Error("ProbeOptions: first must be positive and longest at least first");
  }
};

}  // namespace keypool
