// What the gateway's dashboard and webhook tests share: a check counter, a local HTTP server on a
// free 127.0.0.1 port, a child process run with a timeout, a temporary folder, Chromium lookup,
// and a small HTML parser for the DOM that headless Chromium dumps.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>

namespace gateway_test {

// --- Checks ----------------------------------------------------------------------------------------

/// Counts checks and failures; a failure prints what was expected and what was found, and the
/// test goes on so that one run shows every difference.
struct Checks {
  int passed = 0;
  int failed = 0;

  bool that(bool ok, std::string_view what) {
    if (ok) {
      ++passed;
    } else {
      ++failed;
      std::cerr << "FAILED: " << what << '\n';
    }
    return ok;
  }
  template <class A, class B>
  bool equal(const A& found, const B& expected, std::string_view what) {
    if (found == expected) return that(true, what);
    std::ostringstream message;
    message << what << ": found [" << found << "], expected [" << expected << "]";
    return that(false, message.str());
  }
  /// Prints the tally; the process's exit code.
  int summary(std::string_view name) const {
    std::cout << name << ": " << passed << " checks passed, " << failed << " failed\n";
    return failed == 0 ? 0 : 1;
  }
};

// --- A local HTTP server ---------------------------------------------------------------------------

/// An httplib::Server listening on 127.0.0.1 at a free port, on its own thread, stopped and
/// joined by the destructor. Register the handlers on server() before start().
class LocalServer {
 public:
  LocalServer() = default;
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;
  ~LocalServer() { stop(); }

  [[nodiscard]] httplib::Server& server() noexcept { return server_; }

  /// Binds a free port and starts serving; throws std::runtime_error when no port can be bound.
  void start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind a port on 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() is a no-op until the accept loop runs: wait for it (the socket already listens).
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  void stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }
  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string{path};
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

/// A port on 127.0.0.1 where nothing listens (bound, then released at once).
[[nodiscard]] inline int closed_port() {
  httplib::Server probe;
  const int port = probe.bind_to_any_port("127.0.0.1");
  if (port <= 0) throw std::runtime_error("cannot bind a port on 127.0.0.1");
  return port;  // the destructor closes the socket: nothing listens there any more
}

// --- A temporary folder ----------------------------------------------------------------------------

/// A fresh folder under the system's temporary directory, removed with its content on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (std::string{prefix} + "XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// --- Child processes -------------------------------------------------------------------------------

struct RunResult {
  int exit_code = -1;      // the exit status, or 128 + signal
  bool timed_out = false;  // killed after the timeout
  std::string out;         // what it wrote to stdout
};

/// Runs argv[0] (a path, or a name looked up in PATH) with stdout captured and stderr appended to
/// `stderr_file`, in its own process group; kills the group when `timeout` passes, and after the
/// process exits (a browser's helpers must not outlive the test).
inline RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                     const std::filesystem::path& stderr_file) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    const int err = ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (err >= 0) ::dup2(err, STDERR_FILENO);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from here, so the group exists before any kill below
  ::close(pipe_fds[1]);

  RunResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[65536];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd fd{pipe_fds[0], POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // timeout: checked at the top
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the process (and every helper holding the pipe) closed stdout
    result.out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  if (result.timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ::kill(-pid, SIGKILL);  // helpers of the process, if any are left (ESRCH when none: fine)
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// --- Chromium ------------------------------------------------------------------------------------

/// The headless browser: $KEYPOOL_CHROMIUM if set (a path), else the first of chromium,
/// chromium-browser, google-chrome, google-chrome-stable found in PATH.
[[nodiscard]] inline std::optional<std::filesystem::path> find_chromium() {
  if (const char* forced = std::getenv("KEYPOOL_CHROMIUM"); forced != nullptr && *forced != '\0')
    return std::filesystem::path{forced};
  const char* path_env = std::getenv("PATH");
  const std::string path = path_env != nullptr ? path_env : "/usr/bin:/bin";
  for (const char* name : {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}) {
    std::size_t start = 0;
    while (start <= path.size()) {
      const std::size_t end = std::min(path.find(':', start), path.size());
      const std::filesystem::path candidate =
          std::filesystem::path{end > start ? path.substr(start, end - start) : std::string{"."}} / name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
      start = end + 1;
    }
  }
  return std::nullopt;
}

/// The flags every headless run takes: no sandbox (it cannot start as root), no GPU, no network
/// traffic of the browser's own (updates, sync, metrics), a throw-away profile.
[[nodiscard]] inline std::vector<std::string> chromium_command(const std::filesystem::path& chromium,
                                                               const std::filesystem::path& profile) {
  return {chromium.string(),
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-dev-shm-usage",
          "--no-first-run",
          "--no-default-browser-check",
          "--disable-extensions",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--disable-default-apps",
          "--hide-scrollbars",
          "--mute-audio",
          "--user-data-dir=" + profile.string()};
}

// --- HTML ----------------------------------------------------------------------------------------

/// An element (or, with tag "#text", a text node) of a parsed document.
struct Element {
  std::string tag;  // lower case; "#text" for text
  std::map<std::string, std::string> attributes;
  std::string text;  // text nodes only, entities decoded
  Element* parent = nullptr;
  std::vector<Element*> children;

  [[nodiscard]] std::optional<std::string> attribute(std::string_view name) const {
    const auto found = attributes.find(std::string{name});
    if (found == attributes.end()) return std::nullopt;
    return found->second;
  }
  [[nodiscard]] std::string attr(std::string_view name) const { return attribute(name).value_or(""); }
  [[nodiscard]] bool has_class(std::string_view name) const {
    std::istringstream classes{attr("class")};
    std::string word;
    while (classes >> word)
      if (word == name) return true;
    return false;
  }
  [[nodiscard]] bool hidden() const { return attribute("hidden").has_value(); }
  /// True if this element or an ancestor has the hidden attribute.
  [[nodiscard]] bool hidden_in_tree() const {
    for (const Element* e = this; e != nullptr; e = e->parent)
      if (e->hidden()) return true;
    return false;
  }
  /// The concatenated text of every descendant text node.
  [[nodiscard]] std::string text_content() const {
    if (tag == "#text") return text;
    std::string out;
    for (const Element* child : children) out += child->text_content();
    return out;
  }
  /// Every descendant element (document order) for which `match` is true.
  [[nodiscard]] std::vector<const Element*> find_all(const std::function<bool(const Element&)>& match) const {
    std::vector<const Element*> out;
    collect(match, out);
    return out;
  }
  /// The first descendant for which `match` is true, or nullptr.
  [[nodiscard]] const Element* find(const std::function<bool(const Element&)>& match) const {
    const auto all = find_all(match);
    return all.empty() ? nullptr : all.front();
  }
  /// The first descendant whose attribute `name` equals `value`, or nullptr.
  [[nodiscard]] const Element* with(std::string_view name, std::string_view value) const {
    return find([&](const Element& e) { return e.attribute(name) == std::string{value}; });
  }

 private:
  void collect(const std::function<bool(const Element&)>& match, std::vector<const Element*>& out) const {
    for (const Element* child : children) {
      if (child->tag == "#text") continue;
      if (match(*child)) out.push_back(child);
      child->collect(match, out);
    }
  }
};

/// A parsed document: the root element (tag "#document") and the storage of every node.
class Document {
 public:
  /// Parses serialized HTML as Chromium's --dump-dom writes it (every non-void element closed,
  /// attribute values quoted). Comments, doctype and the content of script and style are skipped.
  explicit Document(std::string_view html) {
    root_ = make("#document", nullptr);
    Element* current = root_;
    std::size_t i = 0;
    while (i < html.size()) {
      if (html[i] != '<') {
        const std::size_t end = std::min(html.find('<', i), html.size());
        Element* text = make("#text", current);
        text->text = decode(html.substr(i, end - i));
        i = end;
        continue;
      }
      if (html.compare(i, 4, "<!--") == 0) {
        const std::size_t end = html.find("-->", i + 4);
        i = end == std::string_view::npos ? html.size() : end + 3;
        continue;
      }
      if (html.compare(i, 2, "<!") == 0 || html.compare(i, 2, "<?") == 0) {
        i = skip_past(html, i, '>');
        continue;
      }
      if (html.compare(i, 2, "</") == 0) {
        std::size_t j = i + 2;
        std::string name;
        while (j < html.size() && html[j] != '>' && !std::isspace(static_cast<unsigned char>(html[j])))
          name += static_cast<char>(std::tolower(static_cast<unsigned char>(html[j++])));
        i = skip_past(html, j, '>');
        for (Element* open = current; open != root_; open = open->parent) {
          if (open->tag == name) {
            current = open->parent;
            break;
          }
        }
        continue;
      }
      // A start tag.
      std::size_t j = i + 1;
      std::string name;
      while (j < html.size() && html[j] != '>' && html[j] != '/' && !std::isspace(static_cast<unsigned char>(html[j])))
        name += static_cast<char>(std::tolower(static_cast<unsigned char>(html[j++])));
      Element* element = make(name, current);
      bool self_closing = false;
      while (j < html.size() && html[j] != '>') {
        if (std::isspace(static_cast<unsigned char>(html[j]))) {
          ++j;
          continue;
        }
        if (html[j] == '/') {
          self_closing = true;
          ++j;
          continue;
        }
        std::string attribute;
        while (j < html.size() && html[j] != '=' && html[j] != '>' && html[j] != '/' &&
               !std::isspace(static_cast<unsigned char>(html[j])))
          attribute += static_cast<char>(std::tolower(static_cast<unsigned char>(html[j++])));
        std::string value;
        if (j < html.size() && html[j] == '=') {
          ++j;
          if (j < html.size() && (html[j] == '"' || html[j] == '\'')) {
            const char quote = html[j++];
            const std::size_t end = std::min(html.find(quote, j), html.size());
            value = decode(html.substr(j, end - j));
            j = std::min(end + 1, html.size());
          } else {
            const std::size_t start = j;
            while (j < html.size() && html[j] != '>' && !std::isspace(static_cast<unsigned char>(html[j]))) ++j;
            value = decode(html.substr(start, j - start));
          }
        }
        element->attributes.emplace(std::move(attribute), std::move(value));
      }
      i = std::min(j + 1, html.size());
      if (name == "script" || name == "style") {  // raw text: skip to the end tag
        const std::size_t end = html.find("</" + name, i);
        i = end == std::string_view::npos ? html.size() : skip_past(html, end, '>');
        continue;
      }
      if (!self_closing && !is_void(name)) current = element;
    }
  }

  [[nodiscard]] const Element& root() const noexcept { return *root_; }

  /// Decodes the character references Chromium's serializer writes (and numeric ones).
  [[nodiscard]] static std::string decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '&') {
        out += text[i];
        continue;
      }
      const std::size_t end = text.find(';', i);
      if (end == std::string_view::npos || end - i > 10) {
        out += '&';
        continue;
      }
      const std::string_view name = text.substr(i + 1, end - i - 1);
      std::uint32_t code = 0;
      if (name == "amp") code = '&';
      else if (name == "lt") code = '<';
      else if (name == "gt") code = '>';
      else if (name == "quot") code = '"';
      else if (name == "apos") code = '\'';
      else if (name == "nbsp") code = 0xA0;
      else if (name.size() > 1 && name[0] == '#')
        code = static_cast<std::uint32_t>(name[1] == 'x' || name[1] == 'X'
                                              ? std::strtoul(std::string{name.substr(2)}.c_str(), nullptr, 16)
                                              : std::strtoul(std::string{name.substr(1)}.c_str(), nullptr, 10));
      if (code == 0) {
        out += '&';
        continue;
      }
      append_utf8(out, code);
      i = end;
    }
    return out;
  }

 private:
  static void append_utf8(std::string& out, std::uint32_t code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }
  static std::size_t skip_past(std::string_view html, std::size_t from, char c) {
    const std::size_t at = html.find(c, from);
    return at == std::string_view::npos ? html.size() : at + 1;
  }
  static bool is_void(std::string_view tag) {
    for (const std::string_view v : {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                                     "source", "track", "wbr"})
      if (tag == v) return true;
    return false;
  }
  Element* make(std::string tag, Element* parent) {
    nodes_.push_back(std::make_unique<Element>());
    Element* e = nodes_.back().get();
    e->tag = std::move(tag);
    e->parent = parent;
    if (parent != nullptr) parent->children.push_back(e);
    return e;
  }

  std::vector<std::unique_ptr<Element>> nodes_;
  Element* root_ = nullptr;
};

}  // namespace gateway_test
