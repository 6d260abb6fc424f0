// The engine: the one thread that decides and commits.
//
// Contract:
//  * Every decision runs on the engine thread, one at a time, so the reports
//    of one bucket are decided atomically: with deny=3, however many reports
//    arrive at once, at most 3 failures are honoured before the lock.
//  * Jobs are taken in batches. Each batch ends with one SQLite transaction
//    holding every bucket it changed (group commit).
//  * A protective change (a failure, a lock, a reset) is answered only after
//    its commit. A success that only relaxes state is answered at once and
//    committed with its batch.
//  * When a commit fails, the waiting callers get a failed Status (they fail
//    closed), the in-memory state keeps the stricter decision, and the write
//    is retried with the next batch.
//  * Completion callbacks run on the engine thread; they must be quick and
//    must not block (callers post back to their own executor).
//  * Reports carry a nonce per pam_authenticate call; a repeated nonce for the
//    same bucket is not counted again.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "daemon/clock.h"
#include "daemon/config.h"
#include "daemon/policy.h"
#include "daemon/store.h"

namespace vigil {

struct ReportRequest {
  std::string key;             // bucket key
  std::optional<int64_t> uid;  // empty for unresolved names
  std::string name;            // canonical name; empty for unresolved names
  std::string nonce;           // may be empty (no de-duplication)
  Outcome outcome = Outcome::kFailure;
  bool root_caller = false;
  bool exempt = false;
};

struct ReportResult {
  Status status = Ok{};  // not ok: the decision could not be made durable
  Decision decision;
  LockState state;       // after the decision
  bool duplicate = false;
};

struct ResetResult {
  Status status = Ok{};
  bool was_locked = false;
  bool existed = false;
};

class Engine {
 public:
  // Buckets kept in memory beyond which clean ones are dropped.
  static constexpr std::size_t kCacheMax = 50000;

  Engine(std::unique_ptr<Store> store, const Clock& clock, LockoutConfig config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start();
  // Finishes queued jobs, commits, and joins the thread.
  void stop();

  void set_config(const LockoutConfig& config);  // applies from the next batch

  void report(ReportRequest req, std::function<void(ReportResult)> done);
  // Reads one bucket (lock expiry applied, not persisted).
  void get(std::string key, std::function<void(Result<std::optional<BucketRecord>>)> done);
  void list(std::function<void(Result<std::vector<BucketRecord>>)> done);
  void reset(std::string key, int64_t uid, std::string name,
             std::function<void(ResetResult)> done);
  // Counts for STATUS= lines.
  void count_locked(std::function<void(Result<int64_t>)> done);

 private:
  struct Entry {
    BucketRecord record;
    bool dirty = false;
  };
  struct Txn;
  using Job = std::function<void(Txn&)>;

  void submit(Job job);
  void run();
  void process_batch(std::deque<Job>& jobs);
  Result<Entry*> entry(const std::string& key);
  void mark_dirty(Entry* e);
  void maybe_prune(TimePoint now);

  std::unique_ptr<Store> store_;
  const Clock& clock_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::optional<LockoutConfig> pending_config_;
  std::thread thread_;

  // Engine thread only.
  LockoutConfig config_;
  std::unordered_map<std::string, Entry> cache_;  // nodes are stable: pointers stay valid
  std::vector<Entry*> dirty_;                      // entries to write with this batch
  struct Seen {
    bool allow;
    TimePoint at;
  };
  std::unordered_map<std::string, Seen> nonces_;  // key + '\n' + nonce
  TimePoint last_prune_{};
};

}  // namespace vigil
