// EXPECT: two clocks given
#include <keypool/keypool.hpp>
int main() { keypool::KeyPool<keypool::clock::Manual, keypool::clock::System> pool; }
