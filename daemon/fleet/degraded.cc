// Fleet degraded mode: entering it, the catch-up, leaving it (fleet.h).
#include <boost/asio/post.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cstdio>

#include "daemon/core/clock.h"
#include "daemon/core/log.h"
#include "daemon/fleet/fleet.h"

namespace vigil::fleet {
namespace {

std::string seconds_since(std::chrono::steady_clock::time_point t) {
  char buf[32];
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t);
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

std::string column(const Rows& r, const char* name) {
  const int i = r.column(name);
  return i >= 0 && !r.rows.empty() && r.rows[0][i] ? *r.rows[0][i] : std::string();
}

int64_t number_of(const std::string& s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

void Fleet::enter_degraded(const std::string& why) {
  const bool was_catching = catching();
  ++catch_gen_;  // a catch-up in flight stops at its next step
  state_.phase.clear();
  if (state_.degraded) {
    state_.why = why;
    log::event(log::Priority::kWarning, log::kMsgFleetUnreachable,
               std::string(was_catching ? "fleet database lost again during the catch-up: "
                                        : "fleet database unreachable: ") +
                   why + "; still in degraded mode (deciding alone, journaling)",
               {{"VIGIL_HOST", host_name_}, {"VIGIL_REASON", why}});
    return;
  }
  state_.degraded = true;
  state_.why = why;
  state_.since = std::chrono::system_clock::now();
  degraded_steady_ = std::chrono::steady_clock::now();
  replayed_this_time_ = 0;
  applied_at_degrade_ = position_.applied;
  log::event(log::Priority::kErr, log::kMsgFleetDegraded,
             "fleet: degraded mode: " + why + "; fleet accounts are decided on this host alone (deny_offline = " +
                 std::to_string(cfg_.deny_offline) + ", second factor: " +
                 (cfg_.offline_totp_password_only ? "password only" : "refused") +
                 ", administrators: " + (cfg_.offline_admins_allow ? "allowed" : "refused") +
                 ") and journaled until the database answers and this host has caught up",
             {{"VIGIL_HOST", host_name_}, {"VIGIL_REASON", why}});
}

void Fleet::catch_up() {
  if (stopped_ || catching() || replicating_ || !conn_->ready()) return;
  if (!state_.degraded) return poke();
  const uint64_t gen = ++catch_gen_;
  state_.phase = "identity";
  if (!journal_.info) return catch_up_identity();
  journal_.info([this, gen](Result<std::pair<std::string, int64_t>> r) {
    boost::asio::post(ex_, [this, gen, r = std::move(r)] {
      if (gen != catch_gen_ || stopped_) return;
      if (!r) return catch_up_failed(Error::Store("the journal cannot be read: " + r.error().message));
      journal_id_ = r->first;
      if (r->second > 0) journal_pending_ = true;
      catch_up_identity();
    });
  });
}

// The server's identity: a history that lost the event this host applied
// last (a restore from backup, a rewind, a failover to a standby that was
// behind) makes it re-assert the blocks it holds, then take a snapshot.
void Fleet::catch_up_identity() {
  const uint64_t gen = catch_gen_;
  conn_->call("vigil_identity", {Value(std::to_string(position_.applied))}, [this, gen](Result<Rows> r) {
    if (gen != catch_gen_ || stopped_) return;
    if (!r) return catch_up_failed(r.error());
    if (r->rows.size() != 1) return catch_up_failed(Error::Store("the server's identity: no answer"));
    const std::string sysid = column(*r, "sysid");
    const std::string wal = column(*r, "wal");
    const std::string timeline = wal.size() >= 8 ? wal.substr(0, 8) : std::string();
    const int64_t max_seq = number_of(column(*r, "max_seq"));
    const std::string fp = column(*r, "fingerprint");
    if (!position_.system_identifier.empty() && sysid != position_.system_identifier)
      log::warning("fleet: the database is another cluster now (system_identifier " + sysid + ", was " +
                   position_.system_identifier + "): a restore or a new server");
    else if (!position_.timeline.empty() && !timeline.empty() && timeline != position_.timeline)
      log::info("fleet: the database's timeline is now " + timeline + " (was " + position_.timeline +
                  "): a failover, a rewind or a point-in-time restore");
    std::string lost;
    const bool other_cluster = !position_.system_identifier.empty() && sysid != position_.system_identifier;
    if (position_.known && max_seq < position_.applied)
      lost = "its newest event is " + std::to_string(max_seq) + ", and this host had applied " +
             std::to_string(position_.applied);
    else if (position_.known && !position_.fingerprint.empty() && fp != position_.fingerprint)
      lost = "its event " + std::to_string(position_.applied) + " is not the one this host applied";
    else if (position_.known && position_.fingerprint.empty() && other_cluster && position_.applied > 0)
      lost = "another cluster, and this host cannot tell its history from the one it applied";
    position_.system_identifier = sysid;
    if (!timeline.empty()) position_.timeline = timeline;
    position_.max_seen = max_seq;
    auto replay = [this, gen] {
      state_.phase = "replay";
      replay_journal([this, gen](bool ok) {
        if (gen != catch_gen_) return;
        if (!ok) return catch_up_failed(last_replay_error_);
        state_.phase = "events";
        replicating_ = true;
        again_ = false;
        position_.last_poll = std::chrono::system_clock::now();
        if (!position_.known) snapshot();
        else heartbeat();
      });
    };
    if (lost.empty()) {
      save_position();
      return replay();
    }
    state_.phase = "reassert";
    log::event(log::Priority::kCrit, log::kMsgFleetReasserted,
               "fleet: the database lost history this host had applied (" + lost +
                   "): re-asserting the blocks this host holds, then taking a snapshot",
               {{"VIGIL_HOST", host_name_}, {"VIGIL_REASON", lost}});
    if (!journal_.blocks) return catch_up_reassert(nullptr, 0, 0);
    journal_.blocks([this, gen](Result<std::vector<std::array<std::string, 3>>> b) {
      boost::asio::post(ex_, [this, gen, b = std::move(b)]() mutable {
        if (gen != catch_gen_ || stopped_) return;
        if (!b) return catch_up_failed(Error::Store("this host's blocks cannot be read: " + b.error().message));
        catch_up_reassert(std::make_shared<std::vector<std::array<std::string, 3>>>(std::move(*b)), 0, 0);
      });
    });
  });
}

// One block after another: each one the database lacks is made again
// (vigil.block_account: counted in this host's cap), attributed to whoever
// made it. Then the position starts afresh from a snapshot.
void Fleet::catch_up_reassert(std::shared_ptr<std::vector<std::array<std::string, 3>>> blocks, std::size_t i,
                              int n) {
  const uint64_t gen = catch_gen_;
  if (!blocks || i == blocks->size()) {
    state_.reasserted += n;
    log::event(log::Priority::kCrit, log::kMsgFleetReasserted,
               "fleet: re-asserted " + std::to_string(n) + " block(s) the database had lost; taking a snapshot",
               {{"VIGIL_HOST", host_name_}, {"VIGIL_REASON", "history lost"}});
    position_ = Position{0, position_.max_seen, false, {}, position_.system_identifier, position_.timeline, {}};
    save_position();
    state_.phase = "replay";
    return replay_journal([this, gen](bool ok) {
      if (gen != catch_gen_) return;
      if (!ok) return catch_up_failed(last_replay_error_);
      state_.phase = "events";
      replicating_ = true;
      again_ = false;
      snapshot();
    });
  }
  const auto& b = (*blocks)[i];
  block_of(b[0], [this, gen, blocks, i, n](Result<std::optional<std::string>> r) {
    if (gen != catch_gen_ || stopped_) return;
    if (!r) return catch_up_failed(r.error());
    if (r->has_value()) return catch_up_reassert(blocks, i + 1, n);
    const auto& b = (*blocks)[i];
    block(b[0], "re-asserted by host " + host_name_ + " (the fleet database had lost it): " + b[1],
          b[2].empty() ? std::string("vigild") : b[2], [this, gen, blocks, i, n](Result<BlockOut> o) {
            if (gen != catch_gen_ || stopped_) return;
            if (!o && o.error().code == Error::Code::kRefused) {
              log::error("fleet: the block of " + (*blocks)[i][0] + " could not be re-asserted: " +
                         o.error().message);
              return catch_up_reassert(blocks, i + 1, n);
            }
            if (!o) return catch_up_failed(o.error());
            catch_up_reassert(blocks, i + 1, n + (o->changed ? 1 : 0));
          });
  });
}

// A refusal (42501: this host's role quarantined, or not a host) is not
// an outage: the host stops deciding alone (refuse()). Anything else: still
// degraded, and the next tick tries again.
void Fleet::catch_up_failed(const Error& why) {
  ++catch_gen_;
  state_.phase.clear();
  replicating_ = false;
  if (why.code == Error::Code::kRefused) return refuse(why.message);
  log::warning("fleet: the catch-up stopped: " + why.message + "; still in degraded mode, trying again within " +
                   std::to_string(cfg_.propagation.count()) + " s",
               {{"VIGIL_HOST", host_name_}, {"VIGIL_REASON", why.message}});
}

void Fleet::refuse(const std::string& why) {
  if (state_.refused.empty())
    log::event(log::Priority::kErr, log::kMsgFleetDegraded,
               "fleet: the database refuses this host (" + why +
                   "): fleet accounts get the module's failmode, and nothing is decided here alone; the journal "
                   "is kept until the database takes it (a quarantine lifted, or vigild --fleet-setup run)",
               {{"VIGIL_HOST", host_name_}, {"VIGIL_REASON", why}});
  state_.refused = why;
  if (on_change_) on_change_();
}

// Takes the journal to vigil.replay() in batches, each erased here once its
// transaction committed (a crash in between replays it again: a duplicate
// there, nothing counted twice).
void Fleet::replay_journal(std::function<void(bool ok)> then) {
  if (!journal_.read) return then(true);
  if (journal_id_.empty()) {
    last_replay_error_ = Error::Store("the journal has no name");
    return then(false);
  }
  // One chain at a time: a chain of an older connection stops at its next
  // step (catch_gen_), and its caller hears it failed.
  const uint64_t gen = catch_gen_;
  journal_.read(replay_batch_, [this, gen, then = std::move(then)](Result<std::vector<JournalEntry>> r) mutable {
    boost::asio::post(ex_, [this, gen, then = std::move(then), r = std::move(r)]() mutable {
      if (stopped_) return;
      if (gen != catch_gen_) {
        last_replay_error_ = Error::Store("the connection was lost");
        return then(false);
      }
      if (!r) {
        last_replay_error_ = Error::Store("the journal cannot be read: " + r.error().message);
        return then(false);
      }
      if (r->empty()) return then(true);
      boost::json::array batch;
      for (const auto& e : *r) {
        boost::system::error_code ec;
        boost::json::value v = boost::json::parse(e.entry, ec);
        boost::json::object o = !ec && v.is_object() ? std::move(v.as_object()) : boost::json::object();
        o["local_seq"] = e.local_seq;
        o["kind"] = e.kind;
        o["account"] = e.account;
        o["at"] = to_epoch(e.at);
        batch.push_back(std::move(o));
      }
      const int64_t last = r->back().local_seq;
      const auto n = static_cast<int64_t>(r->size());
      conn_->call("vigil_replay", {Value(journal_id_), Value(boost::json::serialize(batch))},
                  [this, gen, then = std::move(then), last, n](Result<Rows> res) mutable {
                    if (stopped_) return;
                    if (!res) {
                      // A batch too slow for db_timeout is halved next time.
                      replay_batch_ = std::max<int64_t>(1, replay_batch_ / 2);
                      last_replay_error_ = res.error();
                      log::warning("fleet: the journal's replay failed: " + res.error().message,
                                   {{"VIGIL_HOST", host_name_}, {"VIGIL_REASON", res.error().message}});
                      return then(false);
                    }
                    replay_batch_ = kReplayBatch;
                    int64_t capped = 0, duplicates = 0;
                    const int ri = res->column("result");
                    for (const auto& row : res->rows) {
                      const std::string v = ri >= 0 && row[ri] ? *row[ri] : std::string();
                      capped += v == "cap";
                      duplicates += v == "duplicate";
                    }
                    if (capped)
                      log::event(log::Priority::kCrit, log::kMsgFleetDegraded,
                                 "fleet: " + std::to_string(capped) +
                                     " block(s) made here while degraded were NOT made fleet-wide: this host is at "
                                     "its cap (vigil.policy max_auto_blocks_per_host); they stay enforced here only",
                                 {{"VIGIL_HOST", host_name_}, {"VIGIL_REASON", "auto block cap"}});
                    if (gen == catch_gen_) {
                      state_.replayed += n - duplicates;
                      replayed_this_time_ += n - duplicates;
                    }
                    journal_.taken(last, [this, gen, then = std::move(then)](Status st) mutable {
                      boost::asio::post(ex_, [this, gen, then = std::move(then), st]() mutable {
                        if (stopped_) return;
                        if (!st) {
                          last_replay_error_ =
                              Error::Store("the replayed journal entries cannot be erased: " + st.error().message);
                          return then(false);
                        }
                        if (gen != catch_gen_) {
                          last_replay_error_ = Error::Store("the connection was lost");
                          return then(false);
                        }
                        replay_journal(std::move(then));
                      });
                    });
                  });
    });
  });
}

void Fleet::leave_degraded() {
  const bool at_start = state_.since == std::chrono::system_clock::time_point{};
  // Logins decided here and waiting for their prompt's answer: the
  // database decides them now (asked again).
  std::erase_if(challenges_, [](const auto& c) { return c.second.decided; });
  state_.refused.clear();
  const int64_t applied = std::max<int64_t>(0, position_.applied - applied_at_degrade_);
  state_.degraded = false;
  state_.phase.clear();
  state_.why.clear();
  state_.healed = std::chrono::system_clock::now();
  caught_up_ = std::chrono::steady_clock::now();
  const std::string what = std::to_string(replayed_this_time_) + " journaled decision(s) replayed, " +
                           (at_start ? std::string("the replica at ") + std::to_string(position_.applied)
                                     : std::to_string(applied) + " event(s) applied");
  log::event(log::Priority::kNotice, log::kMsgFleetHealed,
             "fleet: caught up as host " + host_name_ + "; decisions are the database's" +
                 (at_start ? " (at start: " : " again (left degraded mode after " + seconds_since(degraded_steady_) +
                                                  ": ") +
                 what + ")",
             {{"VIGIL_HOST", host_name_}});
  replayed_this_time_ = 0;
  applied_at_degrade_ = position_.applied;
  if (on_change_) on_change_();
  if (again_) poke();
}

}  // namespace vigil::fleet
