// libFuzzer target: store::MappedFile opening an arbitrary state file, then used by a pool.
//
// The input is a whole file image. It is written to a temporary file and opened twice: as it is,
// and with its checksums made right (the header's, and every key record's that the image holds),
// so that the fuzzer gets past the checksums to the records' fields and the counters behind them.
//
// Each time: MappedFile::inspect either throws keypool::Error or describes a sane file (keys within
// its room, names within their limits); a pool over the file then binds the keys the file holds
// with their stored limits and labels (a keypool::Error is a valid answer for each), adds a new key,
// acquires and commits a few times, and takes a snapshot: the new key admits no more than its
// limit, and the file then lists it. No other exception, no crash, no leak, no undefined behaviour.
//
// Files are written under /dev/shm when it exists (MappedFile msyncs each key it adds: on a disk
// that would be most of the time spent), otherwise under the system's temporary directory.
#include <unistd.h>

#include <keypool/clock/manual.hpp>
#include <keypool/detail/state_file.hpp>
#include <keypool/keypool.hpp>
#include <keypool/store/mapped_file.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

namespace kp = keypool;
namespace sf = keypool::detail::state_file;
namespace fs = std::filesystem;
using Pool = kp::KeyPool<kp::store::MappedFile, kp::clock::Manual>;

[[noreturn]] void fail(const char* why) {
  std::fprintf(stderr, "store::MappedFile broke its contract: %s\n", why);
  std::abort();
}

// One directory for the run, removed at exit.
struct Scratch {
  fs::path dir;
  Scratch() {
    std::error_code ignored;
    const fs::path base = fs::is_directory("/dev/shm", ignored) && ::access("/dev/shm", W_OK) == 0
                              ? fs::path{"/dev/shm"}
                              : fs::temp_directory_path();
    std::string pattern = (base / "keypool-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) fail("mkdtemp failed");
    dir = pattern;
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};

const fs::path& file_path() {
  static const Scratch scratch;
  static const fs::path path = scratch.dir / "state.kp";
  return path;
}

void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) fail("cannot write the temporary state file");
}

// The image with the header's checksum and those of every key record it holds whole made right.
std::string with_checksums(std::string image) {
  if (image.size() >= sizeof(sf::Header)) {
    sf::Header header;
    std::memcpy(&header, image.data(), sizeof header);
    header.checksum = sf::header_checksum(header);
    std::memcpy(image.data(), &header, sizeof header);
  }
  for (std::size_t chunk = 0; sf::chunk_offset(chunk) + sf::chunk_slots_bytes < image.size(); ++chunk) {
    for (std::size_t i = 0; i < sf::keys_per_chunk; ++i) {
      const std::size_t at = sf::chunk_offset(chunk) + sf::chunk_slots_bytes + i * sizeof(sf::Descriptor);
      if (at + sizeof(sf::Descriptor) > image.size()) return image;
      sf::Descriptor d;
      std::memcpy(&d, image.data() + at, sizeof d);
      d.identity_checksum = sf::identity_checksum(d);
      for (sf::Description& described : d.described) described.checksum = sf::description_checksum(described);
      std::memcpy(image.data() + at, &d, sizeof d);
    }
  }
  return image;
}

void check_description(const kp::store::FileDescription& file) {
  if (file.keys.size() > file.key_room) fail("more keys than the file has room for");
  if (file.key_room % sf::keys_per_chunk != 0 || file.key_room > sf::max_keys) fail("a key room that is not whole chunks");
  if (file.bytes < sf::file_bytes(file.key_room / sf::keys_per_chunk)) fail("a key room the file is too short for");
  for (const kp::store::StoredKey& key : file.keys) {
    if (key.label.empty() || key.label.size() > sf::max_label_bytes) fail("a stored label of impossible length");
    if (key.provider.size() > sf::max_provider_bytes) fail("a stored provider name of impossible length");
    if (key.limits.size() > kp::max_limits_per_key) fail("more stored limits than a key has");
  }
}

void use(std::string_view image) {
  const fs::path& path = file_path();
  write_file(path, image);
  kp::store::FileDescription before;
  try {
    before = kp::store::MappedFile::inspect(path);
  } catch (const kp::Error&) {
    return;  // refused with a reason: what a bad file gets
  }
  check_description(before);

  try {
    Pool pool{kp::Capacity{4}, kp::store::MappedFile{path}, kp::clock::Manual{}};
    const kp::ProviderId provider = pool.add_provider("fuzz");
    // The file's first keys, bound as the pool that wrote them did: their counters are used.
    for (std::size_t i = 0; i < before.keys.size() && i < 2; ++i) {
      try {
        pool.add_key(provider, kp::Secret{"fuzz-secret-" + std::to_string(i)}, before.keys[i].limits,
                     {.label = before.keys[i].label});
      } catch (const kp::Error&) {
        // refused (limits a pool does not take, a record that turns out damaged): a valid answer
      }
    }
    pool.add_key(provider, kp::Secret{"fuzz-secret-new"}, {kp::Limit::requests(3).per_minute(), kp::Limit::tokens(1'000).per_day()},
                 {.label = "fuzz-new"});
    int granted_new = 0;
    for (int i = 0; i < 8; ++i) {
      kp::Lease lease = pool.acquire({.tokens = 100});
      if (!lease) continue;
      if (lease.label() == "fuzz-new") ++granted_new;
      if (i % 3 == 2) lease.fail(kp::Outcome::rate_limited(std::chrono::seconds{1}));
      else lease.commit({.tokens = 50});
    }
    if (granted_new > 3) fail("a new key admitted more than its limit");
    const kp::Snapshot snapshot = pool.snapshot();
    if (snapshot.keys.size() != pool.key_count()) fail("a snapshot without every key");
    pool.poll();
  } catch (const kp::Error&) {
    return;  // e.g. a file that cannot grow, or a key record found damaged once bound
  }
  const kp::store::FileDescription after = kp::store::MappedFile::inspect(path);
  check_description(after);
  bool listed = false;
  for (const kp::store::StoredKey& key : after.keys) listed = listed || key.label == "fuzz-new";
  if (!listed) fail("the file does not list a key a pool added");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string image{reinterpret_cast<const char*>(data), size};
  use(image);
  if (size >= sizeof(sf::Header)) use(with_checksums(image));
  return 0;
}
