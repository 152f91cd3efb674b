// Keys from the environment: NAME, NAME_1..N and NAMES="a,b"; trimming, gaps, duplicates refused
// without echoing a key. Each test sets the variables it reads and removes them after.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using Catch::Matchers::Contains;

namespace {

/// Sets variables for one test (after removing any leftover of the names it uses) and removes
/// them when the test ends.
struct EnvGuard {
  std::vector<std::string> names;
  explicit EnvGuard(std::vector<std::string> used) : names(std::move(used)) {
    for (const auto& name : names) ::unsetenv(name.c_str());
  }
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

/// The message of the keypool::Error that env::keys(name) throws, or "" when it throws none.
std::string error_of(const char* name) {
  try {
    (void)kp::env::keys(name);
  } catch (const kp::Error& error) {
    return error.what();
  }
  return "";
}

const std::vector<std::string> test_names{"KPTEST_API_KEY",   "KPTEST_API_KEY_0", "KPTEST_API_KEY_1",
                                          "KPTEST_API_KEY_2", "KPTEST_API_KEY_3", "KPTEST_API_KEY_4",
                                          "KPTEST_API_KEYS"};

}  // namespace

TEST_CASE("env::keys reads NAME, then NAME_1..N, then the NAMES list, in that order", "[env]") {
  EnvGuard env{test_names};
  env.set("KPTEST_API_KEY", "gsk_plain");
  env.set("KPTEST_API_KEY_1", "gsk_one");
  env.set("KPTEST_API_KEY_2", "gsk_two");
  env.set("KPTEST_API_KEYS", "gsk_a,gsk_b");
  CHECK(revealed(kp::env::keys("KPTEST_API_KEY")) ==
        std::vector<std::string>{"gsk_plain", "gsk_one", "gsk_two", "gsk_a", "gsk_b"});
}

TEST_CASE("env::keys stops the numbered keys at the first gap and ignores the ones after it", "[env]") {
  EnvGuard env{test_names};
  env.set("KPTEST_API_KEY_1", "gsk_one");
  env.set("KPTEST_API_KEY_2", "gsk_two");
  env.set("KPTEST_API_KEY_4", "gsk_after_a_gap");
  env.set("KPTEST_API_KEY_0", "gsk_zero");  // numbering starts at 1
  CHECK(revealed(kp::env::keys("KPTEST_API_KEY")) == std::vector<std::string>{"gsk_one", "gsk_two"});
}

TEST_CASE("env::keys reads no numbered key when NAME_1 is missing", "[env]") {
  EnvGuard env{test_names};
  env.set("KPTEST_API_KEY", "gsk_plain");
  env.set("KPTEST_API_KEY_2", "gsk_two");
  CHECK(revealed(kp::env::keys("KPTEST_API_KEY")) == std::vector<std::string>{"gsk_plain"});
}

TEST_CASE("env::keys trims blanks and drops empty values and list entries", "[env]") {
  EnvGuard env{test_names};
  env.set("KPTEST_API_KEY", "  \t ");          // blank: skipped
  env.set("KPTEST_API_KEY_1", " gsk_one\r\n");  // a value pasted with its line ending
  env.set("KPTEST_API_KEY_2", "");              // set but empty: skipped, and not a gap
  env.set("KPTEST_API_KEY_3", "gsk_three");
  env.set("KPTEST_API_KEYS", " gsk_a , ,,\tgsk_b,");
  CHECK(revealed(kp::env::keys("KPTEST_API_KEY")) == std::vector<std::string>{"gsk_one", "gsk_three", "gsk_a", "gsk_b"});
}

TEST_CASE("env::keys keeps blanks inside a value", "[env]") {
  EnvGuard env{test_names};
  env.set("KPTEST_API_KEY", " two words ");
  CHECK(revealed(kp::env::keys("KPTEST_API_KEY")) == std::vector<std::string>{"two words"});
}

TEST_CASE("env::keys returns nothing when nothing is set", "[env]") {
  EnvGuard env{test_names};
  CHECK(kp::env::keys("KPTEST_API_KEY").empty());
}

TEST_CASE("env::keys refuses an empty or malformed name", "[env][bad-input]") {
  CHECK_THROWS_WITH(kp::env::keys(""), Contains("variable name is empty"));
  CHECK_THROWS_WITH(kp::env::keys("A=B"), Contains("not a valid environment variable name"));
}

TEST_CASE("env::keys refuses a key given twice, naming both places and never the key", "[env][bad-input]") {
  const std::string secret = "gsk_duplicate_secret_value_123456";
  SECTION("plain and numbered") {
    EnvGuard env{test_names};
    env.set("KPTEST_API_KEY", secret.c_str());
    env.set("KPTEST_API_KEY_1", "gsk_other");
    env.set("KPTEST_API_KEY_2", (" " + secret + " ").c_str());  // equal once trimmed
    const std::string message = error_of("KPTEST_API_KEY");
    CHECK_THAT(message, Contains("KPTEST_API_KEY and KPTEST_API_KEY_2 hold the same key"));
    CHECK_THAT(message, !Contains(secret) && !Contains("3456"));
  }
  SECTION("numbered and list") {
    EnvGuard env{test_names};
    env.set("KPTEST_API_KEY_1", secret.c_str());
    env.set("KPTEST_API_KEYS", ("gsk_a,," + secret).c_str());
    const std::string message = error_of("KPTEST_API_KEY");
    CHECK_THAT(message, Contains("KPTEST_API_KEY_1 and entry 3 of KPTEST_API_KEYS hold the same key"));
    CHECK_THAT(message, !Contains(secret) && !Contains("3456"));
  }
  SECTION("twice in the list") {
    EnvGuard env{test_names};
    env.set("KPTEST_API_KEYS", (secret + "," + secret).c_str());
    const std::string message = error_of("KPTEST_API_KEY");
    CHECK_THAT(message, Contains("entry 1 of KPTEST_API_KEYS and entry 2 of KPTEST_API_KEYS"));
    CHECK_THAT(message, !Contains(secret) && !Contains("3456"));
  }
}

TEST_CASE("env::keys feeds add_key directly", "[env]") {
  EnvGuard env{test_names};
  env.set("KPTEST_API_KEYS", "gsk_first_key_0001,gsk_second_key_0002");
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{4}};
  const kp::ProviderId groq = pool.add_provider("groq");
  for (kp::Secret& secret : kp::env::keys("KPTEST_API_KEY"))
    pool.add_key(groq, std::move(secret), {kp::Limit::requests(10).per_minute()});
  CHECK(pool.key_count() == 2);
}
