// POSIX plumbing for store::MappedFile: an owned file descriptor, an flock(2) held for a scope,
// and an owned memory mapping. Internal: users include <keypool/store/mapped_file.hpp>.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include <keypool/error.hpp>

namespace keypool::detail {

/// "No such file or directory" for errno `code` (strerror_r, whichever variant the C library has).
[[nodiscard]] inline std::string errno_text(int code) {
  char buffer[256] = {};
  auto result = ::strerror_r(code, buffer, sizeof buffer);
  if constexpr (std::is_same_v<decltype(result), char*>) return std::string{result};  // GNU variant
  else return result == 0 ? std::string{buffer} : "error " + std::to_string(code);    // XSI variant
}

/// An open file descriptor, closed when destroyed. Move-only.
class FileDescriptor {
 public:
  FileDescriptor() noexcept = default;
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { close(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// An flock(2) lock on a descriptor, held for the guard's scope. flock locks belong to the open
/// file description, so two descriptors opened separately exclude each other even inside one
/// process (fcntl record locks would not), and the kernel drops the lock when its holder dies.
class FileLock {
 public:
  enum class Mode { shared, exclusive };

  /// Blocks until the lock is granted. Throws keypool::Error when flock fails (e.g. ENOLCK).
  FileLock(int fd, Mode mode, const std::string& what) : fd_(fd) {
    const int operation = mode == Mode::shared ? LOCK_SH : LOCK_EX;
    while (::flock(fd_, operation) != 0) {
      if (errno == EINTR) continue;
      throw Error(what + ": cannot lock the file (flock: " + errno_text(errno) +
                  "); keep state files on a local file system");
    }
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock() { ::flock(fd_, LOCK_UN); }

 private:
  int fd_;
};

/// A memory mapping, unmapped when destroyed. Move-only.
class Mapping {
 public:
  Mapping() noexcept = default;
  Mapping(void* base, std::size_t bytes) noexcept : base_(base), bytes_(bytes) {}
  Mapping(Mapping&& other) noexcept
      : base_(std::exchange(other.base_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  Mapping& operator=(Mapping&& other) noexcept {
    if (this != &other) {
      unmap();
      base_ = std::exchange(other.base_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { unmap(); }

  [[nodiscard]] std::byte* data() const noexcept { return static_cast<std::byte*>(base_); }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_; }

 private:
  void unmap() noexcept {
    if (base_ != nullptr) ::munmap(base_, bytes_);
    base_ = nullptr;
    bytes_ = 0;
  }
  void* base_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace keypool::detail
