// The tier index on its own (detail/tier_index.hpp): tiers in order whatever order they come in,
// members appended past the first array's room, and keys published later left out of a view.
#include <catch2/catch.hpp>

#include <keypool/detail/tier_index.hpp>

namespace kp = keypool;

TEST_CASE("tier index: views come lowest tier first, each with its keys in order", "[tiers]") {
  kp::detail::TierIndex index{8};
  index.add_tier(2);
  index.add_tier(0);
  index.add_tier(1);
  index.add_tier(0);  // again: nothing new
  REQUIRE(index.count() == 3);
  for (std::uint32_t key = 0; key < 30; ++key) index.append(key % 3, key);  // grows past 8, 16
  for (std::size_t t = 0; t < 3; ++t) {
    const auto view = index.view(t, 30);
    CHECK(view.tier == t);
    REQUIRE(view.count == 10);
    for (std::uint32_t j = 0; j < view.count; ++j) CHECK(view.members[j] == j * 3 + t);
  }
}

TEST_CASE("tier index: keys at or beyond the reader's count are left out", "[tiers]") {
  kp::detail::TierIndex index{4};
  index.add_tier(0);
  for (std::uint32_t key = 0; key < 5; ++key) index.append(0, key);
  CHECK(index.view(0, 3).count == 3);
  CHECK(index.view(0, 5).count == 5);
}
