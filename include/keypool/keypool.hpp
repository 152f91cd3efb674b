// keypool: one include for the whole library except optional backends (store::MappedFile,
// store::Redis have headers of their own).
#pragma once

#include <keypool/alert/callback.hpp>
#include <keypool/alert/fanout.hpp>
#include <keypool/alert/null.hpp>
#include <keypool/alert/ostream.hpp>
#include <keypool/alert/queued.hpp>
#include <keypool/classify.hpp>
#include <keypool/clock/coarse.hpp>
#include <keypool/clock/manual.hpp>
#include <keypool/clock/system.hpp>
#include <keypool/concepts.hpp>
#include <keypool/env.hpp>
#include <keypool/error.hpp>
#include <keypool/events.hpp>
#include <keypool/export/json.hpp>
#include <keypool/export/prometheus.hpp>
#include <keypool/key_pool.hpp>
#include <keypool/lease.hpp>
#include <keypool/limit.hpp>
#include <keypool/monitor.hpp>
#include <keypool/options.hpp>
#include <keypool/outcome.hpp>
#include <keypool/request.hpp>
#include <keypool/secret.hpp>
#include <keypool/select/priority.hpp>
#include <keypool/select/round_robin.hpp>
#include <keypool/select/score.hpp>
#include <keypool/select/shortest_wait.hpp>
#include <keypool/select/sticky.hpp>
#include <keypool/select/two_choices.hpp>
#include <keypool/select/weighted.hpp>
#include <keypool/snapshot.hpp>
#include <keypool/store/memory.hpp>
#include <keypool/time.hpp>
#include <keypool/zone.hpp>
