// gateway_dashboard_test: the dashboard page (dashboard.hpp) rendered by a real headless Chromium
// against a real pool. A KeyPool on a manual clock gets known usage on seven keys of three
// providers; a local httplib server serves the page at /dashboard and to_json(pool.snapshot()) at
// /quota-status; Chromium loads the page, runs its script and dumps the DOM, which the test parses
// and compares, number by number, with the pool's own snapshot. Then: a gateway that stops
// answering (the page keeps the last data and says so), one that never answered, labels that hold
// HTML (shown as text, never run), and two screenshots (desktop and phone width) written to the
// folder given as the first argument (default: the current folder). The same server serves the
// usage history (gateway::History sampled from the pool as its clock moves), recent events
// (gateway::RecentEvents, with HTML and script in a label and a text) and the gateway's counters
// (gateway::counters_json); the test checks the overview cards, charts, event list and counters
// against them, that every time shown is UTC RFC 3339 in whole seconds, and, in a 1280×900 frame,
// that every provider's card is inside the viewport.
//
// Exit code: 0 when every check passes, 1 otherwise, 77 (ctest's SKIP_RETURN_CODE) when no
// Chromium is found and KEYPOOL_SKIP_BROWSER=1.
#include <keypool/alert/callback.hpp>
#include <keypool/alert/queued.hpp>
#include <keypool/export/json.hpp>
#include <keypool/keypool.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dashboard.hpp"
#include "dashboard_test/support.hpp"
#include "history.hpp"

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;
using gateway_test::Checks;
using gateway_test::Document;
using gateway_test::Element;

namespace {

/// A selection policy for this test only: tries exactly the key whose index is the request's
/// affinity, so the test decides which key each request spends. (A real policy must try every
/// key before it refuses; this one refuses when its one key cannot serve.)
struct PinnedByAffinity {
  template <class Context>
  bool select(Context& ctx) {
    const std::uint64_t index = ctx.request().affinity;
    return index < ctx.size() && ctx.try_key(static_cast<std::size_t>(index));
  }
};
static_assert(kp::SelectionPolicy<PinnedByAffinity>);

using Alerts = kp::alert::Queued<kp::alert::Callback>;
using Pool = kp::KeyPool<PinnedByAffinity, kp::clock::Manual, Alerts>;

// --- What the page must show, computed here from the snapshot -------------------------------------

/// 1234567 -> "1,234,567", as the page writes counts.
std::string grouped(std::uint64_t value) {
  const std::string digits = std::to_string(value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

/// used / limit in tenths of a percent, rounded down.
std::uint64_t permille(std::uint64_t used, std::uint64_t limit) { return limit == 0 ? 0 : used * 1000 / limit; }

/// "93.3" (the page's data-percent; the visible text adds '%').
std::string percent_number(std::uint64_t tenths) { return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10); }

/// The page's colour level of a bar, at its default levels (80% and 90%).
std::string level_of(const kp::LimitUsage& limit) {
  if (limit.window == "request") return "cap";
  const std::uint64_t tenths = permille(limit.used, limit.limit);
  if (tenths >= 1000) return "full";
  if (tenths >= 900) return "critical";
  if (tenths >= 800) return "warning";
  return "ok";
}

/// The page's countdown text for `seconds` left (its duration()).
std::string countdown_text(double seconds) {
  if (!(seconds > 0)) return "now";
  auto s = static_cast<std::int64_t>(std::ceil(seconds));
  const std::int64_t days = s / 86400;
  s -= days * 86400;
  const std::int64_t hours = s / 3600;
  s -= hours * 3600;
  const std::int64_t minutes = s / 60;
  s -= minutes * 60;
  const auto two = [](std::int64_t n) { return (n < 10 ? "0" : "") + std::to_string(n); };
  if (days > 0) return std::to_string(days) + "d " + two(hours) + "h " + two(minutes) + "m";
  if (hours > 0) return std::to_string(hours) + "h " + two(minutes) + "m " + two(s) + "s";
  if (minutes > 0) return std::to_string(minutes) + "m " + two(s) + "s";
  return std::to_string(s) + "s";
}

double seconds_between(kp::TimePoint from, kp::TimePoint to) { return duration<double>(to - from).count(); }

std::string status_name(kp::KeyStatus status) {
  return status == kp::KeyStatus::available      ? "ok"
         : status == kp::KeyStatus::cooling_down ? "cooling down"
                                                 : std::string{kp::to_string(status)};
}

const Element* field(const Element& scope, std::string_view name) { return scope.with("data-field", name); }

/// Checks a countdown: its data-seconds is the snapshot's figure, and the text it shows is that
/// figure minus at most 8 s of (virtual) time that passed in the browser.
void check_countdown(Checks& checks, const Element* countdown, double expected, const std::string& what) {
  if (!checks.that(countdown != nullptr, what + ": countdown present")) return;
  const std::string seconds = countdown->attr("data-seconds");
  checks.that(!seconds.empty() && std::fabs(std::strtod(seconds.c_str(), nullptr) - expected) < 1e-3,
              what + ": data-seconds " + seconds + " is " + std::to_string(expected));
  std::set<std::string> allowed;
  for (int passed = 0; passed <= 8; ++passed) allowed.insert(countdown_text(expected - passed));
  const std::string shown = countdown->text_content();
  checks.that(allowed.count(shown) == 1, what + ": countdown shows '" + shown + "', expected about '" +
                                             countdown_text(expected) + "'");
}

void check_totals(Checks& checks, const Element& scope, const kp::Totals& totals, const std::string& what) {
  const std::pair<const char*, std::uint64_t> counts[] = {
      {"keys", totals.keys},           {"available", totals.available}, {"cooling_down", totals.cooling_down},
      {"exhausted", totals.exhausted}, {"disabled", totals.disabled},   {"successes", totals.successes},
      {"failures", totals.failures},   {"rate_limited", totals.rate_limited}};
  for (const auto& [name, value] : counts) {
    const Element* node = field(scope, name);
    if (checks.that(node != nullptr, what + ": field " + name + " present"))
      checks.equal(node->text_content(), grouped(value), what + ": " + name);
  }
  for (std::size_t m = 0; m < kp::metric_count; ++m) {
    const std::string metric{kp::to_string(static_cast<kp::Metric>(m))};
    const Element* node = field(scope, "daily-" + metric);
    if (!checks.that(node != nullptr, what + ": field daily-" + metric + " present")) continue;
    const std::uint64_t capacity = totals.daily_capacity[m];
    const std::uint64_t used = totals.daily_used[m];
    checks.equal(node->hidden_in_tree(), capacity == 0, what + ": daily " + metric + " hidden when no capacity");
    if (capacity == 0) continue;
    checks.equal(node->attr("data-used"), std::to_string(used), what + ": daily " + metric + " used");
    checks.equal(node->attr("data-capacity"), std::to_string(capacity), what + ": daily " + metric + " capacity");
    checks.equal(node->text_content(),
                 grouped(used) + " / " + grouped(capacity) + " (" + percent_number(permille(used, capacity)) + "%)",
                 what + ": daily " + metric + " text");
  }
}

void check_limit(Checks& checks, const Element& row, const kp::LimitUsage& limit, const kp::KeySnapshot& key,
                 kp::TimePoint at, const std::string& what) {
  const std::uint64_t tenths = permille(limit.used, limit.limit);
  const std::string level = level_of(limit);
  checks.equal(row.attr("data-metric"), std::string{kp::to_string(limit.metric)}, what + ": metric");
  checks.equal(row.attr("data-window"), limit.window, what + ": window");
  checks.equal(row.attr("data-used"), std::to_string(limit.used), what + ": data-used");
  checks.equal(row.attr("data-limit-value"), std::to_string(limit.limit), what + ": data-limit-value");
  checks.equal(row.attr("data-remaining"), std::to_string(limit.remaining), what + ": data-remaining");
  checks.equal(row.attr("data-percent"), percent_number(tenths), what + ": data-percent");
  checks.equal(row.attr("data-level"), level, what + ": data-level");
  checks.that(row.has_class("level-" + level), what + ": class level-" + level);

  const Element* bar = row.find([](const Element& e) { return e.attr("role") == "progressbar"; });
  if (!checks.that(bar != nullptr, what + ": a progressbar")) return;
  if (limit.window == "request") {  // a cap, not a quota: no bar, the amount in words
    checks.that(bar->hidden(), what + ": a per-request cap has no visible bar");
    const Element* cap = field(row, "cap");
    checks.that(cap != nullptr && cap->text_content() == "at most " + grouped(limit.limit), what + ": cap text");
    return;
  }
  checks.that(!bar->hidden_in_tree(), what + ": bar visible");
  checks.equal(bar->attr("aria-valuemin"), std::string{"0"}, what + ": aria-valuemin");
  checks.equal(bar->attr("aria-valuemax"), std::to_string(limit.limit), what + ": aria-valuemax");
  checks.equal(bar->attr("aria-valuenow"), std::to_string(std::min(limit.used, limit.limit)), what + ": aria-valuenow");
  checks.equal(bar->attr("aria-label"),
               key.label + ": " + std::string{kp::to_string(limit.metric)} + " per " +
                   (limit.window == "rolling" ? "rolling window" : limit.window),
               what + ": aria-label");
  const Element* fill = bar->find([](const Element& e) { return e.has_class("fill"); });
  const std::string width = percent_number(std::min<std::uint64_t>(tenths, 1000));
  const std::string width_css = (width.size() > 2 && width.substr(width.size() - 2) == ".0")
                                    ? width.substr(0, width.size() - 2) : width;
  checks.that(fill != nullptr && fill->attr("style").find("width: " + width_css + "%") != std::string::npos,
              what + ": fill width " + width_css + "% (style '" + (fill ? fill->attr("style") : "") + "')");
  const Element* used = field(row, "used");
  const Element* amount = field(row, "limit");
  const Element* percent = field(row, "percent");
  checks.that(used && used->text_content() == grouped(limit.used), what + ": visible used " + grouped(limit.used));
  checks.that(amount && amount->text_content() == grouped(limit.limit), what + ": visible limit " + grouped(limit.limit));
  checks.that(percent && percent->text_content() == percent_number(tenths) + "%",
              what + ": visible percent " + percent_number(tenths) + "%");
  const Element* remaining = field(row, "remaining");
  checks.that(remaining && remaining->text_content() == grouped(limit.remaining) + " left", what + ": remaining");
  const Element* resets = field(row, "resets");
  if (checks.that(resets != nullptr && !resets->hidden(), what + ": reset shown"))
    check_countdown(checks, resets->find([](const Element& e) { return e.has_class("countdown"); }),
                    seconds_between(at, limit.resets_at), what + " reset");
}

void check_key(Checks& checks, const Element& page, const kp::KeySnapshot& key, kp::TimePoint at) {
  const std::string what = "key '" + key.label + "'";
  const Element* card = page.find([&](const Element& e) { return e.tag == "article" && e.attr("data-key") == key.label; });
  if (!checks.that(card != nullptr, what + ": card present")) return;
  const std::string status{kp::to_string(key.status)};
  checks.equal(card->attr("data-status"), status, what + ": data-status");
  checks.that(card->has_class("status-" + status), what + ": class status-" + status);
  checks.equal(card->attr("data-key-id"), std::to_string(key.id.value), what + ": data-key-id");
  const Element* heading = page.with("id", card->attr("aria-labelledby"));
  checks.that(heading != nullptr && heading->text_content() == key.label, what + ": aria-labelledby names the label");
  const Element* badge = field(*card, "status");
  checks.that(badge && badge->text_content() == status_name(key.status), what + ": badge '" + status_name(key.status) + "'");
  // The card sits in its provider's section.
  const Element* section = card->parent;
  while (section != nullptr && section->tag != "section") section = section->parent;
  checks.that(section != nullptr && section->attr("data-provider") == key.provider_name,
              what + ": inside section " + key.provider_name);

  const std::pair<const char*, std::uint64_t> health[] = {{"successes", key.successes},
                                                          {"failures", key.failures},
                                                          {"rate_limited", key.rate_limited},
                                                          {"consecutive_failures", key.consecutive_failures}};
  for (const auto& [name, value] : health) {
    const Element* node = field(*card, name);
    checks.that(node && node->text_content() == grouped(value), what + ": " + name + " " + grouped(value));
  }
  const Element* last_error = field(*card, "last_error");
  if (checks.that(last_error != nullptr, what + ": last_error field")) {
    checks.equal(last_error->hidden_in_tree(), !key.last_error.has_value(), what + ": last_error hidden iff none");
    if (key.last_error) {
      std::string expected{kp::to_string(*key.last_error)};
      if (key.last_error_status != 0) expected += " (HTTP " + std::to_string(key.last_error_status) + ")";
      checks.that(last_error->text_content().rfind(expected + " at ", 0) == 0,
                  what + ": last error '" + last_error->text_content() + "' starts with '" + expected + "'");
    }
  }
  const Element* available = field(*card, "available");
  if (checks.that(available != nullptr, what + ": available field")) {
    checks.equal(available->hidden(), !key.available_at.has_value(), what + ": 'serves again' hidden iff it serves");
    if (key.available_at)
      check_countdown(checks, available->find([](const Element& e) { return e.has_class("countdown"); }),
                      seconds_between(at, *key.available_at), what + " serves again");
  }

  const auto rows = card->find_all([](const Element& e) { return e.attribute("data-limit").has_value(); });
  checks.equal(rows.size(), key.limits.size(), what + ": one row per limit");
  for (std::size_t i = 0; i < key.limits.size() && i < rows.size(); ++i) {
    checks.equal(rows[i]->attr("data-limit"), std::to_string(i), what + ": limit rows in order");
    check_limit(checks, *rows[i], key.limits[i], key, at, what + " limit " + std::to_string(i));
  }
  // Each model of the key: a block with its name, status and its own limit rows.
  const auto models = card->find_all([](const Element& e) { return e.attribute("data-model").has_value(); });
  checks.equal(models.size(), key.models.size(), what + ": one block per model");
  for (std::size_t m = 0; m < key.models.size() && m < models.size(); ++m) {
    const kp::MeterSnapshot& model = key.models[m];
    const std::string model_what = what + " model " + model.model;
    checks.equal(models[m]->attr("data-model"), model.model, model_what + ": in order");
    checks.equal(models[m]->attr("data-status"), std::string{kp::to_string(model.status)}, model_what + ": status");
    const Element* name = field(*models[m], "model");
    checks.that(name != nullptr && name->text_content() == model.model, model_what + ": name shown");
    const auto model_rows = models[m]->find_all([](const Element& e) { return e.attribute("data-model-limit").has_value(); });
    checks.equal(model_rows.size(), model.limits.size(), model_what + ": one row per limit");
    kp::KeySnapshot as_key = key;  // a model's bars are labelled "<key> · <model>"
    as_key.label = key.label + " · " + model.model;
    for (std::size_t i = 0; i < model.limits.size() && i < model_rows.size(); ++i)
      check_limit(checks, *model_rows[i], model.limits[i], as_key, at, model_what + " limit " + std::to_string(i));
  }
}

/// Everything the page must show for `snapshot`.
void check_page(Checks& checks, const Document& dom, const kp::Snapshot& snapshot) {
  const Element& page = dom.root();
  const Element* title = page.find([](const Element& e) { return e.tag == "title"; });
  checks.that(title && title->text_content() == "keypool · quota dashboard", "the title is unchanged (no script ran)");
  checks.that(page.find([](const Element& e) { return e.tag == "img"; }) == nullptr,
              "no <img> element: labels are text, not HTML");
  const Element* error = page.with("id", "error");
  checks.that(error != nullptr && error->hidden(), "no error banner");
  const Element* connection = page.with("id", "connection");
  checks.that(connection && connection->attr("data-state") == "live", "connection state 'live'");
  const Element* loading = page.with("id", "loading");
  checks.that(loading && loading->hidden(), "the loading note is gone");
  const Element* at = page.with("id", "snapshot-at");
  // One time format: UTC RFC 3339 in whole seconds, even when the snapshot's stamp has
  // nanoseconds (the test's clock stands at a fraction of a second).
  const std::string at_text = gateway::utc_seconds(snapshot.at);
  checks.that(at && at->text_content() == at_text && at->attr("datetime") == at_text, "snapshot time " + at_text);

  const Element* pool = page.with("id", "pool");
  if (checks.that(pool != nullptr && !pool->hidden(), "pool summary shown")) {
    check_totals(checks, *pool, snapshot.totals, "pool");
    const Element* dropped = field(*pool, "events_dropped");
    checks.that(dropped && dropped->text_content() == grouped(snapshot.events_dropped) && dropped->has_class("bad"),
                "pool: events_dropped " + grouped(snapshot.events_dropped) + ", highlighted");
    const Element* failures = field(*pool, "sink_failures");
    checks.that(failures && failures->text_content() == grouped(snapshot.sink_failures), "pool: sink_failures");
  }

  const auto sections = page.find_all([](const Element& e) { return e.tag == "section" && e.has_class("provider"); });
  checks.equal(sections.size(), snapshot.providers.size(), "one section per provider");
  for (std::size_t i = 0; i < snapshot.providers.size() && i < sections.size(); ++i) {
    const kp::ProviderSnapshot& provider = snapshot.providers[i];
    const Element& section = *sections[i];
    checks.equal(section.attr("data-provider"), provider.name, "providers in order");
    const Element* tier = field(section, "tier");
    checks.that(tier && tier->text_content() == "tier " + std::to_string(provider.tier), provider.name + ": tier");
    // The totals line: the fields before the keys' grid.
    const Element* figures = section.find([](const Element& e) { return e.tag == "dl"; });
    if (checks.that(figures != nullptr, provider.name + ": totals line"))
      check_totals(checks, *figures, provider.totals, "provider " + provider.name);
  }

  const auto cards = page.find_all([](const Element& e) { return e.tag == "article" && e.has_class("key"); });
  checks.equal(cards.size(), snapshot.keys.size(), "one card per key");
  for (const kp::KeySnapshot& key : snapshot.keys) check_key(checks, page, key, snapshot.at);
}

/// A PNG of the given size with more than `min_bytes` bytes (a blank page compresses to far less).
void check_png(Checks& checks, const std::filesystem::path& path, std::uint32_t width, std::uint32_t height,
               std::uintmax_t min_bytes) {
  std::ifstream in{path, std::ios::binary};
  const std::string bytes{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  if (!checks.that(bytes.size() > min_bytes, path.filename().string() + ": " + std::to_string(bytes.size()) +
                                                 " bytes, more than " + std::to_string(min_bytes)))
    return;
  checks.that(bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0 && bytes.compare(12, 4, "IHDR") == 0,
              path.filename().string() + ": a PNG");
  const auto be32 = [&](std::size_t at) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at])) << 24 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + 1])) << 16 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + 2])) << 8 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + 3]));
  };
  checks.equal(be32(16), width, path.filename().string() + ": width");
  checks.equal(be32(20), height, path.filename().string() + ": height");
}

// --- The overview, the history charts, the events and the counters --------------------------------

/// The fullest daily metric of `totals` in tenths of a percent, and its name (nothing when no
/// daily limit).
std::optional<std::pair<std::uint64_t, std::string>> fullest_daily(const kp::Totals& totals) {
  std::optional<std::pair<std::uint64_t, std::string>> best;
  for (std::size_t m = 0; m < kp::metric_count; ++m) {
    if (totals.daily_capacity[m] == 0) continue;
    const std::uint64_t tenths = permille(totals.daily_used[m], totals.daily_capacity[m]);
    if (!best || tenths > best->first) best = {{tenths, std::string{kp::to_string(static_cast<kp::Metric>(m))}}};
  }
  return best;
}

/// One overview card per provider, in order: keys serving, today's fullest limit, a chip per key
/// and a chart that draws exactly the samples of `history` (GET /quota-status/history).
void check_overview(Checks& checks, const Element& page, const kp::Snapshot& snapshot, const nlohmann::json& history) {
  const auto cards = page.find_all([](const Element& e) { return e.tag == "section" && e.has_class("provider-card"); });
  checks.equal(cards.size(), snapshot.providers.size(), "overview: one card per provider");
  for (std::size_t i = 0; i < snapshot.providers.size() && i < cards.size(); ++i) {
    const kp::ProviderSnapshot& provider = snapshot.providers[i];
    const Element& card = *cards[i];
    const std::string what = "overview card " + provider.name;
    checks.equal(card.attr("data-provider"), provider.name, what + ": in order");
    const Element* serving = card.with("data-overview", "serving");
    checks.that(serving && serving->text_content() == grouped(provider.totals.available) + " of " +
                                                          grouped(provider.totals.keys) + " keys serving",
                what + ": keys serving ('" + (serving ? serving->text_content() : "") + "')");
    const auto fullest = fullest_daily(provider.totals);
    const Element* today = card.with("data-overview", "today");
    const std::string today_text =
        fullest ? percent_number(fullest->first) + "% of today's " + fullest->second : std::string{"no daily limit"};
    checks.that(today && today->text_content() == today_text,
                what + ": today '" + (today ? today->text_content() : "") + "', expected '" + today_text + "'");

    // A chip per key of the provider, in the snapshot's order, its label as text.
    std::vector<const kp::KeySnapshot*> keys;
    for (const kp::KeySnapshot& key : snapshot.keys)
      if (key.provider_name == provider.name) keys.push_back(&key);
    const auto chips = card.find_all([](const Element& e) { return e.has_class("chip"); });
    checks.equal(chips.size(), keys.size(), what + ": a chip per key");
    for (std::size_t k = 0; k < keys.size() && k < chips.size(); ++k) {
      checks.equal(chips[k]->attr("data-chip-key"), keys[k]->label, what + ": chips in order");
      checks.equal(chips[k]->attr("data-status"), std::string{kp::to_string(keys[k]->status)}, what + ": chip status");
      const Element* label = chips[k]->find([](const Element& e) { return e.has_class("chip-label"); });
      checks.that(label && label->text_content() == keys[k]->label && label->children.size() == 1 &&
                      label->children[0]->tag == "#text",
                  what + ": chip label '" + keys[k]->label + "' as text");
    }

    // The chart draws the provider's samples.
    const nlohmann::json* series = nullptr;
    for (const nlohmann::json& entry : history["providers"])
      if (entry["name"] == provider.name) series = &entry;
    const Element* chart = card.find([](const Element& e) { return e.tag == "svg"; });
    if (!checks.that(series != nullptr && chart != nullptr, what + ": a history and a chart")) continue;
    const std::size_t samples = (*series)["at"].size();
    std::uint64_t served_total = 0, bars = 0, points = 0;
    std::optional<double> last;
    for (std::size_t j = 0; j < samples; ++j) {
      const std::uint64_t served = (*series)["served"][j].get<std::uint64_t>();
      served_total += served;
      bars += served > 0 ? 1 : 0;
      if (!(*series)["percent"][j].is_null()) {
        ++points;
        last = (*series)["percent"][j].get<double>();
      }
    }
    checks.equal(chart->attr("data-samples"), std::to_string(samples), what + ": chart samples");
    checks.equal(chart->attr("data-bars"), std::to_string(bars), what + ": chart bars");
    checks.equal(chart->attr("data-points"), std::to_string(points), what + ": chart line points");
    checks.equal(chart->attr("data-served-total"), std::to_string(served_total), what + ": chart requests served");
    // The history began before the first request and ended at the snapshot: the bars add up to
    // the provider's successes, and the line ends at today's figure.
    checks.equal(served_total, provider.totals.successes, what + ": the history's served requests are the successes");
    checks.equal(chart->attr("data-last-tenths"),
                 last ? std::to_string(static_cast<std::uint64_t>(std::llround(*last * 10))) : std::string{},
                 what + ": chart ends at the last sample");
    checks.equal(chart->attr("data-last-tenths"), fullest ? std::to_string(fullest->first) : std::string{},
                 what + ": chart ends at today's figure");
    const Element* line = chart->find([](const Element& e) { return e.attr("data-series") == "percent"; });
    const std::string d = line ? line->attr("d") : "";
    checks.equal(static_cast<std::uint64_t>(std::count(d.begin(), d.end(), 'M') + std::count(d.begin(), d.end(), 'L')),
                 points, what + ": the line has a vertex per sample with a daily figure");
  }
}

/// The event list: newest first, each field as text (HTML in a label or a text is never markup).
void check_events(Checks& checks, const Element& page, const nlohmann::json& recent) {
  const Element* list = page.with("id", "event-list");
  if (!checks.that(list != nullptr, "events: the list is present")) return;
  const auto items = list->find_all([](const Element& e) { return e.tag == "li"; });
  checks.equal(items.size(), recent["events"].size(), "events: one item per recent event");
  for (std::size_t i = 0; i < items.size() && i < recent["events"].size(); ++i) {
    const nlohmann::json& event = recent["events"][i];
    const Element& item = *items[i];
    const std::string what = "event " + std::to_string(i);
    checks.equal(item.attr("data-seq"), std::to_string(event["seq"].get<std::uint64_t>()), what + ": newest first");
    checks.equal(item.attr("data-kind"), event["kind"].get<std::string>(), what + ": kind");
    const Element* at = item.find([](const Element& e) { return e.tag == "time"; });
    checks.that(at && at->text_content() == event["at"].get<std::string>(), what + ": time " + event["at"].get<std::string>());
    std::string who = event["provider"].get<std::string>();
    if (!event["key"].get<std::string>().empty()) who += " / " + event["key"].get<std::string>();
    if (event.contains("to_provider")) who += " → " + event["to_provider"].get<std::string>();
    const Element* who_node = item.find([](const Element& e) { return e.has_class("event-who"); });
    checks.that(who_node && who_node->text_content() == who,
                what + ": who '" + (who_node ? who_node->text_content() : "") + "', expected '" + who + "'");
    const Element* text = item.find([](const Element& e) { return e.has_class("event-text"); });
    checks.that(text && text->text_content() == event["text"].get<std::string>() &&
                    std::all_of(text->children.begin(), text->children.end(),
                                [](const Element* child) { return child->tag == "#text"; }),
                what + ": text as text ('" + (text ? text->text_content() : "") + "')");
  }
  checks.that(list->find([](const Element& e) { return e.tag != "li" && e.tag != "time" && e.tag != "span"; }) == nullptr,
              "events: no element but the list's own (no <script>, <img>, <b> from an event)");
}

/// The gateway's counters: each figure of GET /stats, and the answers table.
void check_stats(Checks& checks, const Element& page, const nlohmann::json& stats) {
  const Element* section = page.with("id", "gateway-stats");
  if (!checks.that(section != nullptr, "stats: the section is present")) return;
  for (const auto& [name, value] : stats["requests"].items()) {
    const Element* node = section->with("data-stat", name);
    checks.that(node && node->text_content() == grouped(value.get<std::uint64_t>()),
                "stats: " + name + " " + grouped(value.get<std::uint64_t>()));
  }
  const Element* started = section->with("data-stat", "started_at");
  checks.that(started && started->tag == "time" && started->text_content() == stats["started_at"].get<std::string>(),
              "stats: started at " + stats["started_at"].get<std::string>());
  const Element* uptime = section->with("data-stat", "uptime");
  checks.that(uptime && uptime->text_content() == countdown_text(stats["uptime_s"].get<double>()), "stats: uptime");
  // The answers table: a row per outcome (and the total), a column per provider.
  for (const nlohmann::json& provider : stats["upstream_answers"]) {
    const std::string name = provider["provider"].get<std::string>();
    for (const auto& [kind, value] : provider.items()) {
      if (kind == "provider") continue;
      const Element* row = section->with("data-outcome", kind);
      const Element* cell = row ? row->with("data-answers-provider", name) : nullptr;
      checks.that(cell && cell->text_content() == grouped(value.get<std::uint64_t>()),
                  "stats: " + name + " " + kind + " " + grouped(value.get<std::uint64_t>()));
    }
  }
}

/// One time format: every <time> holds UTC RFC 3339 in whole seconds (its datetime too), and no
/// clock time in the page's text lacks the 'Z' (no local time, no fraction of a second).
void check_times(Checks& checks, const Element& page, std::size_t at_least) {
  const std::regex rfc3339{R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$)"};
  const auto times = page.find_all([](const Element& e) { return e.tag == "time" && !e.hidden_in_tree(); });
  checks.that(times.size() >= at_least,
              "times: at least " + std::to_string(at_least) + " shown (" + std::to_string(times.size()) + ")");
  for (const Element* time : times) {
    const std::string text = time->text_content();
    checks.that(std::regex_match(text, rfc3339) && time->attr("datetime") == text,
                "times: '" + text + "' is UTC RFC 3339 in whole seconds, and its datetime");
  }
  const Element* body = page.find([](const Element& e) { return e.tag == "body"; });
  const std::string text = body ? body->text_content() : "";
  std::smatch bad;
  const bool other_format = std::regex_search(text, bad, std::regex{R"(\d\d:\d\d:\d\d(?!Z))"});
  checks.that(!other_format, "times: no other time format in the page ('" + (other_format ? bad.str() : std::string{}) + "')");
}

/// The page the layout check loads: the dashboard in a 1280×900 frame; once every card has its
/// chart (or after 4 s) it writes each card's box, in the frame's viewport, as JSON into #layout.
constexpr std::string_view layout_harness = R"(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>layout</title></head>
<body style="margin:0">
<iframe id="frame" src="/dashboard?refresh=1" style="width:1280px;height:900px;border:0;display:block"></iframe>
<pre id="layout"></pre>
<script>
const started = Date.now();
function measure() {
  const frame = document.getElementById('frame');
  const doc = frame.contentDocument;
  const cards = doc ? Array.from(doc.querySelectorAll('section.provider-card')) : [];
  const charted = cards.length > 0 && cards.every((card) => {
    const chart = card.querySelector('svg.history');
    return chart && Number(chart.getAttribute('data-samples')) > 0;
  });
  if (!charted && Date.now() - started < 4000) { setTimeout(measure, 100); return; }
  document.getElementById('layout').textContent = JSON.stringify({
    width: doc ? doc.documentElement.clientWidth : 0, height: doc ? doc.documentElement.clientHeight : 0,
    cards: cards.map((card) => {
      const box = card.getBoundingClientRect();
      return { provider: card.dataset.provider, top: box.top, left: box.left, bottom: box.bottom, right: box.right };
    })});
}
window.addEventListener('load', () => setTimeout(measure, 100));
</script>
</body></html>
)";

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path out_dir = argc > 1 ? std::filesystem::path{argv[1]} : std::filesystem::current_path();
  const auto chromium = gateway_test::find_chromium();
  if (chromium && ::access(chromium->c_str(), X_OK) != 0) {
    std::cerr << "gateway_dashboard_test: KEYPOOL_CHROMIUM=" << chromium->string()
              << " is not an executable file; point it at a Chromium or Chrome binary, or unset it\n";
    return 1;
  }
  if (!chromium) {
    if (const char* skip = std::getenv("KEYPOOL_SKIP_BROWSER"); skip != nullptr && std::string_view{skip} == "1") {
      std::cout << "gateway_dashboard_test: SKIPPED: no Chromium found and KEYPOOL_SKIP_BROWSER=1\n";
      return 77;
    }
    std::cerr << "gateway_dashboard_test: no Chromium found (looked for chromium, chromium-browser, google-chrome, "
                 "google-chrome-stable in PATH). Install the package 'chromium' (make deps does), or set "
                 "KEYPOOL_CHROMIUM=/path/to/chrome, or set KEYPOOL_SKIP_BROWSER=1 to skip this test.\n";
    return 1;
  }
  Checks checks;

  // --- A real pool with known usage -----------------------------------------------------------------
  std::uint64_t events_seen = 0;
  kp::clock::Manual clock{sys_days{2026y / November / 24} + 10h + 42min + 7s};
  // A ring of 4 that nobody drains: the pool's events overflow it, so events_dropped is not 0.
  Pool pool{kp::Capacity{16}, clock,
            Alerts{kp::alert::Callback{[&](const kp::Event&) { ++events_seen; }}, 4, kp::alert::manual_drain}};
  const auto groq = pool.add_provider("groq", 0);
  const auto gemini = pool.add_provider("gemini", 1);
  const auto mistral = pool.add_provider("mistral", 2);
  const std::vector<kp::Limit> groq_limits{kp::Limit::requests(30).per_minute(), kp::Limit::tokens(14'400).per_day()};
  const std::string html_label = "<img src=x onerror=\"document.title='pwned'\"> & \"quoted\" 'groq'";
  pool.add_key(groq, kp::Secret{"gsk_dashboard_test_key_1"}, groq_limits, {.label = "groq-1"});
  pool.add_key(groq, kp::Secret{"gsk_dashboard_test_key_2"}, groq_limits, {.label = "groq-2"});
  pool.add_key(groq, kp::Secret{"gsk_dashboard_test_key_3"}, groq_limits, {.label = html_label});
  pool.add_key(gemini, kp::Secret{"AIza_dashboard_test_key_1"},
               {kp::Limit::requests(1'500).per_day().reset_zone(kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0")),
                kp::Limit::tokens(32'000).per_request()},
               {.label = "gemini-1"});
  pool.add_key(gemini, kp::Secret{"AIza_dashboard_test_key_2"}, {kp::Limit::requests(30).per(60s)},
               {.label = "gemini-2"});
  const kp::KeyId mistral_1 = pool.add_key(mistral, kp::Secret{"mistral_dashboard_test_key_1"},
                                           {kp::Limit::units(20'000).per_month()}, {.label = "mistral-1"});
  pool.add_key(mistral, kp::Secret{"mistral_dashboard_test_key_2"}, {kp::Limit::spend(5'000'000).per_day()},
               {.label = "mistral-2"});
  pool.add_key(groq, kp::Secret{"gsk_dashboard_test_key_models"}, {kp::Limit::requests(30).per_minute()},
               {.label = "groq-models",
                .models = {{"llama-3.1-8b-instant", {kp::Limit::requests(14'400).per_day(), kp::Limit::tokens(6'000).per_minute()}},
                           {"llama-3.3-70b-versatile", {kp::Limit::tokens(12'000).per_minute()}}}});
  // A fourth provider of three keys: the overview must still fit one screen.
  const auto openrouter = pool.add_provider("openrouter", 3);
  for (int i = 1; i <= 3; ++i)
    pool.add_key(openrouter, kp::Secret{"sk-or-dashboard-test-key-" + std::to_string(i)},
                 {kp::Limit::requests(200).per_day()}, {.label = "openrouter-" + std::to_string(i)});

  // The usage history, sampled before any request, as the clock moves (by 30.123 s: the page
  // must show whole seconds), and at the snapshot's time.
  gateway::History history{{.every = 30s, .span = 10min}};
  history.sample(pool.snapshot());
  const auto step = [&] {
    clock.advance(30s + 123ms);
    history.sample(pool.snapshot());
  };

  const auto spend = [&](std::uint64_t key, kp::Request request, int times) {
    request.affinity = key;
    for (int i = 0; i < times; ++i) {
      kp::Lease lease = pool.acquire(request);
      if (!lease) throw std::runtime_error("test setup: key " + std::to_string(key) + " refused a request");
      lease.commit();
    }
  };
  spend(0, {.tokens = 960}, 12);  // groq-1: 11,520 of 14,400 tokens: 80%, warning
  {
    kp::Lease lease = pool.acquire({.affinity = 0});
    lease.fail(kp::Outcome::transient().with_status(503));  // a failure in its health counters
  }
  step();
  spend(1, {.tokens = 14'400}, 1);   // groq-2: the day's tokens, exhausted
  step();
  spend(2, {.tokens = 1'000}, 1);    // the HTML label: 6.9%
  spend(3, {.tokens = 20'000}, 1'400);  // gemini-1: 1,400 of 1,500 requests: 93.3%, critical
  step();  // the last move of the clock: gemini-2's 20 s rest below must still show
  spend(4, {}, 10);                  // gemini-2: rolling
  {
    kp::Lease lease = pool.acquire({.affinity = 4});
    lease.fail(kp::Outcome::rate_limited(20s).with_status(429));  // cooling down for 20 s
  }
  spend(5, {.units = 5'000}, 1);  // mistral-1: 25%, then disabled
  pool.disable(mistral_1);
  spend(6, {.spend = 1'234'567}, 1);  // mistral-2: $1.23 of $5 a day: 24.6%
  spend(7, {.tokens = 5'000, .model = pool.model("llama-3.1-8b-instant")}, 1);  // groq-models: the 8b model's minute at 83.3%
  spend(8, {}, 50);  // openrouter-1: 25%
  spend(9, {}, 20);  // openrouter-2: 10%
  history.sample(pool.snapshot());

  const kp::Snapshot snapshot = pool.snapshot();
  checks.that(snapshot.events_dropped > 0, "test setup: the tiny ring dropped events");
  checks.that(snapshot.keys[0].status == kp::KeyStatus::warning && snapshot.keys[1].status == kp::KeyStatus::exhausted &&
                  snapshot.keys[3].status == kp::KeyStatus::critical &&
                  snapshot.keys[4].status == kp::KeyStatus::cooling_down &&
                  snapshot.keys[5].status == kp::KeyStatus::disabled,
              "test setup: the keys have the statuses the test means to show");
  checks.that(snapshot.at.time_since_epoch() % 1s != 0ns, "test setup: the snapshot's time has a fraction of a second");

  // The recent events: a threshold on the key whose label holds HTML, a failover, and a retry
  // of the gateway whose text holds HTML and a script.
  gateway::RecentEvents recent{50};
  recent.push(kp::Event{.kind = kp::EventKind::threshold_crossed, .at = snapshot.at - 95s, .provider_name = "groq",
                        .key_label = html_label, .metric = kp::Metric::tokens, .window = "day", .level = 0.8,
                        .used = 11'520, .limit = 14'400, .resets_at = snapshot.at + 13h});
  recent.push(kp::Event{.kind = kp::EventKind::failover, .at = snapshot.at - 60s, .provider_name = "groq",
                        .to_provider_name = "gemini"});
  const std::string hostile_text = "attempt 1: groq/groq-2 answered 429 </li><script>document.title='pwned'</script> & <b>x</b>";
  recent.push(snapshot.at - 2s, "retry", "groq", "groq-2", hostile_text);

  // The gateway's counters, as GET /stats writes them.
  gateway::Counters counters;
  counters.started = snapshot.at - 3h - 25min - 9s;
  counters.now = snapshot.at;
  counters.results = {{"ok", 1'427}, {"provider_error", 2}, {"client_limited", 3}, {"keys_exhausted", 41},
                      {"upstream_failed", 0}, {"invalid_request", 5}};
  counters.providers = {{"groq", {{"success", 15}, {"rate_limited", 1}, {"transient", 1}, {"no_answer", 0}}},
                        {"gemini", {{"success", 1'410}, {"rate_limited", 1}, {"transient", 0}, {"no_answer", 2}}}};
  const nlohmann::json history_doc = nlohmann::json::parse(history.to_json(clock.now()));
  const nlohmann::json recent_doc = nlohmann::json::parse(recent.to_json(50));
  const nlohmann::json stats_doc = nlohmann::json::parse(gateway::counters_json(counters));
  checks.equal(recent_doc["events"].size(), std::size_t{3}, "test setup: three recent events");
  checks.equal(recent_doc["events"][2]["text"].get<std::string>(),
               "metric=tokens window=day level=80% used=11520 limit=14400 resets_at=" +
                   gateway::utc_seconds(snapshot.at + 13h),
               "an event's text: its fields but the provider and key, times in whole seconds");

  // --- The gateway's two endpoints ------------------------------------------------------------------
  enum class Mode { serve, fail_after_first, always_fail };
  std::atomic<Mode> mode{Mode::serve};
  std::atomic<int> status_requests{0};
  gateway_test::LocalServer server;
  server.server().Get("/dashboard", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(std::string{gateway::dashboard_html}, "text/html; charset=utf-8");
  });
  server.server().Get("/quota-status", [&](const httplib::Request&, httplib::Response& res) {
    const int n = status_requests.fetch_add(1);
    const Mode m = mode.load();
    if (m == Mode::always_fail || (m == Mode::fail_after_first && n > 0)) {
      res.status = 503;
      res.set_content("gateway stopping", "text/plain");
      return;
    }
    res.set_header("Cache-Control", "no-store");
    res.set_content(kp::to_json(pool.snapshot()), "application/json");
  });
  server.server().Get("/quota-status/history", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(history.to_json(clock.now()), "application/json");
  });
  server.server().Get("/events/recent", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(recent.to_json(50), "application/json");
  });
  server.server().Get("/stats", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(gateway::counters_json(counters), "application/json");
  });
  server.server().Get("/layout", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string{layout_harness}, "text/html; charset=utf-8");
  });
  server.start();

  {  // The page itself, as a client gets it.
    httplib::Client client{"127.0.0.1", server.port()};
    const auto page = client.Get("/dashboard");
    checks.that(page && page->status == 200 && page->body == gateway::dashboard_html, "GET /dashboard serves the page");
    checks.that(page && page->get_header_value("Content-Type") == "text/html; charset=utf-8", "the page is HTML");
    checks.that(gateway::dashboard_html.find("http://") == std::string_view::npos &&
                    gateway::dashboard_html.find("https://") == std::string_view::npos &&
                    gateway::dashboard_html.find("innerHTML") == std::string_view::npos,
                "the page loads nothing from elsewhere and never writes HTML from strings");
    checks.that(gateway::dashboard_html.find("toLocale") == std::string_view::npos &&
                    gateway::dashboard_html.find("<img") == std::string_view::npos &&
                    gateway::dashboard_html.find("<svg") != std::string_view::npos,
                "the page writes no local time, and draws its charts as inline SVG");
  }

  const gateway_test::TempDir scratch{"keypool-dashboard-test-"};
  const std::filesystem::path browser_log = out_dir / "dashboard-chromium.log";
  std::filesystem::remove(browser_log);
  const auto browse = [&](std::string_view query, std::vector<std::string> extra, std::string_view path = "/dashboard") {
    const gateway_test::TempDir profile{"keypool-chromium-profile-"};
    std::vector<std::string> command = gateway_test::chromium_command(*chromium, profile.path());
    for (std::string& arg : extra) command.push_back(std::move(arg));
    command.push_back(server.url(path) + std::string{query});
    const auto started = steady_clock::now();
    gateway_test::RunResult result = gateway_test::run(command, 60s, browser_log);
    std::cout << "chromium " << command[command.size() - 2] << " " << command.back() << ": exit " << result.exit_code
              << ", " << duration_cast<milliseconds>(steady_clock::now() - started).count() << " ms\n";
    checks.that(!result.timed_out, "chromium finished within 60 s");
    checks.that(result.exit_code == 0, "chromium exited with 0 (see " + browser_log.string() + ")");
    return result;
  };
  const auto dump = [&](std::string_view query) {
    return browse(query, {"--virtual-time-budget=5000", "--dump-dom"}).out;
  };

  // 1. The page shows exactly what the pool holds.
  const std::string dom_text = dump("?refresh=2");
  std::ofstream{out_dir / "dashboard-dom.html"} << dom_text;
  checks.that(status_requests.load() >= 2, "the page polled /quota-status more than once (" +
                                               std::to_string(status_requests.load()) + " requests)");
  const Document dom{dom_text};
  check_page(checks, dom, snapshot);
  {
    const Element* card = dom.root().find([&](const Element& e) { return e.attr("data-key") == html_label; });
    const Element* heading = card ? dom.root().with("id", card->attr("aria-labelledby")) : nullptr;
    checks.that(heading != nullptr && heading->text_content() == html_label && heading->children.size() == 1 &&
                    heading->children[0]->tag == "#text",
                "a label holding HTML is shown as text");
  }
  check_overview(checks, dom.root(), snapshot, history_doc);
  check_events(checks, dom.root(), recent_doc);
  check_stats(checks, dom.root(), stats_doc);
  {
    const Element* list = dom.root().with("id", "event-list");
    checks.that(list != nullptr && list->text_content().find(hostile_text) != std::string::npos,
                "an event text holding HTML and a script is shown as text");
  }
  // Times: the header's two, each event's, each chart's end, the gateway's start.
  check_times(checks, dom.root(), 2 + recent_doc["events"].size() + snapshot.providers.size() + 1);

  // 2. The gateway stops answering: the page keeps the last data and says so.
  mode = Mode::fail_after_first;
  status_requests = 0;
  {
    const Document stale{dump("?refresh=1")};
    const Element& page = stale.root();
    const Element* error = page.with("id", "error");
    const std::string message = error ? error->text_content() : "";
    checks.that(error && !error->hidden() && error->attr("role") == "alert", "gateway down: an alert banner");
    checks.that(message.find("HTTP 503") != std::string::npos && message.find("Showing the last data") != std::string::npos,
                "gateway down: the banner says why and that the data is the last received ('" + message + "')");
    const Element* connection = page.with("id", "connection");
    checks.that(connection && connection->attr("data-state") == "offline", "gateway down: connection 'offline'");
    const Element* body = page.find([](const Element& e) { return e.tag == "body"; });
    checks.that(body && body->has_class("stale"), "gateway down: the data is marked stale");
    const auto cards = page.find_all([](const Element& e) { return e.tag == "article" && e.has_class("key"); });
    checks.equal(cards.size(), snapshot.keys.size(), "gateway down: the last data stays on the page");
    const Element* groq_1 = page.find([](const Element& e) { return e.attr("data-key") == "groq-1"; });
    const Element* row = groq_1 ? groq_1->with("data-limit", "1") : nullptr;
    checks.that(row && row->attr("data-used") == "11520", "gateway down: the last numbers are kept");
  }

  // 3. The gateway never answered: a banner, no data.
  mode = Mode::always_fail;
  {
    const Document empty{dump("?refresh=1")};
    const Element& page = empty.root();
    const Element* error = page.with("id", "error");
    checks.that(error && !error->hidden() && error->text_content().find("No data received yet") != std::string::npos,
                "never answered: the banner says no data came");
    const Element* pool_section = page.with("id", "pool");
    checks.that(pool_section && pool_section->hidden(), "never answered: no pool summary");
    checks.that(page.find([](const Element& e) { return e.tag == "article"; }) == nullptr, "never answered: no key card");
    checks.that(page.find([](const Element& e) { return e.has_class("provider-card"); }) == nullptr,
                "never answered: no provider card");
  }

  // 4. Screenshots, for people: desktop and phone width.
  mode = Mode::serve;
  const std::filesystem::path desktop = out_dir / "dashboard.png";
  const std::filesystem::path phone = out_dir / "dashboard-phone.png";
  std::filesystem::remove(desktop);
  std::filesystem::remove(phone);
  browse("", {"--virtual-time-budget=3000", "--window-size=1280,900", "--screenshot=" + desktop.string()});
  check_png(checks, desktop, 1280, 900, 20'000);
  browse("", {"--virtual-time-budget=3000", "--window-size=390,844", "--screenshot=" + phone.string()});
  check_png(checks, phone, 390, 844, 10'000);
  std::cout << "screenshots: " << desktop.string() << ", " << phone.string() << "\n";

  // 5. The layout: in a 1280×900 frame, every provider's card (four providers of two to four
  // keys each) is inside the viewport, without scrolling.
  {
    const Document harness{browse("", {"--virtual-time-budget=8000", "--window-size=1400,1100", "--dump-dom"}, "/layout").out};
    const Element* out = harness.root().with("id", "layout");
    const auto layout = nlohmann::json::parse(out ? out->text_content() : std::string{}, nullptr, false);
    if (checks.that(layout.is_object() && layout["cards"].is_array(),
                    "layout: the frame reported its cards ('" + (out ? out->text_content() : "") + "')")) {
      const double width = layout["width"].get<double>(), height = layout["height"].get<double>();
      checks.that(width >= 1260 && width <= 1280 && height >= 880 && height <= 900,
                  "layout: the frame's viewport is 1280x900 (" + layout["width"].dump() + "x" + layout["height"].dump() + ")");
      checks.equal(layout["cards"].size(), snapshot.providers.size(), "layout: a card per provider");
      for (const kp::ProviderSnapshot& provider : snapshot.providers) {
        const nlohmann::json* box = nullptr;
        for (const nlohmann::json& card : layout["cards"])
          if (card["provider"] == provider.name) box = &card;
        if (!checks.that(box != nullptr, "layout: " + provider.name + " has a card")) continue;
        const double top = (*box)["top"].get<double>(), left = (*box)["left"].get<double>();
        const double bottom = (*box)["bottom"].get<double>(), right = (*box)["right"].get<double>();
        checks.that(top >= 0 && left >= 0 && bottom <= height && right <= width && bottom - top > 100 && right - left > 200,
                    "layout: " + provider.name + "'s card is inside the 1280x900 viewport (" + box->dump() + ")");
      }
    }
  }

  checks.that(events_seen == 0, "the queued sink was never drained (its ring only counted drops)");
  return checks.summary("gateway_dashboard_test");
}
