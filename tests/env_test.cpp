// Keys from the environment: NAME, NAME_1..N and NAMES="a,b".
#include <catch2/catch.hpp>

#include <cstdlib>

#include <keypool/keypool.hpp>

namespace kp = keypool;

namespace {
struct EnvGuard {
  std::vector<std::string> names;
  void set(const std::string& name, const char* value) {
    ::setenv(name.c_str(), value, 1);
    names.push_back(name);
  }
  ~EnvGuard() {
    for (const auto& name : names) ::unsetenv(name.c_str());
  }
};
std::vector<std::string> revealed(const std::vector<kp::Secret>& secrets) {
  std::vector<std::string> out;
  for (const auto& s : secrets) out.emplace_back(s.reveal());
  return out;
}
}  // namespace

TEST_CASE("env::keys reads NAME, NAME_1..N stopping at the first gap, and NAMES", "[env]") {
  EnvGuard env;
  env.set("KPTEST_API_KEY", "k0");
  env.set("KPTEST_API_KEY_1", "k1");
  env.set("KPTEST_API_KEY_2", " k2 ");
  env.set("KPTEST_API_KEY_4", "k4-after-a-gap");
  env.set("KPTEST_API_KEYS", "a, b,,k1,c");
  CHECK(revealed(kp::env::keys("KPTEST_API_KEY")) == std::vector<std::string>{"k0", "k1", "k2", "a", "b", "c"});
}

TEST_CASE("env::keys returns nothing when nothing is set, and refuses an empty name", "[env][bad-input]") {
  CHECK(kp::env::keys("KPTEST_SURELY_UNSET_KEY").empty());
  CHECK_THROWS_AS(kp::env::keys(""), kp::Error);
}
