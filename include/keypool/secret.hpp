// keypool::Secret: an API key that is never printed, logged, exported or stored in a file,
// and whose bytes are zeroed when it is destroyed.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace keypool {

/// Owns the bytes of one credential. Only `reveal()` hands them out (for the Authorization
/// header); everything that prints uses `redacted()`, e.g. "gsk_…3456".
/// Thread safety: const members are thread-safe; the type is a regular value otherwise.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string_view value) { assign(value); }
  Secret(const Secret& other) { assign(other.reveal()); }
  Secret(Secret&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  Secret& operator=(const Secret& other) {
    if (this != &other) {
      Secret copy{other};
      swap(copy);
    }
    return *this;
  }
  Secret& operator=(Secret&& other) noexcept {
    Secret moved{std::move(other)};
    swap(moved);
    return *this;
  }
  ~Secret() { wipe(); }

  /// The credential itself. Use it only to build the request that carries it.
  [[nodiscard]] std::string_view reveal() const noexcept { return {data_, size_}; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  /// A printable stand-in: the prefix up to the first '_' or '-' (at most 4 characters), an
  /// ellipsis, and the last 4 characters, e.g. "gsk_…3456". Secrets of 8 characters or fewer
  /// print as "…" followed by nothing of theirs. Allocates.
  [[nodiscard]] std::string redacted() const {
    if (size_ <= 8) return size_ == 0 ? std::string{"<empty>"} : std::string{"…"};
    const std::string_view value = reveal();
    std::size_t prefix = 0;
    while (prefix < 4 && prefix < value.size() && value[prefix] != '_' && value[prefix] != '-') ++prefix;
    if (prefix < value.size() && (value[prefix] == '_' || value[prefix] == '-') && prefix < 4) ++prefix;
    else prefix = 0;  // no short vendor prefix: show none of the head
    return std::string{value.substr(0, prefix)} + "…" + std::string{value.substr(size_ - 4)};
  }

  friend std::ostream& operator<<(std::ostream& out, const Secret& secret) {
    return out << secret.redacted();
  }
  /// Constant-time comparison (length leaks; contents do not).
  friend bool operator==(const Secret& a, const Secret& b) noexcept {
    if (a.size_ != b.size_) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size_; ++i)
      diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(a.data_[i]) ^
                                                static_cast<unsigned char>(b.data_[i])));
    return diff == 0;
  }

  void swap(Secret& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
  }

 private:
  void assign(std::string_view value) {
    if (value.empty()) return;
    data_ = new char[value.size()];
    std::memcpy(data_, value.data(), value.size());
    size_ = value.size();
  }
  void wipe() noexcept {
    if (data_ == nullptr) return;
    // Volatile stores: the compiler may not elide them even though the buffer dies next.
    volatile char* bytes = data_;
    for (std::size_t i = 0; i < size_; ++i) bytes[i] = 0;
    delete[] data_;
    data_ = nullptr;
    size_ = 0;
  }

  char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace keypool
