// EXPECT: two alert sinks given
#include <keypool/keypool.hpp>
int main() { keypool::KeyPool<keypool::alert::Callback, keypool::alert::Null> pool; }
