// The engine's service API tokens: issue, check, list, revoke; what a block
// and a recovery do to them; and the revocation outbox. See engine.h.
#include <boost/json/serialize.hpp>

#include <algorithm>

#include "daemon/engine/engine.h"
#include "daemon/engine/engine_txn.h"
#include "daemon/core/log.h"

namespace vigil {
namespace json = boost::json;

namespace {
std::string hash_key(const Bytes& h) { return std::string(h.begin(), h.end()); }

std::string scopes_text(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

// What the revoke hooks read on stdin: never the token.
std::string hook_payload(const tokens::Token& t, const std::string& reason, TimePoint at) {
  json::object o = tokens::describe(t);
  o["reason"] = reason;
  o["revoked_at"] = to_epoch(at);
  return json::serialize(o);
}
}  // namespace

void Engine::load_tokens() {
  tokens_.clear();
  token_by_hash_.clear();
  freezes_.clear();
  tokens_status_ = Ok{};
  blocked_uids_.clear();
  auto list = store_->list_tokens();
  auto freezes = store_->list_freezes();
  auto blocks = store_->list_blocks();
  if (!list || !freezes || !blocks) {
    tokens_status_ = !list ? list.error() : !freezes ? freezes.error() : blocks.error();
    log::error("cannot load the API tokens; every token check fails closed: " +
               tokens_status_.error().message);
    return;
  }
  for (auto& t : *list) {
    token_by_hash_[hash_key(t.hash)] = t.accessor;
    std::string acc = t.accessor;
    tokens_.emplace(std::move(acc), std::move(t));
  }
  for (auto& f : *freezes) freezes_[f.uid] = std::move(f);
  for (const auto& [uid, b] : *blocks) blocked_uids_.insert(uid);
  // Reconciled with the blocks: an active token of a blocked owner (a
  // database restored from backup, an older vigild) is suspended, written
  // with the first batch. Not in report mode, where a block suspends nothing
  // (its check is refused all the same once vigild enforces: token_check).
  if (report_only()) return;
  for (auto& [acc, tok] : tokens_) {
    if (tok.state != tokens::State::kActive || !blocked_uids_.count(tok.owner_uid)) continue;
    tok.state = tokens::State::kSuspended;
    tok.state_reason = "owner blocked";
    write_token(tok);
    log::warning("API token " + acc + " of blocked " + tok.owner + " was active: suspended",
                 {{"VIGIL_TOKEN", acc}, {"VIGIL_USER", tok.owner}});
  }
}

void Engine::write_token(const tokens::Token& tok) {
  ops_.push_back([tok](Store& s) { return s.put_token(tok); });
}

void Engine::revoke_token(Txn& t, tokens::Token& tok, const std::string& reason) {
  tok.state = tokens::State::kRevoked;
  tok.state_reason = reason;
  tok.state_changed = t.now;
  write_token(tok);
  OutboxItem item;
  item.payload = hook_payload(tok, reason, t.now);
  item.next_at = t.now;
  item.created = t.now;
  ops_.push_back([item](Store& s) { return s.add_outbox(item); });
  outbox_added_ = true;
  log::event(log::Priority::kWarning, log::kMsgTokenRevoked,
             "revoked API token " + tok.accessor + " (" + tok.name + ", owner " + tok.owner + "): " + reason,
             {{"VIGIL_TOKEN", tok.accessor}, {"VIGIL_USER", tok.owner}, {"VIGIL_REASON", reason}});
}

// An administrator's block revokes every token they own or issued; anyone
// else's revokes the tokens they issued for others (not for a block that
// rests on wrong passwords alone) and suspends their own active ones. An
// administrator's block freezes the API, and with [tokens] freeze_on =
// "any" so does anyone else's (not one on wrong passwords alone).
Engine::BlockEffect Engine::block_effect(int64_t uid, TokenEffect effect) const {
  BlockEffect fx;
  fx.freeze = effect == TokenEffect::kAdmin ||
              (effect == TokenEffect::kEmployee && settings_.tokens.freeze_on == FreezeOn::kAny);
  for (const auto& [acc, tok] : tokens_) {
    if (tok.state == tokens::State::kRevoked) continue;
    const bool theirs = tok.owner_uid == uid, issued = tok.created_by_uid == uid;
    if (effect == TokenEffect::kAdmin ? theirs || issued : effect == TokenEffect::kEmployee && issued && !theirs)
      fx.revoke.push_back(acc);
    else if (effect != TokenEffect::kAdmin && theirs && tok.state == tokens::State::kActive)
      fx.suspend.push_back(acc);
  }
  return fx;
}

void Engine::tokens_on_block(Txn& t, int64_t uid, const std::string& name, TokenEffect effect,
                             const std::string& reason) {
  t.full_sync = true;
  if (!tokens_status_) load_tokens();  // once more: a block must reach the tokens
  const BlockEffect fx = block_effect(uid, effect);
  const std::string who = effect == TokenEffect::kAdmin ? "administrator " + name : name;
  for (const auto& acc : fx.revoke)
    revoke_token(t, tokens_.at(acc),
                 (effect == TokenEffect::kAdmin ? who : "its issuer " + name) + " was blocked: " + reason);
  for (const auto& acc : fx.suspend) {
    tokens::Token& tok = tokens_.at(acc);
    tok.state = tokens::State::kSuspended;
    tok.state_reason = "owner blocked";
    tok.state_changed = t.now;
    write_token(tok);
    log::event(log::Priority::kNotice, log::kMsgTokenSuspended,
               "suspended API token " + tok.accessor + " (" + tok.name + ") while " + name + " is blocked",
               {{"VIGIL_TOKEN", tok.accessor}, {"VIGIL_USER", name}});
  }
  if (!fx.freeze) return;
  FreezeRecord f{uid, name, t.now, reason};
  ops_.push_back([f](Store& s) { return s.put_freeze(f); });
  const bool was_frozen = !freezes_.empty();
  freezes_[uid] = f;
  log::event(log::Priority::kCrit, log::kMsgApiFrozen,
             std::string(was_frozen ? "token API stays frozen" : "token API FROZEN") + ": " + who +
                 " was blocked" + (effect == TokenEffect::kAdmin ? "" : " ([tokens] freeze_on = \"any\")"),
             {{"VIGIL_USER", name}, {"VIGIL_REASON", reason}});
}

// Report mode: the block is recorded, and what it would have done to the
// tokens and the sessions is logged instead.
void Engine::block_not_enforced(Txn& t, int64_t uid, const std::string& name, TokenEffect effect) {
  if (!tokens_status_) load_tokens();
  const BlockEffect fx = block_effect(uid, effect);
  std::vector<std::string> parts;
  auto listed = [&parts](const char* verb, const std::vector<std::string>& accs) {
    if (accs.empty()) return;
    std::string out = std::string(verb) + " " + std::to_string(accs.size()) + " API token(s)";
    for (std::size_t i = 0; i < accs.size(); ++i) out += (i == 0 ? " (" : ", ") + accs[i];
    parts.push_back(out + ")");
  };
  listed("revoked", fx.revoke);
  listed("suspended", fx.suspend);
  if (fx.freeze) parts.push_back("frozen the token API");
  if (settings_.block.end_sessions) parts.push_back("ended the sessions of " + name);
  std::string detail = parts.empty() ? "nothing to revoke, suspend, freeze or end" : "would have";
  for (std::size_t i = 0; i < parts.size(); ++i) detail += (i == 0 ? " " : ", ") + parts[i];
  not_enforced({name, "block: tokens and sessions untouched", {}, {}, {}, t.now, detail});
}

Engine::TokenUndo Engine::tokens_on_recover(Txn& t, int64_t uid, const std::string& name) {
  TokenUndo undo;
  for (auto& [acc, tok] : tokens_) {
    if (tok.owner_uid != uid || tok.state != tokens::State::kSuspended) continue;
    tok.state = tokens::State::kActive;
    tok.state_reason.clear();
    tok.state_changed = t.now;
    write_token(tok);
    undo.restored.push_back(acc);
    log::event(log::Priority::kNotice, log::kMsgTokenRestored,
               "restored API token " + tok.accessor + " (" + tok.name + ") of " + name,
               {{"VIGIL_TOKEN", tok.accessor}, {"VIGIL_USER", name}});
  }
  if (auto it = freezes_.find(uid); it != freezes_.end()) {
    undo.freeze = it->second;
    freezes_.erase(it);
    ops_.push_back([uid](Store& s) { return s.erase_freeze(uid); });
    log::event(log::Priority::kNotice, log::kMsgApiUnfrozen,
               freezes_.empty() ? "token API unfrozen: " + name + " was recovered"
                                : name + " was recovered; the token API stays frozen for " +
                                      std::to_string(freezes_.size()) + " other blocked account(s)",
               {{"VIGIL_USER", name}});
  }
  return undo;
}

void Engine::undo_tokens_recover(const TokenUndo& undo) {
  // Queued after the relaxing writes that are retried, so the stricter ones win.
  for (const auto& acc : undo.restored) {
    auto it = tokens_.find(acc);
    if (it == tokens_.end() || it->second.state != tokens::State::kActive) continue;
    it->second.state = tokens::State::kSuspended;
    it->second.state_reason = "owner blocked";
    write_token(it->second);
  }
  if (undo.freeze) {
    freezes_[undo.freeze->uid] = *undo.freeze;
    FreezeRecord f = *undo.freeze;
    ops_.push_back([f](Store& s) { return s.put_freeze(f); });
  }
  log::warning("the recovery did not commit: the token API's freeze and suspensions stay");
}

void Engine::token_issue(TokenIssueRequest req, std::function<void(TokenIssueResult)> done) {
  submit([this, req = std::move(req), done = std::move(done)](Txn& t) mutable {
    in_batch();
    TokenIssueResult r;
    if (!tokens_status_) {
      r.status = tokens_status_;
      return done(std::move(r));
    }
    if (!freezes_.empty()) {
      r.status = Error::Refused("the token API is frozen until " + freezes_.begin()->second.name +
                                " is recovered: no token is issued");
      return done(std::move(r));
    }
    auto e = entry("uid:" + std::to_string(req.owner_uid));
    if (!e) {
      r.status = e.error();
      return done(std::move(r));
    }
    if (auto st = load_block(*e, req.owner_uid); !st) {
      r.status = st.error();
      return done(std::move(r));
    }
    if ((*e)->block) {
      r.status = Error::Refused(req.owner + " is blocked: no token is issued to a blocked account");
      return done(std::move(r));
    }
    tokens::Token tok;
    do tok.accessor = tokens::new_accessor();
    while (tokens_.count(tok.accessor));
    r.secret = tokens::new_token();
    tok.hash = tokens::hash_token(r.secret);
    tok.owner_uid = req.owner_uid;
    tok.owner = req.owner;
    tok.name = req.name;
    tok.scopes = req.scopes;
    tok.created_by_uid = req.by_uid;
    tok.created_by = req.by;
    tok.created = t.now;
    tok.expires = t.now + req.ttl;
    tok.state_changed = t.now;
    token_by_hash_[hash_key(tok.hash)] = tok.accessor;
    tokens_[tok.accessor] = tok;
    write_token(tok);
    r.token = tok;
    log::event(log::Priority::kNotice, log::kMsgTokenIssued,
               "issued API token " + tok.accessor + " (" + tok.name + ") to " + tok.owner + " by " + req.by,
               {{"VIGIL_TOKEN", tok.accessor}, {"VIGIL_USER", tok.owner}, {"VIGIL_ACTOR", req.by},
                {"VIGIL_SCOPES", scopes_text(tok.scopes)}});
    t.after_commit.push_back([this, acc = tok.accessor, done = std::move(done),
                              r = std::move(r)](const Status& st) mutable {
      in_batch();
      if (!st) {
        // Not recorded, and never shown: the retried write stores it revoked.
        if (auto it = tokens_.find(acc); it != tokens_.end()) {
          it->second.state = tokens::State::kRevoked;
          it->second.state_reason = "its issue could not be recorded";
          write_token(it->second);
        }
        wipe(r.secret);
      }
      r.status = st;
      done(std::move(r));
    });
  });
}

void Engine::token_check(Bytes hash, std::string scope, std::function<void(TokenCheckResult)> done) {
  submit([this, hash = std::move(hash), scope = std::move(scope), done = std::move(done)](Txn& t) mutable {
    in_batch();
    TokenCheckResult r;
    if (!tokens_status_) {
      r.verdict = tokens::Verdict::kFrozen;  // fail closed: 403
      return done(std::move(r));
    }
    const tokens::Token* tok = nullptr;
    if (auto it = token_by_hash_.find(hash_key(hash)); it != token_by_hash_.end())
      if (auto tt = tokens_.find(it->second); tt != tokens_.end()) tok = &tt->second;
    r.verdict = tokens::decide(tok, scope, !freezes_.empty(), t.now);
    // Whatever the token's state says, a blocked owner's token does not pass.
    if (r.verdict == tokens::Verdict::kValid && blocked_uids_.count(tok->owner_uid))
      r.verdict = tokens::Verdict::kSuspended;
    if (report_only()) token_check_waive(t.now, tok, scope, r);
    if (tok) r.accessor = tok->accessor;
    if (r.verdict == tokens::Verdict::kValid) {
      r.owner = tok->owner;
      r.scopes = tok->scopes;
    }
    done(std::move(r));
  });
}

// Report mode: a check refused only by a freeze or by its owner's block (a
// suspension) is logged and answered as valid; revoked, expired, unknown
// and out-of-scope tokens stay refused.
void Engine::token_check_waive(TimePoint now, const tokens::Token* tok, const std::string& scope,
                               TokenCheckResult& r) {
  if (!tok || (r.verdict != tokens::Verdict::kFrozen && r.verdict != tokens::Verdict::kSuspended)) return;
  tokens::Token unblocked = *tok;
  if (unblocked.state == tokens::State::kSuspended) unblocked.state = tokens::State::kActive;
  if (tokens::decide(&unblocked, scope, false, now) != tokens::Verdict::kValid) return;
  r.not_enforced = r.verdict == tokens::Verdict::kFrozen ? "token API frozen" : "token owner blocked";
  not_enforced({tok->owner, r.not_enforced, {}, "token check", {}, now, "API token " + tok->accessor});
  r.verdict = tokens::Verdict::kValid;
}

void Engine::token_list(std::function<void(Result<TokenListing>)> done) {
  submit([this, done = std::move(done)](Txn&) mutable {
    in_batch();
    if (!tokens_status_) return done(tokens_status_.error());
    TokenListing l;
    for (const auto& [acc, tok] : tokens_) l.tokens.push_back(tok);
    std::sort(l.tokens.begin(), l.tokens.end(), [](const tokens::Token& a, const tokens::Token& b) {
      return a.created != b.created ? a.created < b.created : a.accessor < b.accessor;
    });
    for (const auto& [uid, f] : freezes_) l.freezes.push_back(f);
    done(std::move(l));
  });
}

void Engine::token_revoke(std::string accessor, std::string reason, std::string by,
                          std::function<void(TokenRevokeResult)> done) {
  submit([this, accessor = std::move(accessor), reason = std::move(reason), by = std::move(by),
          done = std::move(done)](Txn& t) mutable {
    in_batch();
    TokenRevokeResult r;
    if (!tokens_status_) {
      r.status = tokens_status_;
      return done(std::move(r));
    }
    auto it = tokens_.find(accessor);
    if (it == tokens_.end()) {
      r.status = Error::NotFound("no token " + accessor);
      return done(std::move(r));
    }
    if (it->second.state == tokens::State::kRevoked) {
      r.token = it->second;
      return done(std::move(r));
    }
    revoke_token(t, it->second, "revoked by " + by + ": " + reason);
    t.full_sync = true;
    r.changed = true;
    r.token = it->second;
    t.after_commit.push_back([done = std::move(done), r = std::move(r)](const Status& st) mutable {
      r.status = st;
      done(std::move(r));
    });
  });
}

void Engine::outbox_due(std::function<void(Result<std::vector<OutboxItem>>)> done) {
  submit([this, done = std::move(done)](Txn& t) mutable {
    // After this batch's commit: revocations queued in it are visible.
    t.after_commit.push_back([this, done = std::move(done), now = t.now](const Status&) mutable {
      in_batch();
      auto all = store_->list_outbox();
      if (!all) return done(all.error());
      std::vector<OutboxItem> due;
      for (auto& i : *all)
        if (i.next_at <= now) due.push_back(std::move(i));
      done(std::move(due));
    });
  });
}

void Engine::outbox_result(OutboxItem item, bool finished, std::function<void(Status)> done) {
  submit([this, item = std::move(item), finished, done = std::move(done)](Txn& t) mutable {
    in_batch();
    if (finished) ops_.push_back([id = item.id](Store& s) { return s.erase_outbox(id); });
    else ops_.push_back([item](Store& s) { return s.update_outbox(item); });
    t.after_commit.push_back([done = std::move(done)](const Status& st) { done(st); });
  });
}

}  // namespace vigil
