// Resolves KeyPool<Policies...> — policies in any order, each at most once, missing ones
// defaulted — to BasicKeyPool<Select, Store, Alerts, Clock>, refusing bad packs with a message
// that names the problem.
#pragma once

#include <type_traits>
#include <utility>

#include <keypool/concepts.hpp>

namespace keypool::detail {

// --- The pool's constructor arguments: any order, each at most once --------------------------

/// How many of Args are T (after removing references and cv).
template <class T, class... Args>
constexpr int count_of() noexcept {
  return (int{std::is_same_v<T, std::remove_cvref_t<Args>>} + ... + 0);
}
template <class T, class... Accepted>
inline constexpr bool is_one_of = (std::is_same_v<T, Accepted> || ...);

template <class T, class First, class... Rest>
decltype(auto) find_arg(First&& first, Rest&&... rest) noexcept {
  if constexpr (std::is_same_v<T, std::remove_cvref_t<First>>) return std::forward<First>(first);
  else return find_arg<T>(std::forward<Rest>(rest)...);
}
/// The argument of type T (copied or moved as it was passed), or a default T. Each argument is
/// forwarded to exactly one member, so moving from it is safe.
template <class T, class... Args>
T pick_arg(Args&&... args) {
  if constexpr (count_of<T, Args...>() == 0) return T{};
  else return T(find_arg<T>(std::forward<Args>(args)...));
}

template <class T> inline constexpr bool is_selection_v = SelectionPolicy<T>;
template <class T> inline constexpr bool is_storage_v = StoragePolicy<T>;
template <class T> inline constexpr bool is_alert_v = AlertSink<T>;
template <class T> inline constexpr bool is_clock_v = ClockPolicy<T>;

template <class T>
inline constexpr int family_count_v = int{is_selection_v<T>} + int{is_storage_v<T>} + int{is_alert_v<T>} + int{is_clock_v<T>};

/// Instantiated once per policy type so the compiler's note names the offending type.
template <class Policy>
struct check_policy {
  static_assert(family_count_v<Policy> != 0,
                "keypool::KeyPool: this policy type satisfies none of SelectionPolicy (select(ctx) -> bool), "
                "StoragePolicy (reserve, bind, flush), AlertSink (emit(const Event&)) or ClockPolicy "
                "(now() -> TimePoint); see <keypool/concepts.hpp> for each family's requirements");
  static_assert(family_count_v<Policy> <= 1,
                "keypool::KeyPool: this policy type satisfies more than one policy family at once; "
                "a policy must belong to exactly one of selection, storage, alerts, clock");
  static constexpr bool ok = family_count_v<Policy> == 1;
};

template <template <class> class Pred, class Default, class... Policies>
struct pick {
  using type = Default;
};
template <template <class> class Pred, class Default, class First, class... Rest>
struct pick<Pred, Default, First, Rest...> {
  using type = std::conditional_t<Pred<First>::value, First, typename pick<Pred, Default, Rest...>::type>;
};

template <class T> struct selection_pred : std::bool_constant<is_selection_v<T>> {};
template <class T> struct storage_pred : std::bool_constant<is_storage_v<T>> {};
template <class T> struct alert_pred : std::bool_constant<is_alert_v<T>> {};
template <class T> struct clock_pred : std::bool_constant<is_clock_v<T>> {};

template <template <class, class, class, class> class Pool, class DefaultSelect, class DefaultStore,
          class DefaultAlerts, class DefaultClock, class... Policies>
struct resolve_pool {
  static_assert((check_policy<Policies>::ok && ...), "keypool::KeyPool: invalid policy (see the note above)");
  static_assert((int{is_selection_v<Policies>} + ... + 0) <= 1,
                "keypool::KeyPool: two selection policies given; pass at most one (a policy may wrap another)");
  static_assert((int{is_storage_v<Policies>} + ... + 0) <= 1,
                "keypool::KeyPool: two storage policies given; pass at most one");
  static_assert((int{is_alert_v<Policies>} + ... + 0) <= 1,
                "keypool::KeyPool: two alert sinks given; pass one sink (one that forwards to several if needed)");
  static_assert((int{is_clock_v<Policies>} + ... + 0) <= 1,
                "keypool::KeyPool: two clocks given; pass at most one");
  static_assert(((std::is_same_v<Policies, std::remove_cvref_t<Policies>>) && ...),
                "keypool::KeyPool: pass policy types without const, volatile or references");

  using type = Pool<typename pick<selection_pred, DefaultSelect, Policies...>::type,
                    typename pick<storage_pred, DefaultStore, Policies...>::type,
                    typename pick<alert_pred, DefaultAlerts, Policies...>::type,
                    typename pick<clock_pred, DefaultClock, Policies...>::type>;
};

}  // namespace keypool::detail
