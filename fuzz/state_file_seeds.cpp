// Writes the seeds of the state_file fuzz target: a valid state file made by the store (two keys
// with counts, a cooldown, a zone and headroom), and truncations of it at the places a reader
// trips on. Run it after a change of the state-file format, then commit the files:
//
//     ./build-fuzz/fuzz/state_file_seeds fuzz/corpus/state_file
#include <keypool/clock/manual.hpp>
#include <keypool/detail/state_file.hpp>
#include <keypool/keypool.hpp>
#include <keypool/store/mapped_file.hpp>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace kp = keypool;
namespace sf = keypool::detail::state_file;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
    return 2;
  }
  try {
    const fs::path dir{argv[1]};
    fs::create_directories(dir);
    const fs::path made = dir / "valid.kp.tmp";
    fs::remove(made);
    {
      kp::clock::Manual clock{kp::TimePoint{std::chrono::sys_days{std::chrono::year{2026} / 11 / 23}}};
      kp::KeyPool<kp::store::MappedFile, kp::clock::Manual> pool{kp::Capacity{4}, kp::store::MappedFile{made}, clock};
      const kp::ProviderId groq = pool.add_provider("groq");
      const kp::KeyId a = pool.add_key(
          groq, kp::Secret{"gsk_seed_000000000001"},
          {kp::Limit::requests(30).per_minute(),
           kp::Limit::tokens(14'400).per_day().reset_zone(kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0")),
           kp::Limit::tokens(50'000).per_month().headroom(kp::Priority::batch, 0.8)},
          {.label = "groq-1"});
      pool.add_key(groq, kp::Secret{"gsk_seed_000000000002"},
                   {kp::Limit::requests(3).per(std::chrono::seconds{2}), kp::Limit::tokens(8'000).per_request(),
                    kp::Limit::units(100).per_hour().reset_zone(kp::Zone::fixed(std::chrono::minutes{-330}))},
                   {.label = "groq-2"});
      for (int i = 0; i < 3; ++i) {
        kp::Lease lease = pool.acquire({.tokens = 500});
        if (lease) lease.commit({.tokens = 700});
      }
      if (kp::Lease lease = pool.acquire({.tokens = 10})) lease.fail(kp::Outcome::rate_limited(std::chrono::seconds{30}));
      (void)a;
    }
    std::ifstream in{made, std::ios::binary};
    const std::string bytes{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    fs::remove(made);
    const auto write = [&](const std::string& name, std::size_t size) {
      std::ofstream out{dir / name, std::ios::binary | std::ios::trunc};
      out.write(bytes.data(), static_cast<std::streamsize>(size));
    };
    write("valid.kp", bytes.size());
    write("truncated-header.kp", sizeof(sf::Header));
    write("truncated-header-page.kp", sf::header_bytes);
    write("truncated-slots.kp", sf::header_bytes + sf::chunk_slots_bytes);
    write("truncated-first-record.kp", sf::header_bytes + sf::chunk_slots_bytes + sizeof(sf::Descriptor) / 2);
    write("truncated-two-records.kp", sf::header_bytes + sf::chunk_slots_bytes + 2 * sizeof(sf::Descriptor));
    std::printf("state_file seeds: %zu bytes valid, and 5 truncations, in %s\n", bytes.size(), dir.c_str());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "state_file_seeds: %s\n", error.what());
    return 1;
  }
  return 0;
}
