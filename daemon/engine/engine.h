// The engine: where everything is decided and committed, one batch at a time.
//
// Contract:
//  * Every decision runs in a batch, and batches run one at a time (the
//    "engine thread" below is whichever thread runs the batch), so the
//    reports of one bucket are decided atomically: with deny=3, however many
//    reports arrive at once, at most 3 failures are honoured before the lock.
//  * Where batches run: start() gives the engine its own thread (tests,
//    break-glass); start(post) runs them through `post`, on the caller's
//    executor (vigild: the I/O thread, so a request costs no thread handoff;
//    every job submitted before the posted batch runs joins it). After
//    stop(), a submitted job runs at once on the submitting thread.
//  * Jobs are taken in batches. Each batch ends with one SQLite transaction
//    holding every bucket it changed (group commit).
//  * A protective change (a failure, a lock, a reset) is answered only after
//    its commit. A success that only relaxes state is answered at once and
//    committed with its batch. Under start(post), when a job of the batch
//    was answered at once, the batch's commit is itself posted, behind those
//    answers, so they go out before the commit's writes; the next batch
//    commits it first if it runs sooner, and stop() commits it. A batch
//    whose every job waits for the commit commits at once.
//  * While the store is failing (the last commit failed), successes wait for
//    their batch's commit too: nothing is allowed that could not be recorded.
//  * When a commit fails, the waiting callers get a failed Status (they fail
//    closed), the in-memory state keeps the stricter decision, and the write
//    is retried with the next batch.
//  * Completion callbacks run on the engine thread; they must be quick and
//    must not block (callers post back to their own executor).
//  * Threads, checked by clang (-Wthread-safety; daemon/core/thread_annotations.h):
//    run_mu_ is held for the whole of a batch (its jobs, its commit, the
//    answers and callbacks after it), so holding run_mu_ is what "the engine
//    thread" means: every piece of state a batch touches is GUARDED_BY it,
//    and every private function that touches that state REQUIRES it. mu_
//    guards only what submitting threads share with the batches: the queue,
//    the mode, the settings waiting for the next batch.
//  * Reports carry a nonce per pam_authenticate call; a repeated nonce for the
//    same bucket is not counted again.
//  * Second factor: a right password on an account that needs a factor is
//    answered "verify" and leaves a one-use challenge (bucket + nonce, 5
//    minutes); verify() then checks the code. Accepted time steps and used
//    recovery codes are committed before the answer; a step is never accepted
//    twice, so of two parallel logins with one code exactly one wins. Wrong
//    codes count toward [totp] max_failures, which locks the account.
//  * All TOTP cryptography (opening sealed secrets, hashing codes) runs here,
//    never on the I/O thread. Codes and secrets are wiped after use.
//  * Report mode ([daemon] mode = "report", Settings::mode): every decision
//    is made and recorded exactly as in enforce mode (failures, locks,
//    throttles, blocks), but a refusal of a right password, of a second
//    factor that is missing or over its budget, of the account phase, or of
//    a token because of a block or a freeze, is logged (log::kMsgNotEnforced)
//    and counted (Overview::not_enforced) instead of enforced: the answer is
//    the one the login would get with no refusal. The waiver of a login is
//    made in one place per answer: report_refusal() for a report,
//    verify_waive() for its code, account() and token_check(). An enrolled
//    factor is still checked (a wrong or missing code is a wrong
//    credential), and a waived login's success is not applied (no reset,
//    no trust): the state stays what enforce mode would have made it. A
//    wrong password is never waived. A block revokes, suspends and freezes
//    nothing and ends no session (set_block logs what it would have done).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "daemon/core/clock.h"
#include "daemon/core/config.h"
#include "daemon/core/policy.h"
#include "daemon/core/rules.h"
#include "daemon/core/secrets.h"
#include "daemon/core/thread_annotations.h"
#include "daemon/core/tokens.h"
#include "daemon/engine/engine_requests.h"
#include "daemon/store/store.h"

namespace vigil {

class Engine {
 public:
  // The parts of the configuration the engine uses, swapped in whole at the
  // start of a batch after a reload. Default-constructed: the shipped defaults.
  struct Settings {
    LockoutConfig lockout;
    TotpConfig totp;
    DevicesConfig devices;
    BlockConfig block;
    ThrottleConfig throttle;
    TokensConfig tokens;  // freeze_on
    DaemonMode mode = DaemonMode::kEnforce;
  };

  // Buckets kept in memory beyond which clean ones are dropped.
  static constexpr std::size_t kCacheMax = 10000;
  // Calls remembered (2 minutes) so that a call reporting twice counts once.
  static constexpr std::size_t kNonceMax = 50000;

  // key may be null: TOTP operations then fail closed (used by tests of the
  // lockout alone).
  Engine(std::unique_ptr<Store> store, const Clock& clock, LockoutConfig config,
         const SecretKey* key = nullptr, TotpConfig totp = {}, DevicesConfig devices = {},
         BlockConfig block = {}, ThrottleConfig throttle = {}, TokensConfig tokens = {},
         DaemonMode mode = DaemonMode::kEnforce);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs batches on a thread of the engine's own.
  void start();
  // Runs batches through post(fn), which must call fn later, on one thread
  // at a time, and must not block (vigild: asio::post to the I/O context).
  using Poster = std::function<void(std::function<void()>)>;
  void start(Poster post);
  // Finishes queued jobs and commits (joins the thread, or stops posting).
  // Later jobs run at once on the thread that submits them.
  void stop();

  // Applies from the next batch.
  void set_config(const LockoutConfig& config, const TotpConfig& totp = {},
                  const DevicesConfig& devices = {}, const BlockConfig& block = {},
                  const ThrottleConfig& throttle = {}, const TokensConfig& tokens = {},
                  DaemonMode mode = DaemonMode::kEnforce);
  // Called (on the engine thread, after the commit) with each newly blocked
  // uid: ends its sessions. Set before start().
  void on_blocked(std::function<void(int64_t uid, std::string name)> f) EXCLUDES(run_mu_) {
    MutexLock run(run_mu_);
    on_blocked_ = std::move(f);
  }

  void report(ReportRequest req, std::function<void(ReportResult)> done);
  void verify(VerifyRequest req, std::function<void(VerifyResult)> done);
  void totp(TotpRequest req, std::function<void(TotpResult)> done);
  // Reads one account (lock expiry applied, not persisted).
  void get(std::string key, std::optional<int64_t> uid, std::function<void(Result<AccountView>)> done);
  // Every account with recorded state or a block, by uid (lock expiry
  // applied, not persisted).
  void list(std::function<void(Result<std::vector<AccountSummary>>)> done);
  // Every source with failures within [throttle] window or a ban (the
  // throttle's buckets, "src:KEY"; expiry applied, not persisted), by key.
  void sources(std::function<void(Result<std::vector<BucketRecord>>)> done);
  // Lifts the ban of each of these throttle buckets ("src:KEY") and forgets
  // their failures and their doubling (full sync). Answers how many were
  // banned; a key without state is no error (0).
  void lift(std::vector<std::string> keys, std::function<void(Result<int64_t>)> done);
  void reset(std::string key, int64_t uid, std::string name,
             std::function<void(ResetResult)> done);
  // A login session began (root callers): remembers its device by audit
  // session id, so that sudo and su inside it belong to that device. Only
  // the first record of a session counts (a later one, from sudo's or su's
  // own session phase, changes nothing), it is bound to that uid (sudo and
  // su of another uid in it count as an unknown device), and it is kept in
  // the store for this boot, so a restart keeps it.
  void session_open(uint32_t audit_session, int64_t uid, std::string device);
  // The account phase: blocks and deny rules (never a temporary lock); in
  // report mode neither is enforced. `in.device_known` is filled in here
  // from `device`.
  void account(int64_t uid, std::string device, uint32_t audit_session, RuleInput in, bool console,
               std::function<void(Result<AccountVerdict>)> done);
  // Administrative block (committed with a full sync); see recover().
  // `admin`: the account is an administrator's, so its block revokes its
  // tokens and freezes the token API (see set_block; with [tokens]
  // freeze_on = "any" every block freezes it).
  // `journal` (fleet degraded mode): the fleet's key of the account; the
  // block is then journaled (kind "block") in its own transaction.
  void block(int64_t uid, std::string name, std::string reason, std::string by, bool admin,
             std::function<void(BlockResult)> done, std::optional<std::string> journal = std::nullopt);
  // Fleet degraded mode's journal (store.h): the entries after `after`
  // (at most `limit`), its name and size, and the erasure of the entries
  // the fleet has taken.
  void journal(int64_t after, int64_t limit, std::function<void(Result<std::vector<JournalEntry>>)> done);
  void journal_info(std::function<void(Result<std::pair<std::string, int64_t>>)> done);
  void journal_taken(int64_t upto, std::function<void(Status)> done);
  // Checks a code of the account outside a login (step-up, identity proof).
  // Good codes are consumed (a step is never accepted twice). Wrong and
  // replayed ones count toward [totp] max_failures (and lock when lockable);
  // at the limit the answer is kTooMany and the code is not even checked.
  void prove(int64_t uid, std::string name, std::string code, bool lockable,
             std::function<void(ProofResult)> done);
  // Lifts a block (full sync): clears the block, the locks, the failure
  // counters and wrong codes; forgets the devices first seen since the
  // suspicious activity began; closes the account's recovery requests; and
  // requires a password change: until one is reported (password_changed),
  // every password login is refused as a wrong password (counted as one),
  // the console excepted. Key logins (the account phase) are not affected.
  void recover(RecoverRequest req, std::function<void(RecoverResult)> done);
  // The password of a recovered account was changed: reported by a root
  // caller's PAM password phase, or recorded by an administrator. Full sync.
  void password_changed(int64_t uid, std::string name, std::string by,
                        std::function<void(PasswordChangedResult)> done);
  // Files a recovery request or a pending approval under a fresh id. The
  // account must be blocked. A repeated request (same requester, same
  // account, still open) is answered with the open one, marked `repeated`,
  // and writes nothing; at most kRequestsPerRequester are open. Answers the
  // record filed, or a refusal (Error::Refused).
  static constexpr std::size_t kRequestsPerRequester = 16;
  struct Filed {
    RecoveryRecord record;
    bool repeated = false;
  };
  void file_recovery(RecoveryRecord r, std::function<void(Result<Filed>)> done);
  void overview(std::function<void(Result<Overview>)> done);
  // History (break-glass, written by recover()): taken once for the loud
  // report at start.
  void take_unreported_history(std::function<void(Result<std::vector<HistoryRecord>>)> done);

  // Service API tokens (engine_tokens.cc). Issuing is refused while the API
  // is frozen or the owner is blocked. A check reads memory only; `hash` is
  // tokens::hash_token() of what the client presented.
  void token_issue(TokenIssueRequest req, std::function<void(TokenIssueResult)> done);
  void token_check(Bytes hash, std::string scope, std::function<void(TokenCheckResult)> done);
  void token_list(std::function<void(Result<TokenListing>)> done);
  void token_revoke(std::string accessor, std::string reason, std::string by,
                    std::function<void(TokenRevokeResult)> done);
  // The revocation outbox, for the hook runner: the items due now, and the
  // outcome of one run (finished: every hook succeeded; the item goes).
  void outbox_due(std::function<void(Result<std::vector<OutboxItem>>)> done);
  void outbox_result(OutboxItem item, bool finished, std::function<void(Status)> done);
  // Called (engine thread, after the commit) when revocations were queued.
  void on_outbox(std::function<void()> f) EXCLUDES(run_mu_) {
    MutexLock run(run_mu_);
    on_outbox_ = std::move(f);
  }
  // Forgets one known device ("" = all). Reports how many were forgotten.
  void forget_devices(int64_t uid, std::string name, std::string device,
                      std::function<void(Result<int64_t>)> done);
  // Counts for STATUS= lines.
  struct Counts {
    int64_t locked = 0;
    int64_t blocked = 0;
    bool frozen = false;  // the token API
  };
  void counts(std::function<void(Result<Counts>)> done);

 private:
  struct Entry {
    BucketRecord record;
    bool dirty = false;
    // What the store holds for this key, as loaded or last committed
    // (in_store false: nothing known), so that a write can leave it alone
    // (store.h: Unchanged). updated_in_store: the epoch when unknown.
    bool in_store = false;
    std::optional<int64_t> uid_in_store;
    TimePoint updated_in_store{};
    bool totp_loaded = false;
    bool totp_dirty = false;
    TotpRecord totp;  // valid when totp_loaded; empty() when there is none
    bool devices_loaded = false;
    std::vector<DeviceRecord> devices;  // known devices, valid when devices_loaded
    bool block_loaded = false;
    bool block_dirty = false;
    std::optional<BlockRecord> block;   // valid when block_loaded
    // A recovery's password change, not done yet (valid when block_loaded;
    // written through ops_).
    std::optional<PasswordChangeRecord> password_change;
  };
  struct Challenge {
    TimePoint at;
    bool root_caller = false;
    bool exempt = false;
    bool console = false;    // a console login: the code limit does not lock it
    bool no_factor = false;  // required but not enrolled: always refused
    bool needs_code = false; // false: the account has no factor to check; any answer will do
    bool in_grace = false;   // no factor yet, required after grace_ends
    TimePoint grace_ends{};
    std::string bucket_key;  // the bucket the password was decided in
    std::string device;
    bool admin = false;      // a block revokes tokens (set_block)
    // Report mode: the password's refusal was not enforced. A code is still
    // checked where needs_code says so; the success is not applied.
    bool waived = false;
  };
  static constexpr std::size_t kChallengesPerAccount = 8;
  enum class CodeCheck { kOk, kWrong, kReplay, kNoFactor, kError };
  struct Txn;
  using Job = std::function<void(Txn&)>;

  // The batch machinery (engine.cc). Lock order: run_mu_, then mu_.
  void submit(Job job) EXCLUDES(mu_, run_mu_);
  void run() EXCLUDES(mu_, run_mu_);
  // Takes the queue and runs it as one batch (under run_mu_).
  void drain() EXCLUDES(mu_, run_mu_);
  // defer: commit through post_ (see the contract), else at once.
  void process_batch(std::deque<Job>& jobs, bool defer) REQUIRES(run_mu_) EXCLUDES(mu_);
  // Commits the batch's changes, answers those waiting, then housekeeping.
  void finish_batch(Txn& txn) REQUIRES(run_mu_);
  // Finishes a batch whose commit was deferred, if there is one.
  void finish_deferred() REQUIRES(run_mu_);
  void maybe_prune(TimePoint now) REQUIRES(run_mu_);
  // A job, and an after-commit callback, runs inside a batch (process_batch
  // and finish_batch are their only callers, under run_mu_), but a lambda
  // run through std::function cannot carry REQUIRES: each such body that
  // touches the engine's state begins with in_batch(), which says so to the
  // analysis and checks it at run time.
  void in_batch() const ASSERT_CAPABILITY(run_mu_) { run_mu_.assert_held(); }

  // Accounts, devices, sessions and challenges (engine_accounts.cc).
  Result<Entry*> entry(const std::string& key) REQUIRES(run_mu_);
  // The account's own bucket ("uid:N"), with its block and password change loaded.
  Result<Entry*> account_with_block(int64_t uid) REQUIRES(run_mu_);
  // Whether an account is blocked right now, as this batch sees it.
  Result<bool> is_blocked(int64_t uid) REQUIRES(run_mu_);
  Status load_totp(Entry* e, int64_t uid) REQUIRES(run_mu_);
  Status load_devices(Entry* e, int64_t uid) REQUIRES(run_mu_);
  Status load_block(Entry* e, int64_t uid) REQUIRES(run_mu_);
  // What a write of e at `now` may leave as the store holds it.
  static Unchanged unchanged(const Entry& e, TimePoint now);
  void mark_dirty(Entry* e) REQUIRES(run_mu_);
  void mark_totp_dirty(Entry* e) REQUIRES(run_mu_);
  void mark_block_dirty(Entry* e) REQUIRES(run_mu_);
  // What Status.Get shows, read-only: cached copies where there are, else
  // the store; nothing is added to the cache.
  Result<AccountView> account_view(const Txn& t, const std::string& key, std::optional<int64_t> uid)
      REQUIRES(run_mu_);
  Status account_view_factor(const Txn& t, const Entry* cached, int64_t uid, AccountView& view)
      REQUIRES(run_mu_);
  Status account_view_failures(const Txn& t, int64_t uid, AccountView& view) REQUIRES(run_mu_);
  // What a block does to the account's tokens.
  enum class TokenEffect {
    kAdmin,     // an administrator's compromise: revoke what they own or issued, freeze the API
    kEmployee,  // anyone else's compromise: revoke what they issued for others, suspend their own
    kSuspend,   // wrong passwords alone (escalate_after_locks): suspend their own, nothing more
  };
  // Blocks the account in this batch (full sync); logs, and ends sessions
  // after the commit; applies `effect` to the tokens in the same transaction.
  void set_block(Txn& t, Entry* acct, BlockRecord b, TokenEffect effect, const std::string& source = {},
                 const std::string& service = {}) REQUIRES(run_mu_);
  static TokenEffect compromise(bool admin) { return admin ? TokenEffect::kAdmin : TokenEffect::kEmployee; }
  // Report mode (see the contract).
  bool report_only() const REQUIRES(run_mu_) { return settings_.mode == DaemonMode::kReport; }
  // Logs (log::kMsgNotEnforced) and counts a refusal or an effect that
  // report mode did not enforce.
  void not_enforced(NotEnforced what) REQUIRES(run_mu_);
  bool device_known(const Entry& acct, const std::string& device, TimePoint now) const REQUIRES(run_mu_);
  // Whether this host asks every password login for a code: [totp] require
  // is not "none", a device rule requires one, or any account has a factor.
  // Never anything about the name at hand, so the prompt tells nothing.
  bool host_prompts(const Txn& t) const REQUIRES(run_mu_);
  // A complete successful login from a root caller: the device becomes known.
  // Its last login is recorded to the minute (success_moves, policy.h).
  void trust_device(Txn& t, Entry* acct, const std::string& device) REQUIRES(run_mu_);
  static constexpr std::size_t kDevicesPerAccount = 64;
  // A complete successful login, for the account: the escalation count
  // starts again, and the account records the success (to the minute) when
  // it was counted in another bucket (a known device's).
  void note_success(Txn& t, Entry* acct, const Entry* bucket) REQUIRES(run_mu_);
  // The device of `uid`'s login session `id`, or "" (unknown session, or
  // another uid's).
  Result<std::string> session_device(uint32_t id, int64_t uid) REQUIRES(run_mu_);
  // The bucket of one known device of the account.
  static std::string known_key(const std::string& account_key, const std::string& device) {
    return account_key + ":dev:" + device;
  }
  // The account's known-device buckets, the cached copies newer than the
  // store's. Read-only: nothing is added to the cache.
  Result<std::vector<BucketRecord>> known_buckets(const std::string& account_key, int64_t uid)
      REQUIRES(run_mu_);
  // Resets the account's known-device buckets in this batch; true if one was locked.
  Result<bool> reset_known(const std::string& account_key, int64_t uid, TimePoint now) REQUIRES(run_mu_);
  void add_challenge(const std::string& key, const std::string& nonce_key, Challenge c) REQUIRES(run_mu_);
  void drop_challenge(const std::string& key, const std::string& nonce_key) REQUIRES(run_mu_);
  struct Seen {
    bool allow;
    TimePoint at;
    bool prompt = false;
  };
  // Remembers a call's verdict; beyond the cap the oldest are forgotten, one
  // by one (a flood never clears the calls in progress of everyone else).
  void remember_nonce(const std::string& nonce_key, Seen seen) REQUIRES(run_mu_);

  // A password report in stages (engine_report.cc): each answers the report
  // (true: the login stops there) or passes it on.
  struct Login;
  bool report_account(Login& l) REQUIRES(run_mu_);
  bool report_second_factor(Login& l) REQUIRES(run_mu_);
  bool report_device(Login& l) REQUIRES(run_mu_);
  bool report_rules(Login& l) REQUIRES(run_mu_);
  bool report_block(Login& l) REQUIRES(run_mu_);
  bool report_throttle(Login& l) REQUIRES(run_mu_);
  bool report_stuffing(Login& l) REQUIRES(run_mu_);
  void report_decide(Login& l) REQUIRES(run_mu_);
  void report_escalation(Login& l, const Decision& d) REQUIRES(run_mu_);
  void report_log(Login& l, const Decision& d) REQUIRES(run_mu_);
  void journal_offline(Login& l, const char* kind) REQUIRES(run_mu_);
  void journal_add(Txn& t, std::string kind, std::string account, std::string entry) REQUIRES(run_mu_);
  bool report_error(Login& l, const Error& e);        // the one way a stage answers an error
  // The one way a report is refused (a stage's refusal, the decision's);
  // in report mode, where a right password's refusal is waived.
  bool report_refusal(Login& l, Entry* write, ReportResult r) REQUIRES(run_mu_);
  // Report mode: answers `r` as if nothing had refused the right password.
  void report_waive(Login& l, ReportResult& r) REQUIRES(run_mu_);
  // Answers a refusal (blocked, throttled, denied by a rule) the way a wrong
  // password is answered: after this batch's commit, with a bucket written,
  // so that its timing tells nothing.
  void answer_refusal(Txn& t, Entry* write, ReportResult r, std::function<void(ReportResult)> done)
      REQUIRES(run_mu_);

  // The code after a right password, in stages (engine_totp.cc): each
  // answers (true: it stops there) or passes it on.
  struct CodeLogin;
  bool verify_challenge(CodeLogin& v) REQUIRES(run_mu_);
  bool verify_standing(CodeLogin& v) REQUIRES(run_mu_);
  bool verify_without_code(CodeLogin& v) REQUIRES(run_mu_);
  bool verify_no_answer(CodeLogin& v) REQUIRES(run_mu_);
  bool verify_budget(CodeLogin& v) REQUIRES(run_mu_);
  void verify_code(CodeLogin& v) REQUIRES(run_mu_);
  bool verify_error(CodeLogin& v, const Error& e);  // the one way a stage answers an error
  bool verify_now(CodeLogin& v);                    // answered at once (refused)
  bool verify_after_commit(CodeLogin& v);           // answered after this batch's commit
  // Report mode: a refusal of the code step that is not a wrong code is
  // logged and waived (false: enforce mode, refuse as usual).
  bool verify_waive(CodeLogin& v, const std::string& reason) REQUIRES(run_mu_);
  // Checks a TOTP code (against the active secret) or a recovery code, and
  // consumes it when it is good. Runs inside a batch.
  CodeCheck check_code(Txn& t, Entry* e, std::string& code, bool* recovery_used) REQUIRES(run_mu_);
  // Wrong codes within fail_interval have reached [totp] max_failures.
  bool codes_exhausted(Entry* e, TimePoint now) const REQUIRES(run_mu_);
  // The password step's success, once the code (if any) is right: applies
  // it to the bucket, trusts the device (root callers). Returns the verdict.
  bool apply_success(Txn& t, Entry* acct, Entry* bucket, const Challenge& ch) REQUIRES(run_mu_);
  // A wrong code (login or proof): counts, and locks at [totp] max_failures.
  // Returns true when the limit is reached (the caller blocks, or it locks here).
  bool count_wrong_code(Txn& t, Entry* acct, Entry* bucket, bool lockable, const char* what,
                        bool* locked_now, bool block_instead = false) REQUIRES(run_mu_);

  // A change of the second factor in stages (engine_totp_change.cc): the
  // account, then the operation's own stage; each answers (true) or passes
  // it on to the commit.
  struct FactorChange;
  bool totp_account(FactorChange& c) REQUIRES(run_mu_);
  bool totp_operation(FactorChange& c) REQUIRES(run_mu_);  // one of the four below
  bool totp_enroll(FactorChange& c) REQUIRES(run_mu_);
  bool totp_confirm(FactorChange& c) REQUIRES(run_mu_);
  bool totp_disable(FactorChange& c) REQUIRES(run_mu_);
  bool totp_recovery_codes(FactorChange& c) REQUIRES(run_mu_);
  void totp_commit(FactorChange& c) REQUIRES(run_mu_);
  // A non-root caller proves possession of the active factor with a code.
  bool totp_proves_factor(FactorChange& c) REQUIRES(run_mu_);
  bool totp_error(FactorChange& c, const Error& e);  // the one way a stage answers an error
  // A refusal: at once, or after the commit when a wrong proof was counted.
  bool totp_refuse(FactorChange& c, std::string why);

  // An unblock in stages (engine_recovery.cc): the approval, the actor, the
  // account, the identity code, then the unblock itself. Each answers
  // (true: it stops there) or passes it on.
  struct Unblock;
  bool recover_approval(Unblock& u) REQUIRES(run_mu_);
  bool recover_actor(Unblock& u) REQUIRES(run_mu_);
  bool recover_account(Unblock& u) REQUIRES(run_mu_);
  bool recover_proof(Unblock& u) REQUIRES(run_mu_);
  void recover_forget(Unblock& u) REQUIRES(run_mu_);
  bool recover_lift(Unblock& u) REQUIRES(run_mu_);
  void recover_commit(Unblock& u) REQUIRES(run_mu_);
  bool recover_error(Unblock& u, const Error& e);  // the one way a stage answers an error
  bool recover_answer(Unblock& u, Status st);      // answered at once: an error, or nothing to do

  // Tokens (engine_tokens.cc).
  // What a block does to the tokens: the accessors it revokes and suspends,
  // and whether it freezes the API ([tokens] freeze_on).
  struct BlockEffect {
    std::vector<std::string> revoke, suspend;
    bool freeze = false;
  };
  BlockEffect block_effect(int64_t uid, TokenEffect effect) const REQUIRES(run_mu_);
  void tokens_on_block(Txn& t, int64_t uid, const std::string& name, TokenEffect effect,
                       const std::string& reason) REQUIRES(run_mu_);
  // Report mode: what the block of `name` would have done, logged instead.
  void block_not_enforced(Txn& t, int64_t uid, const std::string& name, TokenEffect effect)
      REQUIRES(run_mu_);
  // Report mode: a check refused only by a freeze or a block becomes valid.
  void token_check_waive(TimePoint now, const tokens::Token* tok, const std::string& scope,
                         TokenCheckResult& r) REQUIRES(run_mu_);
  // Recovery: lifts the account's freeze and restores its suspended tokens.
  // Returns what to put back if the recovery's commit fails.
  struct TokenUndo {
    std::vector<std::string> restored;  // accessors made active again
    std::optional<FreezeRecord> freeze;  // the freeze lifted
  };
  TokenUndo tokens_on_recover(Txn& t, int64_t uid, const std::string& name) REQUIRES(run_mu_);
  // A recovery that did not commit: memory and the retried writes go back
  // to the stricter state.
  void undo_tokens_recover(const TokenUndo& undo) REQUIRES(run_mu_);
  void revoke_token(Txn& t, tokens::Token& tok, const std::string& reason) REQUIRES(run_mu_);
  void write_token(const tokens::Token& tok) REQUIRES(run_mu_);
  void load_tokens() REQUIRES(run_mu_);

  // Thread ownership (see the contract), checked by clang: run_mu_ guards
  // everything a batch touches, mu_ what submitting threads share with the
  // batches. The constructor, which clang does not check, sets the batch's
  // state up before any other thread can see the engine.
  Mutex run_mu_ ACQUIRED_BEFORE(mu_);  // held while a batch runs: one at a time
  Mutex mu_;

  // Set at construction, then only read.
  const Clock& clock_;
  const SecretKey* const key_;
  const std::string boot_id_;  // the kernel's boot id: audit session ids restart at boot

  // Shared with submitting threads (mu_).
  std::condition_variable_any cv_;  // waited on with mu_ (run())
  std::deque<Job> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  enum class Mode { kInline, kThread, kPosted };
  Mode mode_ GUARDED_BY(mu_) = Mode::kInline;  // before start() and after stop(): inline
  Poster post_ GUARDED_BY(mu_);
  bool posted_ GUARDED_BY(mu_) = false;  // a drain is posted and has not taken the queue yet
  std::optional<Settings> pending_ GUARDED_BY(mu_);
  std::thread thread_;  // start() and stop() only: the owner's thread

  // The batch's (run_mu_): the engine thread only.
  std::unique_ptr<Store> store_ PT_GUARDED_BY(run_mu_);
  std::unique_ptr<Txn> deferred_ GUARDED_BY(run_mu_);  // a batch run whose commit is posted
  Settings settings_ GUARDED_BY(run_mu_);
  std::function<void(int64_t, std::string)> on_blocked_ GUARDED_BY(run_mu_);
  std::function<void()> on_outbox_ GUARDED_BY(run_mu_);
  int64_t active_factors_ GUARDED_BY(run_mu_) = 0;  // accounts with an active factor
  std::unordered_map<std::string, Challenge> challenges_ GUARDED_BY(run_mu_);  // key + '\n' + nonce
  // Per key, oldest first.
  std::unordered_map<std::string, std::deque<std::string>> challenge_order_ GUARDED_BY(run_mu_);
  // Recovery codes used in this batch (uid:id).
  std::unordered_set<std::string> used_codes_ GUARDED_BY(run_mu_);
  // Login sessions by audit session id: a cache of the store's (this boot).
  std::unordered_map<uint32_t, SessionRecord> sessions_ GUARDED_BY(run_mu_);
  static constexpr std::size_t kSessionsMax = 65536;
  std::vector<std::function<Status(Store&)>> ops_ GUARDED_BY(run_mu_);  // extra writes for this batch
  // Nodes are stable: pointers stay valid.
  std::unordered_map<std::string, Entry> cache_ GUARDED_BY(run_mu_);
  std::vector<Entry*> dirty_ GUARDED_BY(run_mu_);  // entries to write with this batch
  std::unordered_map<std::string, Seen> nonces_ GUARDED_BY(run_mu_);  // key + '\n' + nonce
  std::deque<std::string> nonce_order_ GUARDED_BY(run_mu_);  // nonces_'s keys, oldest first
  // The last commit failed: until one succeeds, every answer waits for its
  // batch's commit (a success too), so the store failing fails closed.
  bool store_failing_ GUARDED_BY(run_mu_) = false;
  // Tokens, loaded at construction; the store is written in each batch.
  Status tokens_status_ GUARDED_BY(run_mu_) = Ok{};
  std::unordered_map<std::string, tokens::Token> tokens_ GUARDED_BY(run_mu_);  // by accessor
  // Hash bytes -> accessor.
  std::unordered_map<std::string, std::string> token_by_hash_ GUARDED_BY(run_mu_);
  std::map<int64_t, FreezeRecord> freezes_ GUARDED_BY(run_mu_);
  // Blocked accounts (loaded with the tokens): a token check consults its
  // owner's block, whatever the token's stored state says.
  std::unordered_set<int64_t> blocked_uids_ GUARDED_BY(run_mu_);
  bool outbox_added_ GUARDED_BY(run_mu_) = false;  // this batch queued revocations
  NotEnforcedLog not_enforced_ GUARDED_BY(run_mu_);  // report mode, since start
  TimePoint last_prune_ GUARDED_BY(run_mu_){};
};

}  // namespace vigil
