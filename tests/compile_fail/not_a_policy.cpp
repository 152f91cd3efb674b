// EXPECT: satisfies none of SelectionPolicy
#include <keypool/keypool.hpp>
struct NotAPolicy {};
int main() { keypool::KeyPool<NotAPolicy> pool; }
