// Fleet mode: the decisions of fleet accounts, made in PostgreSQL
// (vigild(8), FLEET; the SQL in daemon/fleet/sql/).
//
// Contract:
//  * One Fleet per vigild, on the I/O thread's executor; not thread-safe.
//  * Which accounts are the fleet's (account_of): every account from
//    [fleet] uid_min up (system accounts and root stay this host's unless
//    system_accounts = "fleet"), keyed by name, or by "uid:N" with
//    identity = "uid". The others are decided by the local engine as on a
//    single host.
//  * report() asks vigil.report() for the decision of one password outcome:
//    one round trip, one transaction, within [fleet] db_timeout. The SQL
//    decides the block, the known device, the source's throttle, stuffing
//    and the lock, with the fleet's policy (vigil.policy), so a host cannot
//    loosen it. A call that repeats a failure's nonce (the same
//    pam_authenticate reporting twice) is answered "deny" without counting
//    again.
//  * Degraded mode (vigild(8), FLEET): from the start, and from the first
//    lost connection or missed deadline (pg.h drops the connection then),
//    the host is degraded() until it has caught up: while degraded, calls
//    fail at once with Error::Store, and the caller decides alone, with
//    [fleet] deny_offline, journaling each decision in this host's store
//    (rpc/methods_login.cc, JournalAccess). Reconnects run in the
//    background (pg.h); a login never waits for one. Once connected, the
//    catch-up runs in order: the server's identity (system_identifier, the
//    timeline, max(seq), and the event this host applied last: a history
//    that lost it is a rewind, and this host re-asserts the blocks it holds
//    that the database lacks, then takes a snapshot); the journal, through
//    vigil.replay() (idempotent on journal and local_seq; an entry is
//    erased here only after its batch committed); the events missed; the
//    journal once more; and only then is the host no longer degraded. A
//    decision journaled after that is replayed at the next tick.
//  * The role is the host name: each host has its own role (and client
//    certificate); no password is ever configured.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/core/config.h"
#include "daemon/core/device.h"
#include "daemon/core/records.h"
#include "daemon/fleet/pg.h"

namespace vigil::fleet {

struct ReportIn {
  std::string account;     // account_of(); "" for a name that resolves to no account
  std::string outcome;     // "failure", "success", "password_ok"
  std::string source;      // source key (device.h), "" when none
  std::string device;      // device id, "" when none
  std::string service;
  std::vector<device::ThrottleKey> throttle;  // the source's throttle buckets
  std::string nonce;
  bool exempt = false, root_caller = false, console = false, needs_code = false;
};

// A right password that waits for its code (the host prompts): kept in this
// host's memory for 5 minutes, taken once by Auth.Verify.
struct Challenge {
  ReportIn success;         // the report that completes the login, once the code is good
  bool needs_code = false;  // the account has a factor, or one is required
  bool no_factor = false;   // one is required and the account has none: refused
  bool decided = false;     // degraded mode: decided and recorded here; any answer completes it
  std::chrono::steady_clock::time_point expires{};
};

struct ReportOut {
  std::string verdict;  // "allow", "verify", "deny"
  std::string reason;   // "ok", "counted", "locked", "blocked", "blocked_now", "throttled", "auto_block_cap"
  bool known = false;
  int64_t locked_until = 0;  // epoch seconds, 0: not locked
  int lock_count = 0;
  bool counted = false, locked_now = false, blocked_now = false;
  bool duplicate = false;  // a repeated nonce: answered here, not asked
};

// The connection parameters for libpq: the URL first (expanded), then the
// parts set in [fleet], then what vigild always sets (its role, the
// timeouts, keepalives). The role is `host_name`.
std::vector<std::pair<std::string, std::string>> connection_params(const FleetConfig& cfg,
                                                                   const std::string& host_name);

// The server, for logs: host or hostaddr (and port) when set, else the URL
// without its user, password and options; never a secret.
std::string describe_target(const FleetConfig& cfg);

// "{\"a\",\"b\"}": a text[] literal.
std::string text_array(const std::vector<std::string>& items);

// One entry of the fleet's event log (vigil.event), in seq order.
struct Event {
  int64_t seq = 0;
  std::string kind;     // "block", "unblock", ...
  std::string account;  // the fleet's key of the account ("" when none)
  std::string host;     // the host whose call made it
  std::string actor;
  std::string details;  // JSON text
  std::string fingerprint;  // kind, account and commit time ("" in a snapshot)
};

// Applies one event on this host; calls `done(true)` once it is durable
// here, `done(false)` to stop and try again from it later.
using Applier = std::function<void(const Event&, std::function<void(bool ok)> done)>;

// The replica's position, for status: what this host applied, the newest
// seq it has seen, and when it last asked.
struct Position {
  int64_t applied = 0;
  int64_t max_seen = 0;
  bool known = false;  // a position was read or a snapshot taken
  // The applied event's kind, account and time ("" after a snapshot): the
  // same event at that seq on the server means the same history.
  std::string fingerprint;
  std::string system_identifier, timeline;  // the server's, when last caught up
  std::chrono::system_clock::time_point last_poll{};
};

// Degraded mode, for status.
struct DegradedState {
  bool degraded = true;
  std::string why = "starting: not caught up with the fleet yet";
  std::chrono::system_clock::time_point since{};  // when it was entered (epoch 0: at start)
  std::string phase;          // "", "identity", "reassert", "replay", "events"
  int64_t replayed = 0;       // journal entries taken by vigil.replay() since vigild started
  int64_t reasserted = 0;     // blocks re-asserted since vigild started
  std::string refused;        // the database refuses this host (why): the module's failmode, not degraded
  std::chrono::system_clock::time_point healed{};  // when it was last left
};

// What degraded mode needs of this host's store (the rpc layer gives it,
// through the engine). Callbacks may run on any thread.
struct JournalAccess {
  // The journal's name and its size.
  std::function<void(std::function<void(Result<std::pair<std::string, int64_t>>)>)> info;
  // The oldest entries, at most `limit`.
  std::function<void(int64_t limit, std::function<void(Result<std::vector<JournalEntry>>)>)> read;
  // Erases every entry up to local_seq `upto`: vigil.replay() has taken them.
  std::function<void(int64_t upto, std::function<void(Status)>)> taken;
  // The blocks this host holds for fleet accounts: (account, reason, by).
  std::function<void(std::function<void(Result<std::vector<std::array<std::string, 3>>>)>)> blocks;
};

// One host's row, for vigilctl fleet status.
struct HostRow {
  std::string name, trust_group;
  bool quarantined = false;
  int64_t applied = 0;
  int64_t last_seen = 0;  // epoch seconds, 0: never
  int64_t auto_blocks = 0;
  int64_t max_seq = 0;
};

struct BlockOut {
  int64_t seq = 0;
  bool changed = false;
};

struct RecoverOut {
  bool ok = false;
  std::string reason;  // vigil.recover's: "recovered", "not_blocked", "approval_filed", "self", ...
  int64_t seq = 0;     // the unblock event's, when recovered
};

class Fleet {
 public:
  Fleet(boost::asio::any_io_executor ex, FleetConfig cfg, std::string host_name);
  ~Fleet();

  void start();
  void stop();
  // Called (on the executor) after the database becomes reachable or
  // unreachable, once logged.
  void on_change(std::function<void()> f) { on_change_ = std::move(f); }

  const std::string& host_name() const { return host_name_; }
  bool ready() const { return conn_->ready(); }
  // Degraded mode (above): decide alone, and journal. Not while the
  // database answers but refuses this host (its role quarantined, its
  // statements refused: a schema older than this vigild): calls then fail
  // and fleet accounts get the module's failmode, as a host the fleet
  // refuses must not decide for it.
  bool degraded() const { return state_.degraded && state_.refused.empty(); }
  const DegradedState& degraded_state() const { return state_; }
  // Set before start().
  void journal(JournalAccess j) { journal_ = std::move(j); }
  // A decision was journaled: replayed at the next tick when not degraded.
  void journaled() { journal_pending_ = true; }
  int64_t latency_us() const { return conn_->latency().count(); }
  // The fleet's key of this account, or nothing when it stays this host's.
  std::optional<std::string> account_of(int64_t uid, const std::string& name) const;

  void report(ReportIn in, std::function<void(Result<ReportOut>)> done);
  // An administrator's block (vigil.block_account): attributed to this host
  // and the actor, capped per host (Error::Refused past the cap).
  void block(std::string account, std::string reason, std::string actor,
             std::function<void(Result<BlockOut>)> done);
  // Enrolment in the database (vigil.totp_enroll, vigil.totp_confirm,
  // vigil.recovery_codes; their rules decide who may): the fresh secret
  // (base32) shown once, nothing when a code was wrong (counted there);
  // Error::Refused when a rule refuses. Codes are wiped.
  void totp_enroll(std::string account, std::string actor, std::string actor_code,
                   std::function<void(Result<std::optional<std::string>>)> done);
  void totp_confirm(std::string account, std::string code, std::function<void(Result<bool>)> done);
  void recovery_codes(std::string account, std::string actor, std::string actor_code,
                      std::function<void(Result<std::vector<std::string>>)> done);
  // Whether the account has an active second factor (vigil.factor). The
  // answer, and whether the account is one of the fleet's administrators
  // (vigil.admin), is remembered in host memory for degraded mode: known().
  void factor(std::string account, std::function<void(Result<bool>)> done);
  // What the database last said of the account, within kKnownFor; nothing
  // when it has not been asked since (a factor enrolled on another host
  // meanwhile is then not missed for longer than that).
  struct Known {
    bool factor = false, admin = false;
    std::chrono::steady_clock::time_point at{};
  };
  static constexpr auto kKnownFor = std::chrono::minutes(15);
  std::optional<Known> known(const std::string& account) const;
  // Challenges (host memory): at most kChallengeMax; expired ones are dropped.
  static constexpr std::size_t kChallengeMax = 100000;
  bool add_challenge(const std::string& key, Challenge c);
  std::optional<Challenge> take_challenge(const std::string& key);
  // A code of a fleet account, checked in the database (vigil.verify: a
  // step used anywhere is refused everywhere; wrong codes count). Answers
  // vigil.verify's reason: "ok", "recovery_code", "wrong", "replay",
  // "no_factor", "too_many". The code is wiped.
  void verify(std::string account, std::string code, std::function<void(Result<std::string>)> done);
  // A recovery checked in the database (vigil.recover): the actor's code,
  // and the blocked account's code (`proof`) or another administrator's
  // approval (no proof). Codes are wiped.
  void recover(std::string account, std::string actor, std::string actor_code, std::optional<std::string> proof,
               std::string reason, std::function<void(Result<RecoverOut>)> done);
  // Quarantines a host or lifts its quarantine (vigil.quarantine: the
  // actor's fresh code checked there). Answers vigil.quarantine's reason
  // ("quarantined", "unquarantined", "unchanged", or a refusal) in
  // RecoverOut. The code is wiped.
  void quarantine(std::string host, std::string actor, std::string actor_code, bool on, std::string reason,
                  std::function<void(Result<RecoverOut>)> done);
  // Every host's row (vigil.host), with the log's newest seq.
  void hosts(std::function<void(Result<std::vector<HostRow>>)> done);

  // The replica (set before start()): the events of the log are applied on
  // this host in seq order, through `apply`, from the position kept in
  // `position_file` (written after each applied batch: a restart resumes
  // there). With no position yet, the blocks in force are applied first
  // (a snapshot), then the log from the snapshot's seq: old history is
  // never replayed. The log is read at each notification (LISTEN) and every
  // [fleet] propagation (a notification sent while this host was away is
  // lost; the seq is the truth), with a heartbeat of the position
  // (vigil.heartbeat).
  void replicate(Applier apply, std::string position_file);
  const Position& position() const { return position_; }
  // The replica has caught up with the log within [fleet] fence.
  bool replica_fresh() const;
  // Reads the log now (after a change made here).
  void poke();
  // The account's block: its reason, or "" when it is not blocked.
  void block_of(const std::string& account, std::function<void(Result<std::optional<std::string>>)> done);

  // For STATUS= and logs: "fleet database 1.3ms" or "fleet database
  // UNREACHABLE (why)".
  std::string status_text() const;

 private:
  void remember_failure(const std::string& key);
  void tick();
  void arm_poll();
  void snapshot();
  void heartbeat();
  void fetch_events();
  void apply_from(std::shared_ptr<std::vector<Event>> events, std::size_t i, bool full);
  void replicated(bool ok);
  void save_position();
  // Degraded mode (degraded.cc).
  void enter_degraded(const std::string& why);
  void catch_up();
  void catch_up_identity();
  void catch_up_reassert(std::shared_ptr<std::vector<std::array<std::string, 3>>> blocks, std::size_t i, int n);
  void catch_up_failed(const Error& why);
  void replay_journal(std::function<void(bool ok)> then);
  void refuse(const std::string& why);
  void leave_degraded();
  bool catching() const { return !state_.phase.empty(); }

  FleetConfig cfg_;
  std::string host_name_;
  boost::asio::any_io_executor ex_;
  std::unique_ptr<PgConnection> conn_;
  std::function<void()> on_change_;
  Applier apply_;
  std::string position_file_;
  Position position_;
  bool replicating_ = false;
  std::string warned_group_;
  std::chrono::steady_clock::time_point caught_up_{};  // the last time the replica had applied the whole log
  bool again_ = false;  // a poke arrived while replicating
  bool stopped_ = false;
  std::unique_ptr<boost::asio::steady_timer> poll_timer_;
  // Nonces of failures reported in the last 2 minutes (at most kNonceMax).
  static constexpr std::size_t kNonceMax = 50000;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> failed_nonces_;
  std::unordered_map<std::string, Challenge> challenges_;
  std::unordered_map<std::string, Known> known_;  // at most kChallengeMax
  DegradedState state_;
  JournalAccess journal_;
  std::string journal_id_;
  bool journal_pending_ = true;  // the journal may hold entries (at start: unknown)
  uint64_t catch_gen_ = 0;       // a catch-up (or a replay) cut by a lost connection stops
  // Journal entries per vigil.replay() call: one transaction, one commit,
  // well within db_timeout.
  static constexpr int64_t kReplayBatch = 100;
  int64_t replay_batch_ = kReplayBatch;  // halved after a failed batch, back to kReplayBatch after a good one
  Error last_replay_error_ = Error::Store("");
  std::chrono::steady_clock::time_point degraded_steady_{};
  int64_t replayed_this_time_ = 0, applied_at_degrade_ = 0;
};

}  // namespace vigil::fleet
