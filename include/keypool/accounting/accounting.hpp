// keypool::accounting: how usage is counted. A store declares the accounting it needs with
// `using accounting = …;` (none: accounting::Local); the pool counts through it and never
// branches on the kind of store. docs/architecture.md shows where each piece sits.
//
//   accounting::Local   the counter words are the usage (store::Memory, store::MappedFile)
//   accounting::Leased  the counter words are hands of quota leased from a backend (store::Redis)
#pragma once

#include <keypool/accounting/leased.hpp>
#include <keypool/accounting/local.hpp>

#include <concepts>

namespace keypool::detail {
template <class Store>
struct accounting_of {
  using type = accounting::Local;
};
template <class Store>
  requires requires { typename Store::accounting; }
struct accounting_of<Store> {
  using type = typename Store::accounting;
};
}  // namespace keypool::detail

namespace keypool::accounting {

/// The accounting a store declares (`Store::accounting`), or Local.
template <class Store>
using of = typename keypool::detail::accounting_of<Store>::type;

/// An accounting the pool can count with for `Store`: Local, or Leased with a store that offers
/// every hook Leased calls (see LeasingStore).
template <class A, class Store>
concept AccountingFor = (std::same_as<A, Local> || std::same_as<A, Leased>) && A::template fits<Store>;

}  // namespace keypool::accounting
