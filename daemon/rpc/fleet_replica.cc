#include "daemon/rpc/fleet_replica.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <charconv>

#include "daemon/os/offload.h"
#include "daemon/rpc/handlers.h"
#include "daemon/rpc/request.h"

namespace vigil {
namespace asio = boost::asio;

namespace {

std::string member(const std::string& json, const char* key) {
  boost::system::error_code ec;
  auto v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) return {};
  const auto* m = v.as_object().if_contains(key);
  return m && m->is_string() ? std::string(m->as_string()) : std::string();
}

asio::awaitable<Lookup> resolve(Services& sv, const std::string& account) {
  if (account.starts_with("uid:")) {
    int64_t uid = -1;
    const char* b = account.data() + 4;
    auto [p, ec] = std::from_chars(b, account.data() + account.size(), uid);
    if (ec != std::errc() || p != account.data() + account.size() || uid < 0) co_return Lookup{Lookup::Status::kNotFound, {}};
    auto by_uid = sv.resolver->by_uid(static_cast<uid_t>(uid));
    Lookup l = co_await std::move(by_uid);
    co_return l;
  }
  auto by_name = sv.resolver->by_name(account);  // named: GCC 12 and co_await temporaries
  Lookup l = co_await std::move(by_name);
  co_return l;
}

asio::awaitable<void> apply(Services& sv, fleet::Event e, std::function<void(bool)> done) {
  if (e.kind != "block" && e.kind != "unblock") {
    done(true);
    co_return;
  }
  auto resolving = resolve(sv, e.account);
  const Lookup l = co_await std::move(resolving);
  if (l.status == Lookup::Status::kError) {
    done(false);
    co_return;
  }
  const auto& id = l.id;
  if (!l.found() || sv.fleet->account_of(id.uid, id.name) != e.account) {
    done(true);
    co_return;
  }
  const std::string actor = e.actor.empty() ? std::string("vigild") : e.actor;
  const std::string by = actor + " (fleet, host " + e.host + ")";
  if (e.kind == "block") {
    std::string reason = member(e.details, "reason");
    if (reason.empty()) reason = "blocked in the fleet";
    const bool admin = is_admin(*sv.config, id) || id.uid == 0;
    auto start = [&](auto deliver) { sv.engine->block(id.uid, id.name, reason, by, admin, std::move(deliver)); };
    auto res = co_await await_callback<BlockResult>(start);
    if (res.status) sv.drop_step_ups(id.uid);
    done(static_cast<bool>(res.status));
    co_return;
  }
  RecoverRequest req;
  req.uid = id.uid;
  req.name = id.name;
  req.actor_uid = -1;  // checked in the database (vigil.recover)
  req.by = by;
  req.reason = member(e.details, "reason");
  if (req.reason.empty()) req.reason = "recovered in the fleet";
  auto start = [&](auto deliver) { sv.engine->recover(std::move(req), std::move(deliver)); };
  auto res = co_await await_callback<RecoverResult>(start);  // logs the unblock
  done(static_cast<bool>(res.status));
}

}  // namespace

asio::awaitable<bool> fleet_applied(Services& sv, int64_t seq) {
  const auto deadline = std::chrono::steady_clock::now() + 2 * sv.config->fleet.propagation;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  sv.fleet->poke();
  while (sv.fleet->position().applied < seq) {
    if (std::chrono::steady_clock::now() >= deadline) co_return false;
    timer.expires_after(std::chrono::milliseconds(10));
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return true;
}

// The blocks of fleet accounts this host holds, for a re-assertion: the
// engine knows a block-only account by uid, so its name comes from NSS.
asio::awaitable<void> held_blocks(
    Services& sv, std::function<void(Result<std::vector<std::array<std::string, 3>>>)> done) {
  auto start = [&](auto deliver) { sv.engine->list(std::move(deliver)); };
  auto rows = co_await await_callback<Result<std::vector<AccountSummary>>>(start);
  if (!rows) {
    done(rows.error());
    co_return;
  }
  std::vector<std::array<std::string, 3>> out;
  for (const auto& a : *rows) {
    if (!a.block || !a.account.uid) continue;
    std::string name = a.account.name;
    if (name.empty()) {
      auto looking = sv.resolver->by_uid(static_cast<uid_t>(*a.account.uid));  // named: GCC 12
      const Lookup l = co_await std::move(looking);
      if (l.status == Lookup::Status::kError) {
        done(Error::Store("user lookup failed (NSS error)"));
        co_return;
      }
      if (!l.found()) continue;
      name = l.id.name;
    }
    if (auto key = sv.fleet->account_of(*a.account.uid, name)) out.push_back({*key, a.block->reason, a.block->by});
  }
  done(std::move(out));
}

fleet::JournalAccess fleet_journal(Services& sv, asio::io_context& io) {
  fleet::JournalAccess j;
  Engine* engine = sv.engine;
  j.info = [engine](auto done) { engine->journal_info(std::move(done)); };
  j.read = [engine](int64_t limit, auto done) { engine->journal(0, limit, std::move(done)); };
  j.taken = [engine](int64_t upto, auto done) { engine->journal_taken(upto, std::move(done)); };
  j.blocks = [&sv, &io](auto done) { asio::co_spawn(io, held_blocks(sv, std::move(done)), asio::detached); };
  return j;
}

fleet::Applier fleet_applier(Services& sv, asio::io_context& io) {
  return [&sv, &io](const fleet::Event& e, std::function<void(bool)> done) {
    asio::co_spawn(make_priority_executor(io), apply(sv, e, std::move(done)), asio::detached);
  };
}

}  // namespace vigil
