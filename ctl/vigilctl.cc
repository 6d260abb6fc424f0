// vigilctl: the command line for administrators and for self-service.
// See vigilctl(8).
//
// This file holds the table of subcommands and main(): main() adds the
// global options and each row of the table to the command line, parses it
// and runs the handler of the subcommand given. The subcommands themselves
// are in commands_*.cc (see commands.h).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <iterator>
#include <string_view>
#include <vector>

#include "ctl/client.h"
#include "ctl/commands.h"
#include "ctl/output.h"
#include "vigil_build_config.h"

namespace vigil::ctl {
namespace {

// One subcommand. A row with no handler is a group: one of its subcommands
// (the rows naming it as parent, which follow it) must be given.
struct Command {
  const char* parent;  // the group it belongs to; nullptr at the top level
  const char* name;
  const char* description;
  AddOptions add_options;  // nullptr: it has none
  Handler run;             // nullptr: a group
};

// In the order of the help.
constexpr Command kCommands[] = {
    {nullptr, "status",
     "show failures, lock state and unlock time; without USER: every account (root) or your own",
     add_status_options, run_status},
    {nullptr, "reset", "clear the failures and lock of USER (administrators, admin socket, step-up)",
     add_reset_options, run_reset},
    {nullptr, "totp", "manage the TOTP second factor (yours, or USER's as root)", nullptr, nullptr},
    {"totp", "enroll",
     "create a new secret and show it (URI, QR code, base32); it takes effect after "
     "'totp confirm'. Re-enrolling an active factor needs a current code (VIGIL_CODE)",
     add_totp_enroll_options, run_totp_enroll},
    {"totp", "confirm", "activate the enrolled secret with its first code (terminal prompt or VIGIL_CODE)",
     add_totp_confirm_options, run_totp_confirm},
    {"totp", "disable", "remove the second factor; needs a current code or recovery code unless root",
     add_totp_disable_options, run_totp_disable},
    {"totp", "recovery-codes",
     "print 10 new one-time recovery codes (the old ones become void); needs a "
     "current code unless root",
     add_totp_codes_options, run_totp_codes},
    {nullptr, "block", "block USER until recovery (administrators, admin socket, step-up)",
     add_block_options, run_block},
    {nullptr, "unblock",
     "recover USER: lift the block, locks and failures, forget the devices first seen "
     "since the suspicious activity, expire the password, and refuse the old one until "
     "it is changed (another active administrator, admin socket, step-up)",
     add_unblock_options, run_unblock},
    {nullptr, "password-changed",
     "record that a recovered USER's password was changed outside PAM (a "
     "directory's own tool), so password logins work again (another "
     "administrator, admin socket, step-up)",
     add_password_changed_options, run_password_changed},
    {nullptr, "approve", "complete an unblock filed with --approval (a third active administrator, step-up)",
     add_approve_options, run_approve},
    {nullptr, "requests", "list recovery requests and unblocks waiting for approval (administrators)",
     add_requests_options, run_requests},
    {nullptr, "audit",
     "report administrators, accounts without a second factor, blocked accounts, open "
     "requests, and who could become unrecoverable (administrators)",
     add_audit_options, run_audit},
    {nullptr, "request-unblock",
     "ask the administrators to recover a blocked colleague (any active user; "
     "never for yourself)",
     add_request_unblock_options, run_request_unblock},
    {nullptr, "devices", "list a user's known devices with first and last use (yours, or USER's)",
     add_devices_options, run_devices},
    {"devices", "forget", "forget one known device of USER, or all of them", add_devices_forget_options,
     run_devices_forget},
    {nullptr, "token", "service API tokens (administrators, admin socket)", nullptr, nullptr},
    {"token", "issue", "issue a token for a service account and print it once (step-up)",
     add_token_issue_options, run_token_issue},
    {"token", "list", "list tokens (never their secrets) and whether the API is frozen", add_token_list_options,
     run_token_list},
    {"token", "show", "show one token", add_token_show_options, run_token_show},
    {"token", "revoke", "revoke a token for good (step-up)", add_token_revoke_options, run_token_revoke},
    {nullptr, "throttles",
     "list the sources the per-source throttle counts or bans, and the trusted networks "
     "(administrators; root)",
     add_throttles_options, run_throttles},
    {nullptr, "throttle", "the per-source throttle (administrators, admin socket)", nullptr, nullptr},
    {"throttle", "lift", "end a source's ban and forget its failures (step-up)", add_throttle_lift_options,
     run_throttle_lift},
    {nullptr, "fleet", "fleet mode: the hosts sharing this host's state (administrators; root)", nullptr, nullptr},
    {"fleet", "status", "this host's database connection and replica, and every host's position",
     add_fleet_status_options, run_fleet_status},
    {"fleet", "quarantine", "refuse every call of a fleet host (or --lift it); your code is checked by the database",
     add_fleet_quarantine_options, run_fleet_quarantine},
};

// Adds every row of the table to `app`; answers their CLI11 subcommands, in
// the table's order.
std::vector<CLI::App*> add_commands(CLI::App& app, Args& args) {
  std::vector<CLI::App*> subs;
  for (const Command& c : kCommands) {
    CLI::App* parent = c.parent ? app.get_subcommand(c.parent) : &app;
    CLI::App* sub = parent->add_subcommand(c.name, c.description);
    if (!c.run) sub->require_subcommand(1);
    if (c.add_options) c.add_options(*sub, args);
    subs.push_back(sub);
  }
  return subs;
}

// Runs the subcommand given: the last parsed row with a handler, which is
// the deepest one (a group's subcommand follows its group, as devices forget
// follows devices, and only one top-level subcommand is parsed).
int run_parsed(Global& g, const Args& args, const std::vector<CLI::App*>& subs) {
  for (size_t i = std::size(kCommands); i-- > 0;)
    if (kCommands[i].run && subs[i]->parsed()) return kCommands[i].run(g, args);
  return kExitUsage;
}

// Whether the subcommand run was given --json.
bool json_requested(const std::vector<CLI::App*>& subs) {
  for (CLI::App* sub : subs)
    if (sub->parsed())
      if (const CLI::Option* o = sub->get_option_no_throw("--json"); o && o->count() > 0) return true;
  return false;
}

// A failed command's exit code: the last failure's (client.h) when the
// handler said only kExitError. With --json, the failure is also printed on
// standard output as one JSON object.
int finish(int rc, bool as_json) {
  if (rc == 0) return 0;
  const auto& f = last_failure();
  if (f && rc == kExitError) rc = f->exit;
  if (as_json) {
    json::object o;
    o["error"] = f ? f->error : (rc == kExitUsage ? "vigilctl.Usage" : "vigilctl.Failed");
    o["code"] = rc;
    o["message"] = f ? f->message : "";
    print_json(o);
  }
  return rc;
}

}  // namespace
}  // namespace vigil::ctl

int main(int argc, char** argv) {
  using namespace vigil::ctl;
  Global g;
  CLI::App app{"vigilctl - inspect and manage vigil's account state.\nSee vigilctl(8)."};
  app.require_subcommand(1);
  auto* cfg_opt = app.add_option("-c,--config", g.config_path,
                                 "configuration file, for the socket path; default " VIGIL_DEFAULT_CONFIG);
  app.add_option("-s,--socket", g.socket, "vigild's public socket (default: [daemon] socket of the config)");
  app.add_option("--admin-socket", g.admin_socket,
                 "vigild's admin socket (default: [daemon] admin_socket of the config)");
  app.add_option("--timeout", g.timeout_ms, "milliseconds to wait for vigild (default 5000)")
      ->check(CLI::Range(10, 600000));
  bool version = false;
  app.add_flag("-V,--version", version, "print the version and exit");

  Args args;
  const std::vector<CLI::App*> subs = add_commands(app, args);

  app.set_version_flag("", "");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (version) {
      std::cout << "vigilctl " VIGIL_VERSION "\n";
      return 0;
    }
    app.exit(e);
    record_failure({kExitUsage, "vigilctl.Usage", e.what()});
    const bool as_json = std::any_of(argv + 1, argv + argc, [](const char* s) { return std::string_view(s) == "--json"; });
    return finish(kExitUsage, as_json);
  }
  g.config_given = cfg_opt->count() > 0;
  return finish(run_parsed(g, args, subs), json_requested(subs));
}
