// EXPECT: an argument is neither Capacity
#include <keypool/keypool.hpp>
int main() { keypool::KeyPool<> pool{keypool::clock::Manual{}}; }
