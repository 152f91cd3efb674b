// EXPECT: lacks a hook it calls
// A store that declares leased accounting but has no fleet_used: the pool names what is missing.
#include <keypool/keypool.hpp>
struct HalfLeasingStore {
  using accounting = keypool::accounting::Leased;
  void reserve(std::size_t) {}
  keypool::KeySlot* bind(const keypool::KeyBinding&) { return nullptr; }
  void flush() noexcept {}
  void attach(keypool::accounting::LeaseHost&) {}
  void detach() noexcept {}
  bool lease_sync(const keypool::detail::Amounts&, keypool::TimePoint) noexcept { return false; }
  void publish_disabled(std::size_t, bool) noexcept {}
  void publish_cooldown(std::size_t, std::uint64_t) noexcept {}
  void publish_exhausted(std::size_t, std::size_t) noexcept {}
  void publish_reset(std::size_t, std::uint32_t) noexcept {}
};
int main() { keypool::KeyPool<HalfLeasingStore> pool; }
