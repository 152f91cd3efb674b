// EXPECT: more than one policy family
#include <keypool/keypool.hpp>
struct ClockAndSink {
  keypool::TimePoint now() const noexcept { return {}; }
  void emit(const keypool::Event&) {}
};
int main() { keypool::KeyPool<ClockAndSink> pool; }
