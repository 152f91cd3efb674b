#include <keypool/keypool.hpp>
#include <iostream>
namespace kp = keypool;

int main() {
  kp::KeyPool<kp::alert::Ostream> pool{kp::alert::Ostream{std::cerr}};  // alerts: one line each on stderr
  const kp::ProviderId groq = pool.add_provider("groq");
  for (const char* secret : {"gsk_example_key_0001", "gsk_example_key_0002"})  // or kp::env::keys("GROQ_API_KEY")
    pool.add_key(groq, kp::Secret{secret}, {kp::Limit::requests(30).per_minute(), kp::Limit::tokens(14'400).per_day()});

  kp::Lease lease = pool.acquire({.tokens = 1'200});  // lock-free: pick a key, reserve on every limit
  if (!lease) {
    std::cerr << "no key can serve: " << kp::to_string(lease.refusal().reason) << '\n';
    return 1;
  }
  std::cout << "calling " << lease.provider_name() << " with key " << lease.label() << '\n';
  // ... send the request with lease.secret().reveal() as the API key, then record what it cost:
  lease.commit({.tokens = 1'534});
}
