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
//    committed with its batch. Under start(post) the batch's commit is
//    itself posted, behind the answers given at once, so those go out
//    before the commit's writes; the next batch commits it first if it runs
//    sooner, and stop() commits it.
//  * While the store is failing (the last commit failed), successes wait for
//    their batch's commit too: nothing is allowed that could not be recorded.
//  * When a commit fails, the waiting callers get a failed Status (they fail
//    closed), the in-memory state keeps the stricter decision, and the write
//    is retried with the next batch.
//  * Completion callbacks run on the engine thread; they must be quick and
//    must not block (callers post back to their own executor).
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
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
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
#include "daemon/store/store.h"
#include "daemon/core/tokens.h"

namespace vigil {

struct ReportRequest {
  std::string key;             // bucket key
  std::optional<int64_t> uid;  // empty for unresolved names
  std::string name;            // canonical name; empty for unresolved names
  std::string nonce;           // may be empty (no de-duplication)
  Outcome outcome = Outcome::kFailure;
  bool root_caller = false;
  bool exempt = false;
  bool console = false;        // a console login vouched for by a root caller
  bool totp_required = false;  // by [totp] require, for this account
  bool admin = false;          // a member of [roles] admin_groups
  std::string device;          // device id (device.h); empty: none (unknown, never trusted)
  std::string source;          // normalised source ("" for local logins)
  // The caller's audit session (sudo, su inside a login session): its device
  // is the session's. 0: none.
  uint32_t audit_session = 0;
  // For the device rules:
  std::vector<std::string> groups;
  std::string service, rhost, tty;
};

struct ReportResult {
  Status status = Ok{};  // not ok: the decision could not be made durable
  Decision decision;
  LockState state;       // after the decision
  bool duplicate = false;
  // Ask for a code (after a right password and after a wrong one alike).
  // Host-level: the same for every name, known or not (see host_prompts).
  bool prompt = false;
  bool verify = false;   // the password was right: a code must follow (challenge left)
  bool in_grace = false; // required but not enrolled, still within [totp] grace
  TimePoint grace_ends{};
  bool known_device = false;
  bool blocked = false;       // refused: the account is blocked (now, or by this attempt)
  bool blocked_now = false;   // this attempt blocked it
  bool throttled = false;     // refused: its source is throttled
  int denied_by_rule = 0;     // refused by the deny rule on this config line
};

// The account phase's answer.
struct AccountVerdict {
  bool blocked = false;
  int denied_by_rule = 0;  // the deny rule's config line, or 0
};

struct VerifyRequest {
  std::string key;
  int64_t uid = 0;
  std::string name;
  std::string nonce;
  std::string code;  // wiped by the engine; "" when the service could not ask, or the
                     // answer was the password (then refused uncounted, or allowed
                     // where no code is needed)
  bool root_caller = false;
  bool no_prompt = false;  // the service cannot prompt (module option prompt=no)
};

struct VerifyResult {
  Status status = Ok{};
  bool allow = false;
  bool in_grace = false;  // allowed without a factor the account will need
  TimePoint grace_ends{};
  bool counted = false;        // a wrong code counted toward max_failures
  bool locked_now = false;
  bool recovery_code = false;  // a recovery code was used
  bool blocked_now = false;
};

struct BlockResult {
  Status status = Ok{};
  bool changed = false;  // false: it was already so (blocked, or not blocked)
};

enum class TotpOp { kEnroll, kConfirm, kDisable, kRecoveryCodes };

struct TotpRequest {
  TotpOp op = TotpOp::kEnroll;
  int64_t uid = 0;
  std::string name;
  bool root_caller = false;
  std::string code;  // the caller's current code or a recovery code; wiped
  bool password_proven = false;  // kEnroll by the user: the password was just checked (PAM)
};

struct TotpResult {
  Status status = Ok{};       // Error::Refused (with the reason), or a failure of the store
  std::string secret_b32;     // enrol: shown once
  std::string uri;            // enrol
  std::vector<std::string> codes;  // recovery codes: shown once
};

// What Status.Get shows: the bucket and the second factor, without secrets.
struct AccountView {
  std::optional<BucketRecord> bucket;
  std::vector<BucketRecord> known_buckets;    // one per known device with state
  std::optional<BlockRecord> block;
  std::optional<PasswordChangeRecord> password_change;  // a recovery's, not yet done
  std::vector<DeviceRecord> devices;
  bool totp_active = false;
  bool totp_pending = false;
  int64_t recovery_codes = 0;
  int64_t otp_failures = 0;
};

// A code checked outside a login: an administrator's step-up, or the
// identity proof of a blocked account read out to the administrator.
enum class ProofOutcome { kOk, kWrong, kReplay, kNoFactor, kTooMany };

struct ProofResult {
  Status status = Ok{};
  ProofOutcome outcome = ProofOutcome::kWrong;
};

// An unblock. Either uid/name (with an optional verify_code of that account,
// checked in the same batch), or approval_id (the account comes from the
// pending approval, which approve_refusal() must allow for actor_uid).
// Checked again inside the batch: the actor is not the account and is not
// blocked, and an approval's requester is not blocked either.
struct RecoverRequest {
  int64_t uid = 0;
  std::string name;
  int64_t actor_uid = -1;  // -1: nobody on the admin socket (break-glass)
  std::string by;       // who, for the record and the log
  std::string reason;
  std::string verify_code;  // wiped by the engine
  std::string approval_id;
  std::optional<HistoryRecord> history;  // written in the same transaction
};

struct RecoverResult {
  Status status = Ok{};         // Error::Refused: nothing changed, the reason said
  int64_t uid = 0;
  std::string name;
  bool changed = false;         // false: it was not blocked
  int64_t devices_forgotten = 0;
  bool password_change = false; // the account now needs a password change
  TimePoint suspicious_since{};
};

// What the admin socket's listings and the prevention audit read.
struct Overview {
  std::vector<std::pair<int64_t, BlockRecord>> blocks;
  std::vector<int64_t> with_factor;        // uids with an active second factor
  std::vector<RecoveryRecord> recovery;    // open requests and approvals (expired ones dropped)
};

// Service API tokens.
struct TokenIssueRequest {
  int64_t owner_uid = 0;
  std::string owner;
  std::string name;
  std::vector<std::string> scopes;
  int64_t by_uid = 0;
  std::string by;
  Seconds ttl{30 * 86400};
};

struct TokenIssueResult {
  Status status = Ok{};  // Error::Refused: frozen API, blocked owner
  tokens::Token token;  // its record (hash only)
  std::string secret;   // the token itself: shown once, wiped by the caller
};

struct TokenCheckResult {
  tokens::Verdict verdict = tokens::Verdict::kUnknown;
  std::string owner;
  std::vector<std::string> scopes;
  std::string accessor;
};

struct TokenListing {
  std::vector<tokens::Token> tokens;
  std::vector<FreezeRecord> freezes;  // non-empty: the API is frozen
};

struct TokenRevokeResult {
  Status status = Ok{};  // Error::NotFound: no such token
  tokens::Token token;
  bool changed = false;  // false: it was already revoked
};

struct PasswordChangedResult {
  Status status = Ok{};
  bool changed = false;  // false: no change was required
};

struct ResetResult {
  Status status = Ok{};
  bool was_locked = false;
  bool existed = false;
};

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
  };

  // Buckets kept in memory beyond which clean ones are dropped.
  static constexpr std::size_t kCacheMax = 10000;
  // Calls remembered (2 minutes) so that a call reporting twice counts once.
  static constexpr std::size_t kNonceMax = 50000;

  // key may be null: TOTP operations then fail closed (used by tests of the
  // lockout alone).
  Engine(std::unique_ptr<Store> store, const Clock& clock, LockoutConfig config,
         const SecretKey* key = nullptr, TotpConfig totp = {}, DevicesConfig devices = {},
         BlockConfig block = {}, ThrottleConfig throttle = {});
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
                  const ThrottleConfig& throttle = {});
  // Called (on the engine thread, after the commit) with each newly blocked
  // uid: ends its sessions. Set before start().
  void on_blocked(std::function<void(int64_t uid, std::string name)> f) { on_blocked_ = std::move(f); }

  void report(ReportRequest req, std::function<void(ReportResult)> done);
  void verify(VerifyRequest req, std::function<void(VerifyResult)> done);
  void totp(TotpRequest req, std::function<void(TotpResult)> done);
  // Reads one account (lock expiry applied, not persisted).
  void get(std::string key, std::optional<int64_t> uid, std::function<void(Result<AccountView>)> done);
  void list(std::function<void(Result<std::vector<BucketRecord>>)> done);
  void reset(std::string key, int64_t uid, std::string name,
             std::function<void(ResetResult)> done);
  // A login session began (root callers): remembers its device by audit
  // session id, so that sudo and su inside it belong to that device. Only
  // the first record of a session counts (a later one, from sudo's or su's
  // own session phase, changes nothing), it is bound to that uid (sudo and
  // su of another uid in it count as an unknown device), and it is kept in
  // the store for this boot, so a restart keeps it.
  void session_open(uint32_t audit_session, int64_t uid, std::string device);
  // The account phase: blocks and deny rules (never a temporary lock).
  // `in.device_known` is filled in here from `device`.
  void account(int64_t uid, std::string device, uint32_t audit_session, RuleInput in, bool console,
               std::function<void(Result<AccountVerdict>)> done);
  // Administrative block (committed with a full sync); see recover().
  // `admin`: the account is an administrator's, so its block revokes its
  // tokens and freezes the token API (see set_block).
  void block(int64_t uid, std::string name, std::string reason, std::string by, bool admin,
             std::function<void(BlockResult)> done);
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
  void on_outbox(std::function<void()> f) { on_outbox_ = std::move(f); }
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
  };
  static constexpr std::size_t kChallengesPerAccount = 8;
  enum class CodeCheck { kOk, kWrong, kReplay, kNoFactor, kError };
  struct Txn;
  using Job = std::function<void(Txn&)>;

  void submit(Job job);
  void run();
  // Takes the queue and runs it as one batch (under run_mu_).
  void drain();
  // defer: commit through post_ (see the contract), else at once.
  void process_batch(std::deque<Job>& jobs, bool defer);
  // Commits the batch's changes, answers those waiting, then housekeeping.
  void finish_batch(Txn& txn);
  // Finishes a batch whose commit was deferred, if there is one (run_mu_ held).
  void finish_deferred();
  Result<Entry*> entry(const std::string& key);
  // The account's own bucket ("uid:N"), with its block and password change loaded.
  Result<Entry*> account_with_block(int64_t uid);
  Status load_totp(Entry* e, int64_t uid);
  Status load_devices(Entry* e, int64_t uid);
  Status load_block(Entry* e, int64_t uid);
  // What a block does to the account's tokens.
  enum class TokenEffect {
    kAdmin,     // an administrator's compromise: revoke what they own or issued, freeze the API
    kEmployee,  // anyone else's compromise: revoke what they issued for others, suspend their own
    kSuspend,   // wrong passwords alone (escalate_after_locks): suspend their own, nothing more
  };
  // Blocks the account in this batch (full sync); logs, and ends sessions
  // after the commit; applies `effect` to the tokens in the same transaction.
  void set_block(Txn& t, Entry* acct, BlockRecord b, TokenEffect effect, const std::string& source = {},
                 const std::string& service = {});
  static TokenEffect compromise(bool admin) { return admin ? TokenEffect::kAdmin : TokenEffect::kEmployee; }
  void tokens_on_block(Txn& t, int64_t uid, const std::string& name, TokenEffect effect,
                       const std::string& reason);
  // Recovery: lifts the account's freeze and restores its suspended tokens.
  // Returns what to put back if the recovery's commit fails.
  struct TokenUndo {
    std::vector<std::string> restored;  // accessors made active again
    std::optional<FreezeRecord> freeze;  // the freeze lifted
  };
  TokenUndo tokens_on_recover(Txn& t, int64_t uid, const std::string& name);
  // A recovery that did not commit: memory and the retried writes go back
  // to the stricter state.
  void undo_tokens_recover(const TokenUndo& undo);
  void revoke_token(Txn& t, tokens::Token& tok, const std::string& reason);
  void write_token(const tokens::Token& tok);
  void load_tokens();
  bool device_known(const Entry& acct, const std::string& device, TimePoint now) const;
  // Whether this host asks every password login for a code: [totp] require
  // is not "none", a device rule requires one, or any account has a factor.
  // Never anything about the name at hand, so the prompt tells nothing.
  bool host_prompts(const Txn& t) const;
  int64_t active_factors_ = 0;  // accounts with an active factor (engine thread)
  // A complete successful login from a root caller: the device becomes known.
  void trust_device(Txn& t, Entry* acct, const std::string& device);
  static constexpr std::size_t kDevicesPerAccount = 64;
  void mark_dirty(Entry* e);
  // A password report in stages (engine_report.cc): each answers the report
  // (true: the login stops there) or passes it on.
  struct Login;
  bool report_account(Login& l);
  bool report_second_factor(Login& l);
  bool report_device(Login& l);
  bool report_rules(Login& l);
  bool report_block(Login& l);
  bool report_throttle(Login& l);
  bool report_stuffing(Login& l);
  void report_decide(Login& l);
  void report_escalation(Login& l, const Decision& d);
  void report_log(Login& l, const Decision& d);
  bool report_error(Login& l, const Error& e);        // the one way a stage answers an error
  bool report_refusal(Login& l, Entry* write, ReportResult r);
  // Answers a refusal (blocked, throttled, denied by a rule) the way a wrong
  // password is answered: after this batch's commit, with a bucket written,
  // so that its timing tells nothing.
  void answer_refusal(Txn& t, Entry* write, ReportResult r, std::function<void(ReportResult)> done);
  void mark_totp_dirty(Entry* e);
  // Checks a TOTP code (against the active secret) or a recovery code, and
  // consumes it when it is good. Runs inside a batch.
  CodeCheck check_code(Txn& t, Entry* e, std::string& code, bool* recovery_used);
  // Wrong codes within fail_interval have reached [totp] max_failures.
  bool codes_exhausted(Entry* e, TimePoint now) const;
  void maybe_prune(TimePoint now);

  std::unique_ptr<Store> store_;
  const Clock& clock_;

  std::mutex mu_;  // the queue, the mode, pending_
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  enum class Mode { kInline, kThread, kPosted };
  Mode mode_ = Mode::kInline;  // before start() and after stop(): inline
  Poster post_;
  bool posted_ = false;  // a drain is posted and has not taken the queue yet
  std::mutex run_mu_;    // held while a batch runs: one at a time
  std::unique_ptr<Txn> deferred_;  // a batch run whose commit is posted (run_mu_)
  std::optional<Settings> pending_;
  std::thread thread_;

  const SecretKey* key_;

  // Engine thread only.
  Settings settings_;
  std::function<void(int64_t, std::string)> on_blocked_;
  std::unordered_map<std::string, Challenge> challenges_;  // key + '\n' + nonce
  std::unordered_map<std::string, std::deque<std::string>> challenge_order_;  // per key, oldest first
  std::unordered_set<std::string> used_codes_;  // recovery codes used in this batch (uid:id)
  // Login sessions by audit session id: a cache of the store's (this boot).
  std::unordered_map<uint32_t, SessionRecord> sessions_;
  static constexpr std::size_t kSessionsMax = 65536;
  std::string boot_id_;  // the kernel's boot id: audit session ids restart at boot
  // The device of `uid`'s login session `id`, or "" (unknown session, or
  // another uid's).
  Result<std::string> session_device(uint32_t id, int64_t uid);
  // The bucket of one known device of the account.
  static std::string known_key(const std::string& account_key, const std::string& device) {
    return account_key + ":dev:" + device;
  }
  // The account's known-device buckets, the cached copies newer than the
  // store's. Read-only: nothing is added to the cache.
  Result<std::vector<BucketRecord>> known_buckets(const std::string& account_key, int64_t uid);
  // Resets the account's known-device buckets in this batch; true if one was locked.
  Result<bool> reset_known(const std::string& account_key, int64_t uid, TimePoint now);
  void add_challenge(const std::string& key, const std::string& nonce_key, Challenge c);
  void drop_challenge(const std::string& key, const std::string& nonce_key);
  // The password step's success, once the code (if any) is right: applies
  // it to the bucket, trusts the device (root callers). Returns the verdict.
  bool apply_success(Txn& t, Entry* acct, Entry* bucket, const Challenge& ch);
  // A wrong code (login or proof): counts, and locks at [totp] max_failures.
  // Returns true when the limit is reached (the caller blocks, or it locks here).
  bool count_wrong_code(Txn& t, Entry* acct, Entry* bucket, bool lockable, const char* what,
                        bool* locked_now, bool block_instead = false);
  std::vector<std::function<Status(Store&)>> ops_;        // extra writes for this batch
  std::unordered_map<std::string, Entry> cache_;  // nodes are stable: pointers stay valid
  std::vector<Entry*> dirty_;                      // entries to write with this batch
  struct Seen {
    bool allow;
    TimePoint at;
    bool prompt = false;
  };
  std::unordered_map<std::string, Seen> nonces_;  // key + '\n' + nonce
  std::deque<std::string> nonce_order_;            // nonces_'s keys, oldest first
  // Remembers a call's verdict; beyond the cap the oldest are forgotten, one
  // by one (a flood never clears the calls in progress of everyone else).
  void remember_nonce(const std::string& nonce_key, Seen seen);
  // The last commit failed: until one succeeds, every answer waits for its
  // batch's commit (a success too), so the store failing fails closed.
  bool store_failing_ = false;
  // Tokens, loaded at construction; the store is written in each batch.
  Status tokens_status_ = Ok{};
  std::unordered_map<std::string, tokens::Token> tokens_;     // by accessor
  std::unordered_map<std::string, std::string> token_by_hash_;  // hash bytes -> accessor
  std::map<int64_t, FreezeRecord> freezes_;
  // Blocked accounts (loaded with the tokens): a token check consults its
  // owner's block, whatever the token's stored state says.
  std::unordered_set<int64_t> blocked_uids_;
  std::function<void()> on_outbox_;
  bool outbox_added_ = false;  // this batch queued revocations
  TimePoint last_prune_{};
};

}  // namespace vigil
