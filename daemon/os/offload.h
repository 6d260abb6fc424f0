// Bridges from callbacks and thread pools back into coroutines.
//
//  * await_callback<R>(start): calls start(deliver) once; whoever holds
//    `deliver` calls it exactly once, from any thread, with the result; the
//    awaiting coroutine resumes on its own executor.
//  * offload(pool, fn): runs a blocking fn() on a thread pool and resumes the
//    awaiting coroutine with its result.
//
// Note: GCC 12 mis-handles lambda temporaries inside co_await expressions
// (they can be destroyed twice). Keep every callable passed here in a named
// variable, and keep co_await operands free of lambda temporaries.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <type_traits>
#include <utility>

namespace vigil {

template <class R, class Start>
boost::asio::awaitable<R> await_callback(Start& start) {
  auto ex = co_await boost::asio::this_coro::executor;
  auto init = [ex, &start](auto handler) {
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    start([ex, shared](R result) {
      boost::asio::post(ex, [shared, result = std::move(result)]() mutable {
        (*shared)(std::move(result));
      });
    });
  };
  R result = co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(R)>(
      init, boost::asio::use_awaitable);
  co_return result;
}

template <class Pool, class F>
boost::asio::awaitable<std::invoke_result_t<F>> offload(Pool& pool, F fn) {
  using R = std::invoke_result_t<F>;
  auto start = [&pool, &fn](auto deliver) {
    boost::asio::post(pool, [&fn, deliver = std::move(deliver)]() mutable { deliver(fn()); });
  };
  R result = co_await await_callback<R>(start);
  co_return result;
}

}  // namespace vigil
