// Starting a daemon coroutine: one way for every room (supervisor operations, job tasks). An
// exception that escapes the coroutine is a bug; it is logged as "internal error in <what>: …"
// and never rethrown into the event loop, which must keep serving every other service.
// Loop thread only. Includes Boost.Asio: for daemon .cc files and private headers only.
#pragma once

#include <utility>  // before asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>
#include <exception>
#include <string>

#include "daemon/event_hub.h"

namespace vg {

inline void SpawnLogged(boost::asio::io_context& io, boost::asio::awaitable<void> task,
                        EventHub& events, const char* what) {
  boost::asio::co_spawn(io, std::move(task), [&events, what](const std::exception_ptr& e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      events.Log(std::string("internal error in ") + what + ": " + ex.what());
    }
  });
}

}  // namespace vg
