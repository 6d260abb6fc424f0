// pamdrive: runs one PAM transaction through libpamtest and prints what
// happened as JSON, for the end-to-end tests (tests/e2e/).
//
//   pamdrive --service S --user U [--answer TEXT]... [--ops auth,auth,account]
//            (ops: auth, account, setcred, chauthtok, open_session)
//            [--rhost H] [--tty T] [--ruser R] [--pam-env NAME=VALUE]...
//            [--exhaust-fds] [--fork]
//
// --exhaust-fds runs the operations with no descriptor left to open (limit
// 64, every slot taken). --fork runs them, then runs them again on the same
// handle in a forked child, whose results are "child_results" ("hung" if it
// did not finish within 20 s). "timings_ms" gives each operation's duration.
//
// Every PAM_PROMPT_ECHO_OFF/ON prompt takes the next --answer (or "" when
// they run out). The output lists each operation's return code, every
// message the stack showed (style and text), and every descriptor that was
// opened during the transaction and is still open after pam_end.
//
// pam_wrapper picks its scratch directory (/tmp/pam.X) with a check-then-
// mkdir that races between processes started at the same moment. So pamdrive
// is started without pam_wrapper, takes an exclusive lock, and re-executes
// itself with LD_PRELOAD=$PAMDRIVE_PRELOAD; the new image releases the lock
// once pam_wrapper has initialised (its constructor runs before main). Only
// start-up is serialised: the transactions themselves still overlap.
//
// pam_wrapper also has only 36 names for those directories (/tmp/pam.0 to
// /tmp/pam.Z), so 37 live processes make the last one fail at start. Each
// pamdrive therefore first holds one of kSlots slot locks for its whole life
// (the descriptor survives the re-exec): at most kSlots run at once, across
// every suite running in parallel, and the rest wait for a slot.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
extern "C" {
#include <libpamtest.h>
}
#include <security/pam_appl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

struct ConvState {
  std::vector<std::string> answers;
  size_t next = 0;
  std::vector<std::pair<std::string, std::string>> messages;  // style, text
};

int conv(int n, const struct pam_message** msg, struct pam_response** resp, void* data) {
  auto* st = static_cast<ConvState*>(data);
  auto* out = static_cast<pam_response*>(calloc(static_cast<size_t>(n), sizeof(pam_response)));
  if (!out) return PAM_BUF_ERR;
  for (int i = 0; i < n; ++i) {
    const char* style = "?";
    switch (msg[i]->msg_style) {
      case PAM_PROMPT_ECHO_OFF: style = "echo_off"; break;
      case PAM_PROMPT_ECHO_ON: style = "echo_on"; break;
      case PAM_ERROR_MSG: style = "error"; break;
      case PAM_TEXT_INFO: style = "info"; break;
    }
    st->messages.emplace_back(style, msg[i]->msg ? msg[i]->msg : "");
    if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
      std::string a = st->next < st->answers.size() ? st->answers[st->next++] : "";
      out[i].resp = strdup(a.c_str());
    }
  }
  *resp = out;
  return PAM_SUCCESS;
}

std::set<int> open_fds() {
  std::set<int> fds;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return fds;
  int self = dirfd(d);
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd != self) fds.insert(fd);
  }
  closedir(d);
  return fds;
}

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') { o += '\\'; o += static_cast<char>(c); }
    else if (c < 0x20) { char b[8]; snprintf(b, sizeof b, "\\u%04x", c); o += b; }
    else o += static_cast<char>(c);
  }
  return o + "\"";
}

}  // namespace

constexpr int kSlots = 28;

// Takes one of the slot locks for the life of this process (see the top).
void hold_a_slot() {
  std::vector<int> fds;
  for (int i = 0; i < kSlots; ++i) {
    std::string path = "/tmp/vigil-pamdrive.slot." + std::to_string(i);
    int fd = open(path.c_str(), O_RDWR | O_CREAT, 0666);
    if (fd < 0) continue;
    fchmod(fd, 0666);
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      for (int other : fds) close(other);
      return;  // fd stays open (and locked) until this process exits
    }
    fds.push_back(fd);
  }
  if (fds.empty()) return;
  // All taken: wait for one, picked by pid so that waiters spread out.
  int wait_on = fds[static_cast<size_t>(getpid()) % fds.size()];
  flock(wait_on, LOCK_EX);
  for (int other : fds)
    if (other != wait_on) close(other);
}

// Stage 1: lock, then re-exec with pam_wrapper preloaded. Returns only in
// stage 2 (or when no preload is asked for).
void serialise_pam_wrapper_start(char** argv) {
  if (const char* fd = getenv("PAMDRIVE_LOCK_FD")) {
    close(atoi(fd));  // stage 2: pam_wrapper is initialised; let the next one start
    unsetenv("PAMDRIVE_LOCK_FD");
    return;
  }
  const char* preload = getenv("PAMDRIVE_PRELOAD");
  if (!preload) return;
  hold_a_slot();
  int lock = open("/tmp/vigil-pamdrive.lock", O_RDWR | O_CREAT, 0666);
  if (lock >= 0) {
    fchmod(lock, 0666);
    flock(lock, LOCK_EX);
    setenv("PAMDRIVE_LOCK_FD", std::to_string(lock).c_str(), 1);
  } else {
    setenv("PAMDRIVE_LOCK_FD", "-1", 1);
  }
  setenv("LD_PRELOAD", preload, 1);
  unsetenv("PAMDRIVE_PRELOAD");
  execv("/proc/self/exe", argv);
  perror("pamdrive: re-exec");
  exit(1);
}

int main(int argc, char** argv) {
  serialise_pam_wrapper_start(argv);
  std::string service = "vigil", user;
  std::string rhost, tty, ruser;
  bool have_rhost = false, have_tty = false, have_ruser = false;
  std::vector<std::string> ops = {"auth"};
  std::vector<std::string> pam_env;  // NAME=VALUE put into the PAM environment (as sshd does)
  bool exhaust_fds = false;          // run the ops with no descriptor left to open
  bool fork_after = false;           // run the ops again in a forked child
  ConvState st;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&]() -> std::string {
      if (i + 1 >= argc) { fprintf(stderr, "pamdrive: %s needs a value\n", a.c_str()); exit(2); }
      return argv[++i];
    };
    if (a == "--service") service = need();
    else if (a == "--user") user = need();
    else if (a == "--answer") st.answers.push_back(need());
    else if (a == "--rhost") { rhost = need(); have_rhost = true; }
    else if (a == "--tty") { tty = need(); have_tty = true; }
    else if (a == "--ruser") { ruser = need(); have_ruser = true; }
    else if (a == "--pam-env") pam_env.push_back(need());
    else if (a == "--exhaust-fds") exhaust_fds = true;
    else if (a == "--fork") fork_after = true;
    else if (a == "--ops") {
      ops.clear();
      std::string v = need();
      size_t pos = 0;
      while (pos <= v.size()) {
        size_t c = v.find(',', pos);
        ops.push_back(v.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
        if (c == std::string::npos) break;
        pos = c + 1;
      }
    } else {
      fprintf(stderr, "usage: pamdrive --service S --user U [--answer A]... [--ops auth,account] "
                      "[--rhost H] [--tty T] [--ruser R] [--pam-env N=V] [--exhaust-fds] [--fork]\n");
      return 2;
    }
  }

  std::set<int> before = open_fds();
  pam_conv pc{conv, &st};
  pam_handle_t* ph = nullptr;
  int rc = pam_start(service.c_str(), user.empty() ? nullptr : user.c_str(), &pc, &ph);
  if (rc != PAM_SUCCESS) {
    printf("{\"error\":\"pam_start failed: %d\"}\n", rc);
    return 1;
  }
  if (have_rhost) pam_set_item(ph, PAM_RHOST, rhost.c_str());
  if (have_tty) pam_set_item(ph, PAM_TTY, tty.c_str());
  if (have_ruser) pam_set_item(ph, PAM_RUSER, ruser.c_str());
  for (const auto& e : pam_env) pam_putenv(ph, e.c_str());

  struct Result {
    std::string op;
    int rc;
    double ms;
  };
  auto run_ops = [&](std::vector<Result>* results) -> int {
    for (const auto& op : ops) {
      // KEEPHANDLE first: libpamtest stops at the first case whose result differs
      // from the expected one, and must never pam_end our handle itself.
      pam_testcase tc[2] = {
          pam_test(PAMTEST_KEEPHANDLE, PAM_SUCCESS),
          pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
      };
      if (op == "auth") tc[1].pam_operation = PAMTEST_AUTHENTICATE;
      else if (op == "account") tc[1].pam_operation = PAMTEST_ACCOUNT;
      else if (op == "setcred") tc[1].pam_operation = PAMTEST_SETCRED;
      else if (op == "chauthtok") tc[1].pam_operation = PAMTEST_CHAUTHTOK;
      else if (op == "open_session") tc[1].pam_operation = PAMTEST_OPEN_SESSION;
      else {
        fprintf(stderr, "pamdrive: unknown op %s\n", op.c_str());
        return 2;
      }
      auto t0 = std::chrono::steady_clock::now();
      enum pamtest_err perr =
          _pamtest_conv(service.c_str(), user.c_str(), conv, &st, tc, 2, ph);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (perr != PAMTEST_ERR_OK && perr != PAMTEST_ERR_CASE) {
        printf("{\"error\":\"libpamtest: %s\"}\n", pamtest_strerror(perr));
        return 1;
      }
      results->push_back({op, tc[1].op_rv, ms});
    }
    return 0;
  };
  auto results_json = [&](const std::vector<Result>& results) {
    std::string out = "[";
    for (size_t i = 0; i < results.size(); ++i) {
      if (i) out += ",";
      out += "{\"op\":" + json_str(results[i].op) + ",\"rc\":" + std::to_string(results[i].rc) +
             ",\"name\":" + json_str(pam_strerror(nullptr, results[i].rc)) + "}";
    }
    return out + "]";
  };
  // Durations apart from the results, which tests compare whole.
  auto timings_json = [&](const std::vector<Result>& results) {
    std::string out = "[";
    for (size_t i = 0; i < results.size(); ++i) out += (i ? "," : "") + std::to_string(results[i].ms);
    return out + "]";
  };

  // --exhaust-fds: a caller that has used up its descriptors (a low limit,
  // then every slot taken), as a leaking server would.
  std::vector<int> hogs;
  if (exhaust_fds) {
    rlimit rl{64, 64};
    setrlimit(RLIMIT_NOFILE, &rl);
    for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) hogs.push_back(fd);
  }
  std::vector<Result> results;
  if (int e = run_ops(&results)) return e;
  for (int fd : hogs) close(fd);

  // --fork: the ops again, on the same handle, in a child of this process
  // (the module was already used here), as daemons that fork after pam_start do.
  std::string child_json;
  if (fork_after) {
    int pipefd[2];
    if (pipe(pipefd) != 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
      close(pipefd[0]);
      std::vector<Result> mine;
      int e = run_ops(&mine);
      pam_end(ph, mine.empty() ? PAM_SUCCESS : mine.back().rc);
      std::string j = e ? "null" : results_json(mine);
      (void)!write(pipefd[1], j.data(), j.size());
      _exit(0);
    }
    close(pipefd[1]);
    // The child must finish: a module that hangs after fork fails here.
    std::string got;
    char buf[4096];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    for (;;) {
      ssize_t n = read(pipefd[0], buf, sizeof buf);
      if (n > 0) { got.append(buf, static_cast<size_t>(n)); continue; }
      if (n == 0) break;
      if (std::chrono::steady_clock::now() > deadline) { kill(pid, SIGKILL); got = "\"hung\""; break; }
      usleep(10000);
    }
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    child_json = got.empty() ? "null" : got;
  }
  pam_end(ph, results.empty() ? PAM_SUCCESS : results.back().rc);

  std::set<int> after = open_fds();
  std::string leaked;
  for (int fd : after) {
    if (before.count(fd)) continue;
    char path[64], target[512] = {0};
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0) continue;
    if (!leaked.empty()) leaked += ",";
    leaked += "{\"fd\":" + std::to_string(fd) + ",\"target\":" + json_str(target) + "}";
  }

  std::string out = "{\"results\":" + results_json(results) + ",\"timings_ms\":" + timings_json(results);
  if (fork_after) out += ",\"child_results\":" + child_json;
  out += ",\"messages\":[";
  for (size_t i = 0; i < st.messages.size(); ++i) {
    if (i) out += ",";
    out += "{\"style\":" + json_str(st.messages[i].first) + ",\"text\":" +
           json_str(st.messages[i].second) + "}";
  }
  out += "],\"leaked_fds\":[" + leaked + "]}";
  printf("%s\n", out.c_str());
  return 0;
}
