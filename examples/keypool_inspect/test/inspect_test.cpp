// keypool_inspect's test: writes a state file whose key has a label and a provider name full of
// control bytes and a corrupted counter word, runs keypool_inspect on it (table and --json), and
// checks that the output holds no control byte, shows the names escaped and the word "corrupted",
// and that the file was left as it was.
//
//   keypool_inspect_test KEYPOOL_INSPECT WORK_DIR      prints "OK" or FAILED lines; exit 0 or 1
#include <sys/wait.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>
#include <string>

#include <keypool/detail/state_file.hpp>
#include <keypool/keypool.hpp>
#include <keypool/store/mapped_file.hpp>

namespace kp = keypool;
namespace fs = std::filesystem;

namespace {

int failures = 0;
void expect(bool ok, const std::string& what) {
  if (ok) return;
  std::cout << "FAILED: " << what << '\n';
  ++failures;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// What `command` prints on stdout.
std::string run(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  ::pclose(pipe);
  return output;
}

/// The first byte of `text` a terminal would act on (a C0 control but '\n', or DEL), or -1.
int first_control(const std::string& text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && byte != '\n') || byte == 0x7f) return byte;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: keypool_inspect_test KEYPOOL_INSPECT WORK_DIR\n";
    return 2;
  }
  const std::string inspect = argv[1];
  const fs::path dir = argv[2];
  fs::create_directories(dir);
  const fs::path path = dir / "hostile.kp";
  fs::remove(path);
  {
    kp::KeyPool<kp::store::MappedFile> pool{kp::store::MappedFile{path}};
    const kp::ProviderId provider = pool.add_provider("prov\x7f\x1b]0;title\x07");
    pool.add_key(provider, kp::Secret{"sk-inspect-test-000001"}, {kp::Limit::tokens(100'000).per_day()},
                 {.label = "evil\x1b[31mred\xc2\x9b" "2J\xff"});
    (void)pool.acquire({.tokens = 700});
  }
  // Flip the day counter's top bit: a window in the 23rd century that no clock stood in.
  {
    std::fstream file{path, std::ios::in | std::ios::out | std::ios::binary};
    const std::streamoff word = kp::detail::state_file::header_bytes + offsetof(kp::KeySlot, counters);
    file.seekg(word);
    std::uint64_t value = 0;
    file.read(reinterpret_cast<char*>(&value), sizeof value);
    value ^= std::uint64_t{1} << 63;
    file.seekp(word);
    file.write(reinterpret_cast<const char*>(&value), sizeof value);
  }
  const std::string before = read_bytes(path);

  const std::string table = run("'" + inspect + "' '" + path.string() + "'");
  std::cout << table;
  expect(first_control(table) < 0, "the table holds control byte " + std::to_string(first_control(table)));
  expect(table.find("evil\\x1b[31mred\\xc2\\x9b2J\\xff") != std::string::npos, "the label is shown escaped");
  expect(table.find("prov\\x7f\\x1b]0;title\\x07") != std::string::npos, "the provider name is shown escaped");
  expect(table.find("corrupted") != std::string::npos, "the corrupted counter is marked");
  const std::regex dated{"(\\d{4})-\\d\\d-\\d\\dT"};
  for (std::sregex_iterator date{table.begin(), table.end(), dated}, end; date != end; ++date) {
    const int year = std::stoi((*date)[1].str());
    expect(year >= 2020 && year <= 2100, "a date in the year " + std::to_string(year));
  }

  const std::string json = run("'" + inspect + "' '" + path.string() + "' --json");
  std::cout << json;
  expect(first_control(json) < 0, "the JSON holds control byte " + std::to_string(first_control(json)));
  expect(json.find("\\u001b[31m") != std::string::npos, "the JSON escapes ESC");
  expect(json.find("\\u009b") != std::string::npos, "the JSON escapes a C1 control");
  expect(json.find('\xff') == std::string::npos, "the JSON holds no invalid UTF-8");
  expect(json.find("\\u007f") != std::string::npos, "the JSON escapes DEL");

  expect(read_bytes(path) == before, "keypool_inspect left the file as it was");
  if (failures == 0) std::cout << "OK\n";
  return failures == 0 ? 0 : 1;
}
