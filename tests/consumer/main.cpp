// Builds against keypool::keypool the way a user's program does, and exits 0 when a lease is granted.
#include <keypool/keypool.hpp>

int main() {
  keypool::KeyPool<> pool{keypool::Capacity{4}};
  auto provider = pool.add_provider("groq", 0);
  pool.add_key(provider, keypool::Secret{"gsk_test_123456"},
               {keypool::Limit::requests(2).per_minute()});
  auto lease = pool.acquire({.tokens = 10});
  return lease ? 0 : 1;
}
