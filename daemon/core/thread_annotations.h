// Clang's thread-safety annotations, and a mutex they can see.
//
// Contract:
//  * The macros expand to clang's attributes when the compiler is clang and
//    to nothing otherwise: they change no code, only what clang checks. A
//    clang build compiles with -Wthread-safety -Werror=thread-safety
//    (meson.build), so a violation is a compile error.
//  * On a member: GUARDED_BY(m), read or written only while m is held;
//    PT_GUARDED_BY(m), the same for what the pointer points to.
//  * On a function: REQUIRES(m), its callers hold m; EXCLUDES(m), they do not
//    (it takes m itself); ACQUIRE(m) / RELEASE(m), it takes / gives up m;
//    ASSERT_CAPABILITY(m), from its call on m is held: for code the analysis
//    cannot follow (a lambda run through std::function), and only where the
//    function checks it at run time (Mutex::assert_held). NO_THREAD_SAFETY_ANALYSIS
//    turns the check off for one function; each use says why.
//  * std::mutex carries no annotations in libstdc++. Mutex wraps one, with
//    annotated lock() and unlock() (so std::condition_variable_any can wait
//    on it); MutexLock holds one for a scope. Mutex also knows its owner, so
//    that assert_held() can check, where assertions are compiled in, that
//    the calling thread holds it.
#pragma once

#include <atomic>
#include <cassert>
#include <mutex>
#include <thread>

#if defined(__clang__)
#define VIGIL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define VIGIL_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) VIGIL_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY VIGIL_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) VIGIL_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) VIGIL_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) VIGIL_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) VIGIL_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) VIGIL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) VIGIL_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) VIGIL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) VIGIL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) VIGIL_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) VIGIL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) VIGIL_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) VIGIL_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS VIGIL_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace vigil {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() {
    mu_.lock();
    owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  }
  void unlock() RELEASE() {
    owner_.store(std::thread::id(), std::memory_order_relaxed);
    mu_.unlock();
  }
  // The calling thread holds it (checked where assertions are compiled in).
  // Relaxed is enough: only the holder itself ever stored its own id.
  void assert_held() const ASSERT_CAPABILITY(this) {
    assert(owner_.load(std::memory_order_relaxed) == std::this_thread::get_id());
  }

 private:
  std::mutex mu_;
  std::atomic<std::thread::id> owner_{};
};

class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace vigil
