// EXPECT: OK
// The control: the harness compiles this one successfully, so a failure above is the pack's doing.
#include <keypool/keypool.hpp>
int main() { keypool::KeyPool<keypool::clock::Manual, keypool::alert::Callback> pool{keypool::Capacity{4}}; }
