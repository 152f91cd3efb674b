// gateway: an OpenAI-compatible proxy that spreads chat completions over a pool of provider keys
// (keypool), fails over tier by tier, and answers 429 + Retry-After when nothing can serve.
//
//   gateway --config gateway.conf [--port N] [--listen ADDRESS] [--check]
//
// Keys come from the environment (see the config's keys_env); the admin token from the variable
// the config names (GATEWAY_ADMIN_TOKEN by default). Prints "listening on ADDRESS:PORT" on stdout
// once it accepts connections; logs to stderr; stops cleanly on SIGTERM or SIGINT; on SIGHUP
// re-reads the configuration and logs what it can apply.
// docs/gateway.md has the whole story.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "config.hpp"
#include "gateway.hpp"

namespace {

constexpr std::string_view usage =
    "usage: gateway --config FILE [--port N] [--listen ADDRESS] [--check]\n"
    "  --config FILE     the configuration (see docs/gateway.md and gateway.conf.example)\n"
    "  --port N          listen on port N instead of the config's (0: any free port)\n"
    "  --listen ADDRESS  listen on ADDRESS instead of the config's (default 127.0.0.1)\n"
    "  --check           read the configuration and the keys, report, and exit\n";

struct Options {
  std::string config_path;
  std::optional<std::uint16_t> port;
  std::optional<std::string> listen;
  bool check = false;
};

// Exits with status 2 and the usage on a bad command line.
Options parse_options(int argc, char** argv) {
  Options options;
  const auto bad = [](const std::string& message) {
    std::cerr << "gateway: " << message << "\n" << usage;
    std::exit(2);
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) bad(std::string{arg} + " needs a value");
      return argv[++i];
    };
    if (arg == "--config") {
      options.config_path = std::string{value()};
    } else if (arg == "--port") {
      const std::string_view text = value();
      unsigned port = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
      if (ec != std::errc{} || end != text.data() + text.size() || port > 65'535)
        bad("--port: '" + std::string{text} + "' is not a port number (0 to 65535)");
      options.port = static_cast<std::uint16_t>(port);
    } else if (arg == "--listen") {
      options.listen = std::string{value()};
    } else if (arg == "--check") {
      options.check = true;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      std::exit(0);
    } else {
      bad("unknown option '" + std::string{arg} + "'");
    }
  }
  if (options.config_path.empty()) bad("--config FILE is required");
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);

  // Block the stop signals in every thread (the ones started below inherit the mask); one thread
  // waits for them with sigwait and stops the server.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);  // reload, not stop
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  gateway::Log log{std::cerr};
  std::unique_ptr<gateway::Server> server;
  try {
    gateway::Config config = gateway::load_config(options.config_path);
    if (options.port) config.listen_port = *options.port;
    if (options.listen) config.listen_host = *options.listen;
    server = gateway::make_server(std::move(config), options.config_path, log);
  } catch (const gateway::ConfigError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "gateway: " << e.what() << "\n";
    return 2;
  }
  if (options.check) {
    std::cout << "configuration OK\n";
    return 0;
  }

  const int port = server->bind();
  if (port < 0) {
    std::cerr << "gateway: cannot listen on the configured address and port (in use, e.g. by another gateway, or not "
                 "an address of this host)\n";
    return 1;
  }

  std::atomic<bool> done{false};
  std::atomic<bool> signalled{false};
  std::thread signal_waiter{[&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    while (signal_number == SIGHUP && !done.load()) {
      server->reload();
      sigwait(&stop_signals, &signal_number);
    }
    if (done.load()) return;  // woken by main at exit
    signalled.store(true);
    log.line(std::string{"stopping on "} + (signal_number == SIGINT ? "SIGINT" : "SIGTERM"));
    // stop() is ignored until the server runs: repeat until run() has returned.
    while (!done.load()) {
      server->stop();
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
  }};

  // The socket is listening already (connections wait in its backlog), so clients may start now.
  std::cout << "listening on " << server->listen_host() << ":" << port << std::endl;
  const bool ok = server->run();
  done.store(true);
  if (!signalled.load()) pthread_kill(signal_waiter.native_handle(), SIGTERM);
  signal_waiter.join();
  log.line("stopped");
  return ok || signalled.load() ? 0 : 1;
}
