// The engine's password reports, in stages (ARCHITECTURE.md, "One password
// login"): the account and the call's nonce, the second factor, the device,
// the rules, the block, the source's throttle, credential stuffing, then the
// decision and its record. Each stage either answers the report (and the
// login stops there) or passes it on. See engine.h for the contract.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "daemon/core/device.h"
#include "daemon/core/log.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/engine_txn.h"

namespace vigil {
namespace {

constexpr std::size_t kChallengeMax = 100000;

std::string who(const BucketRecord& r) { return r.name.empty() ? std::string("(unresolved name)") : r.name; }

std::string quoted(const std::string& s) { return boost::json::serialize(boost::json::value(s)); }

// What refused a right password, in the words report mode logs and counts.
std::string refusal_reason(const ReportResult& r, bool old_password) {
  if (r.denied_by_rule) return "deny rule at line " + std::to_string(r.denied_by_rule);
  if (r.blocked_now) return "blocked now (credential stuffing)";
  if (r.blocked) return "blocked";
  if (r.throttled) return "source throttled";
  if (old_password) return "password from before the recovery";
  return "locked";
}

}  // namespace

// One report on its way through the stages.
struct Engine::Login {
  Txn& t;
  ReportRequest req;
  std::function<void(ReportResult)> done;
  Entry* acct = nullptr;    // the account's own bucket ("uid:N", or "name:..." for an unknown name)
  Entry* bucket = nullptr;  // the bucket the password is decided in (acct, or a known device's)
  bool known = false;       // the device is a known one of the account
  std::string nonce_key{};
  Outcome outcome = Outcome::kFailure;
  // The second factor: the host prompts; the account may need a code.
  bool prompt = false, has_factor = false, no_factor = false, needs_code = false, in_grace = false;
  bool journaled = false;  // offline: its journal entry is written
  TimePoint grace_ends{};

  LockState& state() { return bucket->record.state; }
};

void Engine::report(ReportRequest req, std::function<void(ReportResult)> done) {
  submit([this, req = std::move(req), done = std::move(done)](Txn& t) mutable {
    in_batch();
    Login l{t, std::move(req), std::move(done)};
    l.outcome = l.req.outcome;
    if (report_account(l) || report_second_factor(l) || report_device(l) || report_rules(l) ||
        report_block(l) || report_throttle(l) || report_stuffing(l))
      return;
    report_decide(l);
  });
}

bool Engine::report_error(Login& l, const Error& e) {
  ReportResult r;
  r.status = e;
  l.done(std::move(r));
  return true;
}

bool Engine::report_refusal(Login& l, Entry* write, ReportResult r) {
  journal_offline(l, l.outcome == Outcome::kFailure ? "failure" : "refused");
  r.prompt = l.prompt;
  r.state = l.state();
  if (report_only() && l.req.outcome == Outcome::kSuccess && l.req.uid) report_waive(l, r);
  answer_refusal(l.t, write, std::move(r), std::move(l.done));
  return true;
}

// Report mode: the refusal is recorded as in enforce mode (the stage did
// that), logged, and answered as the login would be with nothing refusing
// it: a code is asked for where the host prompts, and checked where the
// account has a factor that applies (verify then allows without applying
// the success: Challenge::waived). Still answered after the commit.
void Engine::report_waive(Login& l, ReportResult& r) {
  r.not_enforced = refusal_reason(r, l.outcome == Outcome::kFailure);
  not_enforced({who(l.acct->record), r.not_enforced, l.req.source, l.req.service, l.req.device, l.t.now, {}});
  if (!l.prompt) {
    r.decision.allow = true;
    return;
  }
  if (l.nonce_key.empty() || challenges_.size() >= kChallengeMax) return;  // no code can follow
  add_challenge(l.req.key, l.nonce_key,
                Challenge{l.t.now, l.req.root_caller, l.req.exempt, l.req.console, false,
                          l.has_factor && l.needs_code, l.in_grace, l.grace_ends, l.bucket->record.key,
                          l.req.device, l.req.admin, true});
  r.verify = true;
}

void Engine::answer_refusal(Txn& t, Entry* write, ReportResult r, std::function<void(ReportResult)> done) {
  mark_dirty(write);
  t.after_commit.push_back([done = std::move(done), r = std::move(r)](const Status& st) mutable {
    r.status = st;
    done(std::move(r));
  });
}

// The account's bucket; a call that already reported (same nonce) is not
// counted again.
bool Engine::report_account(Login& l) {
  auto e = entry(l.req.key);
  if (!e) return report_error(l, e.error());
  l.acct = l.bucket = *e;
  BucketRecord& rec = l.acct->record;
  if (l.req.uid && (rec.uid != l.req.uid || rec.name != l.req.name)) {
    rec.uid = l.req.uid;
    rec.name = l.req.name;
    mark_dirty(l.acct);
  }
  if (l.req.nonce.empty()) return false;
  l.nonce_key = l.req.key + '\n' + l.req.nonce;
  auto it = nonces_.find(l.nonce_key);
  if (it == nonces_.end()) return false;
  ReportResult r;
  r.duplicate = true;
  r.decision.allow = it->second.allow && (l.req.exempt || !rec.state.locked_at(l.t.now));
  r.prompt = it->second.prompt;
  r.state = rec.state;
  l.done(std::move(r));
  return true;
}

// Whether to prompt is the host's, the same for every name; whether a code
// is then needed is the account's.
bool Engine::report_second_factor(Login& l) {
  if (l.req.offline) return false;  // the caller's (ReportRequest::Offline)
  l.prompt = host_prompts(l.t);
  if (!l.req.uid) return false;
  if (auto st = load_totp(l.acct, *l.req.uid); !st) return report_error(l, st.error());
  TotpRecord& tr = l.acct->totp;
  l.has_factor = tr.active();
  if (l.req.totp_required && !l.has_factor) {
    if (tr.required_since == TimePoint{}) {
      tr.required_since = l.t.now;
      mark_totp_dirty(l.acct);
    }
    l.grace_ends = tr.required_since + l.t.totp.grace;
    l.in_grace = l.t.now < l.grace_ends;
    // The console is the way back in: a required factor that nobody can
    // enrol any more (require = "all", no grace) must not lock it out.
    if (!l.in_grace && l.req.console) {
      l.in_grace = true;
      l.grace_ends = l.t.now;
    }
    l.no_factor = !l.in_grace;
  } else if (!l.req.totp_required && tr.required_since != TimePoint{}) {
    tr.required_since = TimePoint{};
    mark_totp_dirty(l.acct);
  }
  l.needs_code = l.has_factor || l.no_factor;
  return false;
}

// sudo and su belong to the device of the login session they run in (of
// their own uid), found through the audit session; where it cannot be
// found the device is unknown. Failures from known and unknown devices count
// in separate buckets, each known device in its own.
bool Engine::report_device(Login& l) {
  if (l.req.audit_session != 0 && l.req.uid) {
    auto dev = session_device(l.req.audit_session, *l.req.uid);
    if (!dev) return report_error(l, dev.error());
    l.req.device = std::move(*dev);
  } else if (l.req.audit_session != 0) {
    l.req.device.clear();
  }
  if (!l.req.uid || l.req.device.empty()) return false;
  if (auto st = load_devices(l.acct, *l.req.uid); !st) return report_error(l, st.error());
  l.known = device_known(*l.acct, l.req.device, l.t.now);
  if (!l.known) return false;
  auto kb = entry(known_key(l.req.key, l.req.device));
  if (!kb) return report_error(l, kb.error());
  l.bucket = *kb;
  if (l.bucket->record.uid != l.req.uid) {
    l.bucket->record.uid = l.req.uid;
    l.bucket->record.name = l.req.name;
    mark_dirty(l.bucket);
  }
  return false;
}

// Device rules, first match wins: they decide the second factor (never a
// lock or a block), or deny the login outright.
bool Engine::report_rules(Login& l) {
  if (l.req.uid) {
    RuleInput in{l.req.name, l.req.groups, l.req.service, device::parse_source(l.req.rhost), l.req.tty,
                 l.known, device::strength(l.req.device)};
    const Rule* rule = first_match(l.t.devices.rules, in);
    if (rule && rule->action == RuleAction::kDeny) {
      const std::string name = who(l.acct->record);
      log::info("refused " + name + " by the deny rule at line " + std::to_string(rule->line),
                {{"VIGIL_USER", name}, {"VIGIL_RHOST", l.req.source}, {"VIGIL_SERVICE", l.req.service},
                 {"VIGIL_REASON", "deny rule"}});
      ReportResult r;
      r.denied_by_rule = rule->line;
      return report_refusal(l, l.bucket, std::move(r));
    }
    if (rule && rule->action == RuleAction::kRequireTotp) {
      l.needs_code = true;
      if (!l.has_factor && !l.req.console) l.no_factor = true;
    } else if (rule && rule->action == RuleAction::kSkipTotp) {
      l.needs_code = false;
      l.no_factor = false;
    }
  }
  if (l.req.offline && l.outcome != Outcome::kFailure) {
    std::string why = l.req.offline->refuse;
    if (why.empty() && l.needs_code && l.req.offline->code_refuses)
      why = "a device rule requires a code, and none can be checked while the fleet's database is unreachable";
    if (!why.empty()) {
      log::info("refused " + who(l.acct->record) + ": " + why,
                {{"VIGIL_USER", who(l.acct->record)}, {"VIGIL_SERVICE", l.req.service},
                 {"VIGIL_REASON", "fleet degraded mode"}});
      return report_refusal(l, l.bucket, ReportResult{});
    }
  }
  if (l.outcome == Outcome::kSuccess && l.prompt) l.outcome = Outcome::kPasswordOk;
  return false;
}

// A blocked account is refused whatever the password, with the same answer
// (and prompt) as a wrong one; the console stays the way back in. After a
// recovery, the password from before it counts as a wrong one until changed.
bool Engine::report_block(Login& l) {
  if (!l.req.uid) return false;
  if (auto st = load_block(l.acct, *l.req.uid); !st) return report_error(l, st.error());
  const std::string name = who(l.acct->record);
  if (l.acct->block && !l.req.console) {
    ++l.acct->record.state.refused;
    mark_dirty(l.acct);
    log::debug("refused: blocked", {{"VIGIL_USER", name}});
    ReportResult r;
    r.blocked = true;
    return report_refusal(l, l.acct, std::move(r));
  }
  if (l.acct->password_change && !l.req.console && l.outcome != Outcome::kFailure) {
    log::event(log::Priority::kWarning, log::kMsgPasswordChangeRequired,
               "refused " + name + ": the password from before the recovery of " +
                   utc_text(l.acct->password_change->since) + " opens nothing until it is changed",
               {{"VIGIL_USER", name}, {"VIGIL_RHOST", l.req.source}, {"VIGIL_SERVICE", l.req.service},
                {"VIGIL_REASON", "password change required after recovery"}});
    l.outcome = Outcome::kFailure;
  }
  return false;
}

// The per-source throttle (password spraying): failures from unknown devices
// count per source across all users (an IPv6 source also per /56 and /48, a
// DNS name in one shared bucket: device.h). Past a threshold, every attempt
// from the source is refused for a back-off that doubles with each offence.
// No account is locked by it; known devices and [throttle] trusted_networks
// are exempt (their failures still count toward the account's own lock).
bool Engine::report_throttle(Login& l) {
  if (l.known || l.t.throttle.deny <= 0) return false;
  const device::Source source = device::parse_source(l.req.rhost);
  if (l.t.throttle.trusted(source)) return false;
  std::vector<std::pair<Entry*, LockoutConfig>> levels;
  for (const auto& k : device::throttle_keys(source)) {
    auto sb = entry("src:" + k.key);
    if (!sb) return report_error(l, sb.error());
    LockoutConfig tc = l.t.throttle.as_lockout();
    tc.deny = std::min(tc.deny * k.scale, 100000);
    expire((*sb)->record.state, tc, l.t.now);
    levels.emplace_back(*sb, tc);
  }
  for (auto& [sb, tc] : levels) {
    if (!sb->record.state.locked_at(l.t.now)) continue;
    ++sb->record.state.refused;
    // The attempt is activity on the account too: a throttled attacker keeps
    // the account's lock doubling alive (policy.h).
    expire(l.state(), l.t.cfg, l.t.now);
    if (l.state().lock_count > 0) {
      l.state().last_failure = l.t.now;
      mark_dirty(l.bucket);
    }
    ReportResult r;
    r.throttled = true;
    return report_refusal(l, sb, std::move(r));
  }
  if (l.outcome != Outcome::kFailure) return false;
  for (auto& [sb, tc] : levels) {
    Decision sd = decide(sb->record.state, Attempt{Outcome::kFailure, true, false, l.t.now, {}}, tc);
    mark_dirty(sb);
    if (!sd.locked_now) continue;
    const std::string what = sb->record.key.substr(4);
    log::event(log::Priority::kWarning, log::kMsgThrottled,
               "throttled source " + what + " for " + format_duration(sd.lock_for) + " after " +
                   std::to_string(tc.deny) + " failures across accounts",
               {{"VIGIL_RHOST", what}, {"VIGIL_SERVICE", l.req.service}, {"VIGIL_REASON", "password spraying"}});
  }
  return false;
}

// Credential stuffing that succeeded: the right password from an unknown
// device (reported by a root caller), for an account that needs no code,
// after failures from at least [block] attack_sources other unknown sources.
// Refused, and the account is blocked.
bool Engine::report_stuffing(Login& l) {
  if (!l.req.uid || !l.req.root_caller || l.outcome == Outcome::kFailure || l.known || l.needs_code ||
      l.req.console)
    return false;
  const LockState& as = l.acct->record.state;
  const int sources = distinct_sources(as, l.t.cfg, l.t.now, l.req.source);
  if (sources < l.t.block.attack_sources) return false;
  boost::json::array failed;
  for (const auto& [src, at] : as.sources) failed.push_back(boost::json::string(src));
  set_block(l.t, l.acct,
            BlockRecord{"the right password from an unknown device after failures from " +
                            std::to_string(sources) + " unknown sources (credential stuffing)",
                        l.t.now, "vigild",
                        "{\"device\":" + quoted(l.req.device) + ",\"source\":" + quoted(l.req.source) +
                            ",\"failed_sources\":" + boost::json::serialize(failed) + "}"},
            compromise(l.req.admin), l.req.source, l.req.service);
  if (l.req.offline) {
    boost::json::object b{{"reason", l.acct->block->reason}, {"by", "vigild"}, {"auto", true}};
    journal_add(l.t, "block", l.req.offline->account, boost::json::serialize(b));
  }
  ReportResult r;
  r.blocked = true;
  r.blocked_now = true;
  return report_refusal(l, l.acct, std::move(r));
}

// The decision and its record: the lock policy, the opt-in escalation, a
// complete success's trust, the call's nonce, the challenge for a code.
void Engine::report_decide(Login& l) {
  Attempt a{l.outcome, l.req.root_caller, l.req.exempt, l.t.now, l.known ? std::string() : l.req.source};
  LockoutConfig policy = l.t.cfg;
  if (l.req.offline) policy.deny = l.req.offline->deny;
  Decision d = decide(l.state(), a, policy);
  if (d.counted && l.req.uid)
    ops_.push_back([f = FailureRecord{*l.req.uid, l.t.now, l.bucket->record.key, l.req.source, l.req.service}](
                       Store& s) { return s.add_failure(f); });
  report_escalation(l, d);
  // A decision answered after its commit always writes its bucket, so that a
  // right password (before a code prompt) costs what a wrong one costs.
  if (d.changed || d.must_commit) mark_dirty(l.bucket);
  if (l.outcome == Outcome::kSuccess && d.allow && l.req.root_caller && l.req.uid) {
    // A complete successful login: the device becomes known, and the
    // account remembers it; the escalation count starts again.
    trust_device(l.t, l.acct, l.req.device);
    note_success(l.t, l.acct, l.bucket);
  }
  if (!l.nonce_key.empty())
    remember_nonce(l.nonce_key, Seen{d.allow && l.outcome != Outcome::kPasswordOk, l.t.now, l.prompt});
  const bool refused = !d.allow;
  bool verify = false;
  if (l.outcome == Outcome::kPasswordOk && d.allow) {
    if (!l.nonce_key.empty() && challenges_.size() < kChallengeMax) {
      add_challenge(l.req.key, l.nonce_key,
                    Challenge{l.t.now, l.req.root_caller, l.req.exempt, l.req.console, l.no_factor,
                              l.needs_code, l.in_grace, l.grace_ends, l.bucket->record.key, l.req.device,
                              l.req.admin, false});
      verify = true;
    }
    d.allow = false;  // not yet: the code decides
  }
  report_log(l, d);
  journal_offline(l, l.outcome == Outcome::kFailure ? "failure" : d.allow ? "success" : "refused");
  ReportResult r;
  r.decision = d;
  r.state = l.state();
  r.known_device = l.known;
  r.prompt = l.prompt;
  r.verify = verify;
  r.in_grace = l.in_grace;
  r.grace_ends = l.grace_ends;
  // While the store is failing, every answer waits for its batch's commit:
  // a login is allowed only while its failures could be recorded. A refusal
  // (locked, the password from before a recovery) waits for it too, as a
  // wrong password does, and report mode may waive it (report_refusal).
  if (refused) {
    report_refusal(l, l.bucket, std::move(r));
  } else if (d.must_commit || store_failing_ || !d.allow || l.req.offline) {
    if (!d.allow) mark_dirty(l.bucket);
    l.t.after_commit.push_back([done = std::move(l.done), r](const Status& st) mutable {
      r.status = st;
      done(std::move(r));
    });
  } else {
    l.done(std::move(r));
  }
}

// Opt-in escalation: this many locks in a row of the unknown-device bucket,
// with no root-reported success of the account in between, block it. It
// rests on wrong passwords alone, so it touches no one else: the account's
// own tokens are suspended, nothing is revoked, the token API not frozen.
void Engine::report_escalation(Login& l, const Decision& d) {
  if (!d.locked_now || !l.req.uid || !l.req.root_caller || l.req.console || l.bucket != l.acct) return;
  l.acct->record.escalation = l.state().lock_count == 1 ? 1 : l.acct->record.escalation + 1;
  mark_dirty(l.acct);
  if (l.t.block.escalate_after_locks <= 0 || l.acct->record.escalation < l.t.block.escalate_after_locks) return;
  set_block(l.t, l.acct,
            BlockRecord{std::to_string(l.acct->record.escalation) +
                            " locks in a row (escalate_after_locks): wrong passwords alone",
                        l.t.now, "vigild", "{\"device\":" + quoted(l.req.device) + "}"},
            TokenEffect::kSuspend, l.req.source, l.req.service);
}

// Fleet degraded mode: the report's decision, journaled in its batch's
// transaction (ReportRequest::Offline). Every answered report is, once.
void Engine::journal_offline(Login& l, const char* kind) {
  if (!l.req.offline || l.journaled) return;
  l.journaled = true;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(l.req.offline->entry, ec);
  boost::json::object o = !ec && v.is_object() ? std::move(v.as_object()) : boost::json::object();
  o["verdict"] = kind;
  journal_add(l.t, kind, l.req.offline->account, boost::json::serialize(o));
}

void Engine::journal_add(Txn& t, std::string kind, std::string account, std::string entry) {
  ops_.push_back([e = JournalEntry{0, t.now, std::move(kind), std::move(account), std::move(entry)}](Store& s) {
    return s.add_journal(e);
  });
}

void Engine::report_log(Login& l, const Decision& d) {
  const std::string name = who(l.acct->record);
  const std::string where = l.known ? " (known device " + l.req.device + ")" : std::string();
  if (l.in_grace && l.outcome == Outcome::kSuccess && d.allow)
    log::event(log::Priority::kWarning, log::kMsgTotpGrace,
               name + " logged in without a second factor (grace until " + utc_text(l.grace_ends) + ")",
               {{"VIGIL_USER", name}, {"VIGIL_REASON", "totp required, grace"}});
  if (d.unlocked)
    log::event(log::Priority::kNotice, log::kMsgUnlocked, "lock expired: " + name + where,
               {{"VIGIL_USER", name}, {"VIGIL_RHOST", l.req.source}, {"VIGIL_SERVICE", l.req.service},
                {"VIGIL_REASON", "unlock_time elapsed"}});
  if (d.locked_now)
    log::event(log::Priority::kWarning, log::kMsgLocked,
               "locked " + name + where + " for " + format_duration(d.lock_for) + " after " +
                   std::to_string(l.t.cfg.deny) + " failures",
               {{"VIGIL_USER", name}, {"VIGIL_RHOST", l.req.source}, {"VIGIL_SERVICE", l.req.service},
                {"VIGIL_REASON", "too many failures"},
                {"VIGIL_UNLOCK_TIME", std::to_string(to_epoch(l.state().locked_until))}});
  if (d.refused_locked) log::debug("refused while locked", {{"VIGIL_USER", name}});
}

}  // namespace vigil
