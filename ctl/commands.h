// commands.h: vigilctl's subcommands, for the table in vigilctl.cc.
//
// Contract: each subcommand has two functions here. add_X_options() adds
// its options and arguments to its CLI11 subcommand and binds them to its
// part of Args; run_X() runs it once the command line is parsed and returns
// vigilctl's exit code (see client.h). The table in vigilctl.cc gives each
// subcommand its name, its description and its place in the help; the
// handlers live in commands_*.cc, one file per domain. Subcommands that
// share a part of Args (the totp ones, block/unblock/password-changed,
// devices and devices forget, the token ones) share their variables.
#pragma once

#include <string>
#include <vector>

#include "ctl/client.h"

namespace CLI {
class App;
}

namespace vigil::ctl {

// What the command line set, one part per subcommand (or group of them).
struct Args {
  struct {
    std::string user;
    bool json = false;
  } status, reset, totp;
  struct {
    std::string user, reason;
    bool json = false, verify_code = false, approval = false;
  } account;  // block, unblock, password-changed
  struct {
    std::string id;
    bool json = false;
  } approve;
  struct {
    bool json = false;
  } requests, audit;
  struct {
    std::string user, reason;
    bool json = false;
  } request;  // request-unblock
  struct {
    std::string user, device;
    bool json = false, all = false;
  } devices;  // devices, devices forget
  struct {
    std::string owner, name, ttl, accessor, reason;
    std::vector<std::string> scopes;
    bool json = false;
  } token;
  struct {
    std::string source;
    bool json = false;
  } throttle;  // throttles, throttle lift
  struct {
    bool json = false;
    std::string host, reason;
    bool lift = false;
  } fleet;  // fleet status, fleet quarantine
};

using AddOptions = void (*)(CLI::App& cmd, Args& a);
using Handler = int (*)(Global& g, const Args& a);

// Account state (commands_status.cc).
void add_status_options(CLI::App& cmd, Args& a);
int run_status(Global& g, const Args& a);

// Administrators' account actions (commands_admin.cc).
void add_reset_options(CLI::App& cmd, Args& a);
int run_reset(Global& g, const Args& a);
void add_audit_options(CLI::App& cmd, Args& a);
int run_audit(Global& g, const Args& a);

// The TOTP second factor (commands_totp.cc).
void add_totp_enroll_options(CLI::App& cmd, Args& a);
int run_totp_enroll(Global& g, const Args& a);
void add_totp_confirm_options(CLI::App& cmd, Args& a);
int run_totp_confirm(Global& g, const Args& a);
void add_totp_disable_options(CLI::App& cmd, Args& a);
int run_totp_disable(Global& g, const Args& a);
void add_totp_codes_options(CLI::App& cmd, Args& a);
int run_totp_codes(Global& g, const Args& a);

// Blocks and recovery (commands_recovery.cc).
void add_block_options(CLI::App& cmd, Args& a);
int run_block(Global& g, const Args& a);
void add_unblock_options(CLI::App& cmd, Args& a);
int run_unblock(Global& g, const Args& a);
void add_password_changed_options(CLI::App& cmd, Args& a);
int run_password_changed(Global& g, const Args& a);
void add_approve_options(CLI::App& cmd, Args& a);
int run_approve(Global& g, const Args& a);
void add_requests_options(CLI::App& cmd, Args& a);
int run_requests(Global& g, const Args& a);
void add_request_unblock_options(CLI::App& cmd, Args& a);
int run_request_unblock(Global& g, const Args& a);

// Known devices (commands_devices.cc).
void add_devices_options(CLI::App& cmd, Args& a);
int run_devices(Global& g, const Args& a);
void add_devices_forget_options(CLI::App& cmd, Args& a);
int run_devices_forget(Global& g, const Args& a);

// Service API tokens (commands_tokens.cc).
void add_token_issue_options(CLI::App& cmd, Args& a);
int run_token_issue(Global& g, const Args& a);
void add_token_list_options(CLI::App& cmd, Args& a);
int run_token_list(Global& g, const Args& a);
void add_token_show_options(CLI::App& cmd, Args& a);
int run_token_show(Global& g, const Args& a);
void add_token_revoke_options(CLI::App& cmd, Args& a);
int run_token_revoke(Global& g, const Args& a);

// The per-source throttle (commands_throttle.cc).
void add_throttles_options(CLI::App& cmd, Args& a);
int run_throttles(Global& g, const Args& a);
void add_throttle_lift_options(CLI::App& cmd, Args& a);
int run_throttle_lift(Global& g, const Args& a);

// Fleet mode (commands_fleet.cc).
void add_fleet_status_options(CLI::App& cmd, Args& a);
int run_fleet_status(Global& g, const Args& a);
void add_fleet_quarantine_options(CLI::App& cmd, Args& a);
int run_fleet_quarantine(Global& g, const Args& a);

}  // namespace vigil::ctl
