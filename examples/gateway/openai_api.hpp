// The OpenAI surface of the gateway beyond chat completions: the endpoints it forwards
// (chat, text completions, embeddings) and what each costs, the models list (/v1/models), routing
// a request by its model to the providers that serve it, OpenAI's error shape for every error
// answer (unknown paths and methods included), and the retry headers of a 429 that SDKs honour.
// docs/gateway.md describes the behaviour.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <keypool/request.hpp>

#include "config.hpp"
#include "request_checks.hpp"

namespace gateway::openai {

/// The upstream endpoints the gateway forwards, each with the same key selection, failover and
/// accounting.
enum class Endpoint { chat, completions, embeddings };

/// The path under a provider's base_url.
[[nodiscard]] constexpr std::string_view path_of(Endpoint endpoint) noexcept {
  switch (endpoint) {
    case Endpoint::chat: return "/chat/completions";
    case Endpoint::completions: return "/completions";
    case Endpoint::embeddings: return "/embeddings";
  }
  return "/chat/completions";
}

/// {"error":{"message","type","param","code"}} plus `extra`'s fields: OpenAI's error shape, which
/// the SDKs parse (error.type, error.code). `code` null when empty.
[[nodiscard]] inline nlohmann::json error_body(std::string_view type, std::string_view message, std::string_view code = {},
                                               nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json error = std::move(extra);
  error["message"] = message;
  error["type"] = type;
  if (!error.contains("param")) error["param"] = nullptr;
  if (!error.contains("code")) error["code"] = code.empty() ? nlohmann::json{} : nlohmann::json(code);
  return nlohmann::json{{"error", std::move(error)}};
}

/// A request that is wrong in a way the client must fix, with the HTTP status to answer.
struct RequestError : std::runtime_error {
  RequestError(int status, std::string code, std::string param, const std::string& message)
      : std::runtime_error(message), status(status), code(std::move(code)), param(std::move(param)) {}
  int status;
  std::string code, param;
};

// ---- What a request may cost ------------------------------------------------------------------------

/// Tokens of a text at about 4 characters a token, rounded up.
[[nodiscard]] constexpr std::uint64_t tokens_of_characters(std::uint64_t characters) noexcept {
  return characters / 4 + (characters % 4 != 0 ? 1 : 0);
}

/// The characters of a chat request's messages (string contents and text parts).
[[nodiscard]] inline std::uint64_t message_characters(const nlohmann::json& body) {
  std::uint64_t characters = 0;
  const auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array()) return 0;
  for (const auto& message : *messages) {
    if (!message.is_object() || !message.contains("content")) continue;
    const auto& content = message["content"];
    if (content.is_string()) {
      characters += content.get_ref<const std::string&>().size();
    } else if (content.is_array()) {
      for (const auto& part : content)
        if (part.is_object() && part.contains("text") && part["text"].is_string())
          characters += part["text"].get_ref<const std::string&>().size();
    }
  }
  return characters;
}

/// Tokens of an embeddings `input` or a completions `prompt`: a string, an array of strings, an
/// array of token ids, or an array of token-id arrays (OpenAI's four forms). Throws RequestError
/// (400) for anything else or an empty input.
[[nodiscard]] inline std::uint64_t input_tokens(const nlohmann::json& body, const char* field) {
  const auto bad = [field](std::string_view why) {
    return RequestError(400, "invalid_value", field,
                        std::string{"\""} + field + "\" " + std::string{why} +
                            " (a string, an array of strings, an array of token ids or an array of token-id arrays)");
  };
  const auto it = body.find(field);
  if (it == body.end() || it->is_null()) throw bad("is required");
  const nlohmann::json& input = *it;
  if (input.is_string()) {
    if (input.get_ref<const std::string&>().empty()) throw bad("is empty");
    return tokens_of_characters(input.get_ref<const std::string&>().size());
  }
  if (!input.is_array() || input.empty()) throw bad(input.is_array() ? "is empty" : "has the wrong type");
  std::uint64_t tokens = 0;
  for (const auto& item : input) {
    if (item.is_string()) tokens = bounded_sum(tokens, tokens_of_characters(item.get_ref<const std::string&>().size()));
    else if (item.is_number_unsigned()) tokens = bounded_sum(tokens, 1);
    else if (item.is_array()) {
      for (const auto& token : item)
        if (!token.is_number_unsigned()) throw bad("holds something that is not a token id");
      tokens = bounded_sum(tokens, item.size());
    } else {
      throw bad("holds an item of the wrong type");
    }
  }
  return tokens;
}

/// The completion a request allows (`max_completion_tokens`, `max_tokens`), else `fallback`.
/// Throws RequestError (400) for a value that is not a whole number from 1 to 10^9.
[[nodiscard]] inline std::uint64_t completion_allowance(const nlohmann::json& body, std::uint64_t fallback) {
  for (const char* name : {"max_completion_tokens", "max_tokens"}) {
    const auto it = body.find(name);
    if (it == body.end() || it->is_null()) continue;
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 || it->get<std::uint64_t>() > 1'000'000'000)
      throw RequestError(400, "invalid_value", name, std::string{"\""} + name + "\" must be a whole number from 1 to 1000000000");
    return it->get<std::uint64_t>();
  }
  return fallback;
}

/// What a text completion or embeddings request may cost (chat keeps the gateway's own
/// estimate): its input, plus for completions the completion it allows; at most
/// max_estimate_tokens (bounded_sum: no size can wrap it).
[[nodiscard]] inline std::uint64_t estimate(Endpoint endpoint, const nlohmann::json& body, std::uint64_t default_max_tokens) {
  if (endpoint == Endpoint::embeddings) return input_tokens(body, "input");
  return bounded_sum(input_tokens(body, "prompt"), completion_allowance(body, default_max_tokens));
}

/// `"stream"`: absent, null or a boolean (anything else is a 400).
[[nodiscard]] inline bool stream_requested(const nlohmann::json& body) {
  const auto it = body.find("stream");
  if (it == body.end() || it->is_null()) return false;
  if (!it->is_boolean()) throw RequestError(400, "invalid_type", "stream", "\"stream\" must be true or false");
  return it->get<bool>();
}

/// Whether a streaming request asks for the usage chunk (`stream_options.include_usage`).
/// Throws RequestError (400) when `stream_options` is not an object or `include_usage` not a boolean.
[[nodiscard]] inline bool usage_requested(const nlohmann::json& body) {
  const auto options = body.find("stream_options");
  if (options == body.end() || options->is_null()) return false;
  if (!options->is_object())
    throw RequestError(400, "invalid_type", "stream_options", "\"stream_options\" must be an object");
  const auto include = options->find("include_usage");
  if (include == options->end() || include->is_null()) return false;
  if (!include->is_boolean())
    throw RequestError(400, "invalid_type", "stream_options.include_usage", "\"stream_options.include_usage\" must be true or false");
  return include->get<bool>();
}

// ---- Models -----------------------------------------------------------------------------------------

/// The models the configured providers serve, and how a request's model picks providers:
/// - a model some provider lists (`models`) goes to the keys of the providers that list it, and
///   to those of providers that list none;
/// - any other model, and a request without one, goes to the providers that list none (today's
///   behaviour: the provider's `model` is substituted); when every provider lists its models,
///   an unknown model is a 404 `model_not_found` and a request without one a 400.
class Models {
 public:
  Models() = default;
  explicit Models(const Config& config) {
    for (const ProviderConfig& provider : config.providers) {
      if (provider.models.empty()) catch_all_ = true;
      for (const std::string& model : provider.models) add_listed(model, provider.name);
      if (!provider.model.empty()) add_entry(provider.model, provider.name);
    }
  }

  /// Remembers the pool's id of a listed model (KeyOptions::models interns it).
  void set_id(const std::string& model, keypool::ModelId id) { ids_[model] = id; }

  /// The Request::model for a request's `"model"` value. Throws RequestError: 404
  /// model_not_found, 400 for a model that is not a string or missing where one is needed.
  [[nodiscard]] keypool::ModelId route(const nlohmann::json& body) const {
    const auto it = body.find("model");
    if (it == body.end() || it->is_null()) {
      if (catch_all_) return {};
      throw RequestError(400, "missing_required_parameter", "model",
                         "\"model\" is required: every provider of this gateway lists the models it serves (GET /v1/models)");
    }
    if (!it->is_string()) throw RequestError(400, "invalid_type", "model", "\"model\" must be a string");
    const std::string& name = it->get_ref<const std::string&>();
    if (const auto id = ids_.find(name); id != ids_.end()) return id->second;
    if (catch_all_) return {};
    throw RequestError(404, "model_not_found", "model",
                       "The model '" + shorten(name) + "' does not exist or is not served by this gateway; "
                       "GET /v1/models lists the models it serves");
  }

  /// True when `provider` lists `model` among the models it serves.
  [[nodiscard]] static bool lists(const ProviderConfig& provider, std::string_view model) {
    return std::find(provider.models.begin(), provider.models.end(), model) != provider.models.end();
  }

  /// GET /v1/models: {"object":"list","data":[{"id","object":"model","created","owned_by"}]}.
  [[nodiscard]] nlohmann::json list(std::int64_t created) const {
    nlohmann::json data = nlohmann::json::array();
    for (const auto& [id, owner] : entries_) data.push_back(entry(id, owner, created));
    return nlohmann::json{{"object", "list"}, {"data", std::move(data)}};
  }
  /// GET /v1/models/{id}: the model, or a null json when this gateway does not know it.
  [[nodiscard]] nlohmann::json find(std::string_view id, std::int64_t created) const {
    for (const auto& [name, owner] : entries_)
      if (name == id) return entry(name, owner, created);
    return nullptr;
  }

  /// At most 200 characters of a client's text, for an error message.
  [[nodiscard]] static std::string shorten(std::string_view text) {
    return text.size() <= 200 ? std::string{text} : std::string{text.substr(0, 200)} + "...";
  }

 private:
  static nlohmann::json entry(const std::string& id, const std::string& owner, std::int64_t created) {
    return nlohmann::json{{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", owner}};
  }
  void add_listed(const std::string& model, const std::string& provider) {
    ids_.emplace(model, keypool::ModelId{});
    add_entry(model, provider);
  }
  void add_entry(const std::string& model, const std::string& provider) {
    for (const auto& entry : entries_)
      if (entry.first == model) return;  // the first provider that names it owns it
    entries_.emplace_back(model, provider);
  }

  std::vector<std::pair<std::string, std::string>> entries_;  // (id, owned_by), in config order
  std::map<std::string, keypool::ModelId, std::less<>> ids_;  // listed models only
  bool catch_all_ = false;                                    // some provider lists no models
};

/// The model to send to `provider`: the client's when the provider lists it; else the
/// provider's `model` (chat and text completions only: an embedding model is never swapped for a
/// chat model); else the client's. Null: send none.
[[nodiscard]] inline nlohmann::json forwarded_model(const ProviderConfig& provider, const nlohmann::json& client_model,
                                                    Endpoint endpoint) {
  if (client_model.is_string() && Models::lists(provider, client_model.get_ref<const std::string&>())) return client_model;
  if (!provider.model.empty() && endpoint != Endpoint::embeddings) return provider.model;
  if (client_model.is_null() && !provider.models.empty()) return provider.models.front();
  return client_model;
}

// ---- 429s that clients can live with --------------------------------------------------------------

/// Sets the retry headers of a 429 whose wait is `wait` (already in whole seconds in
/// Retry-After): `x-should-retry: true` and `retry-after-ms` when the wait is at most `bound`,
/// else `x-should-retry: false` (the OpenAI SDKs then do not retry). Returns true when the wait
/// is longer than the bound.
inline bool set_retry_headers(httplib::Response& res, std::chrono::nanoseconds wait, std::chrono::nanoseconds bound) {
  const bool too_long = wait > bound;
  res.set_header("x-should-retry", too_long ? "false" : "true");
  if (!too_long)
    res.set_header("retry-after-ms",
                   std::to_string(std::max<std::int64_t>(std::chrono::ceil<std::chrono::milliseconds>(wait).count(), 1)));
  return too_long;
}

// ---- Unknown paths and wrong methods ----------------------------------------------------------------

/// A path the gateway serves and its methods ("GET", "POST"); a path ending in '/' matches
/// every path under it.
struct Route {
  std::string_view path;
  std::string_view methods;  // e.g. "GET" or "GET, HEAD"
};

/// Makes every error answer that has no body yet (httplib's own 404, 400, 413...) an OpenAI-style
/// JSON error; a known path with another method becomes 405 with Allow. Errors the gateway
/// wrote itself are left as they are.
inline void install_error_handler(httplib::Server& server, std::vector<Route> routes) {
  server.set_error_handler(httplib::Server::HandlerWithResponse{[routes = std::move(routes)](const httplib::Request& req,
                                                                                          httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string_view allowed;
    for (const Route& route : routes)
      if (route.path.ends_with('/') ? req.path.starts_with(route.path) : req.path == route.path) allowed = route.methods;
    // The path is the client's text: quoted as JSON (no raw control characters reach the body).
    const std::string where = req.method.size() <= 16 ? req.method : req.method.substr(0, 16);
    const std::string path = Models::shorten(req.path);
    nlohmann::json body;
    if (res.status == 404 && !allowed.empty()) {
      res.status = 405;
      res.set_header("Allow", std::string{allowed});
      body = error_body("invalid_request_error",
                        "Method " + where + " is not allowed on " + path + "; use " + std::string{allowed},
                        "method_not_allowed");
    } else if (res.status == 404) {
      body = error_body("invalid_request_error",
                        "Invalid URL (" + where + " " + path + "): this gateway serves /v1/chat/completions, "
                        "/v1/completions, /v1/embeddings and /v1/models",
                        "unknown_url");
    } else if (res.status == 413) {
      body = error_body("invalid_request_error", "the request body is too large", "request_too_large");
    } else {
      body = error_body(res.status < 500 ? "invalid_request_error" : "server_error",
                        "the gateway could not handle this request (HTTP " + std::to_string(res.status) + ")",
                        res.status < 500 ? "bad_request" : "server_error");
    }
    res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }});
}

}  // namespace gateway::openai
