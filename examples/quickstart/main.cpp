#include <keypool/keypool.hpp>
#include <iostream>
namespace kp = keypool;

int main() {
  kp::KeyPool<kp::alert::Ostream> pool{kp::alert::Ostream{std::cerr}};  // alerts: one line each on stderr
  const kp::ProviderId groq = pool.add_provider("groq", kp::dialects::groq);  // Groq limits each model
  for (const char* secret : {"gsk_example_key_0001", "gsk_example_key_0002"})  // or kp::env::keys("GROQ_API_KEY")
    pool.add_key(groq, kp::Secret{secret}, {kp::Limit::requests(30).per_minute()},  // all models together
                 {.models = {{"llama-3.1-8b-instant", {kp::Limit::requests(14'400).per_day(), kp::Limit::tokens(6'000).per_minute()}},
                             {"llama-3.3-70b-versatile", {kp::Limit::requests(1'000).per_day(), kp::Limit::tokens(12'000).per_minute()}}}});
  const kp::ModelId model = pool.model("llama-3.1-8b-instant");  // intern once

  kp::Lease lease = pool.acquire({.tokens = 1'200, .model = model});  // lock-free: pick a key, reserve on every limit
  if (!lease) {
    std::cerr << "no key can serve: " << kp::to_string(lease.refusal().reason) << '\n';
    return 1;
  }
  std::cout << "calling " << lease.provider_name() << " with key " << lease.label() << '\n';
  // ... send the request with lease.secret().reveal() as the API key, then record what it cost:
  lease.commit({.tokens = 1'534});
}
