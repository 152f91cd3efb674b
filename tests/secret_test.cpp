// Secrets: never printed whole, compared in constant time, zeroed when destroyed.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <sstream>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using Catch::Matchers::Contains;

TEST_CASE("a secret prints redacted and reveals itself only when asked", "[secret]") {
  const kp::Secret secret{"gsk_live_abcdef123456"};
  CHECK(secret.reveal() == "gsk_live_abcdef123456");
  CHECK(secret.redacted() == "gsk_…3456");
  std::ostringstream out;
  out << secret;
  CHECK(out.str() == "gsk_…3456");
  CHECK_THAT(out.str(), !Contains("abcdef"));
}

TEST_CASE("short secrets and secrets without a vendor prefix reveal nothing of their head", "[secret]") {
  CHECK(kp::Secret{"abcd1234"}.redacted() == "…");
  CHECK(kp::Secret{"AIzaSyABCDEFGHIJKLMNOP"}.redacted() == "…MNOP");
  CHECK(kp::Secret{"sk-proj-0123456789"}.redacted() == "sk-…6789");
  CHECK(kp::Secret{}.redacted() == "<empty>");
}

TEST_CASE("secrets copy, move and compare by value", "[secret]") {
  kp::Secret a{"gsk_one_1234567890"};
  kp::Secret b = a;
  CHECK(a == b);
  kp::Secret c = std::move(b);
  CHECK(c == a);
  CHECK(b.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  CHECK_FALSE(a == kp::Secret{"gsk_two_1234567890"});
}

TEST_CASE("a pool never shows a secret in labels, events or snapshots", "[secret][pool]") {
  kp::clock::Manual clock;
  std::string seen;
  kp::KeyPool<kp::clock::Manual, kp::alert::Callback> pool{
      clock, kp::alert::Callback{[&](const kp::Event& e) { seen += std::string{e.key_label} + std::string{e.provider_name}; }}};
  const auto groq = pool.add_provider("groq");
  const auto key = pool.add_key(groq, kp::Secret{"gsk_live_abcdef123456"}, {kp::Limit::requests(1).per_minute()});
  CHECK(pool.label(key) == "gsk_…3456");
  { auto lease = pool.acquire(); }
  pool.disable(key);
  CHECK_FALSE(seen.empty());
  CHECK_THAT(seen, !Contains("abcdef"));
  const auto snap = pool.snapshot();
  CHECK_THAT(snap.keys.at(0).label, !Contains("abcdef"));
}
