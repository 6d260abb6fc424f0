// libFuzzer target: the token checker's request parsing (daemon/rpc/token_http.cc).
//
// The input is what a client writes to the token-http socket. It is read the
// way the daemon reads it: a boost::beast request_parser<empty_body> with the
// daemon's limits (token_http::kHeaderLimit, kBodyLimit) over a flat_buffer
// capped at 8 KiB, the bytes arriving in two pieces (split where the input's
// last byte says), requests pipelined on one connection until an error or a
// request that does not keep the connection alive. Each request then goes
// through token_http::classify() and wipe_authorization(), the code the
// daemon runs, and its token is hashed as check_token() does.
//
// Checked besides the sanitizers: a check has a valid scope taken from the
// target after "/auth/", only for GET and HEAD; the token is no longer than
// the header; 404/405 carry neither; after the wipe no Authorization value
// holds a non-zero byte.
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "daemon/rpc/token_http_parse.h"
#include "daemon/core/tokens.h"

namespace {

namespace http = boost::beast::http;
namespace th = vigil::token_http;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_http: invariant broken: %s\n", what);
  std::abort();
}

void check(http::request<http::empty_body>& req) {
  const th::AuthRequest ask = th::classify(req);
  const std::string_view target(req.target().data(), req.target().size());
  const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  if (ask.status == 0) {
    if (!get) fail("a check for a method other than GET/HEAD");
    if (!vigil::tokens::valid_scope(ask.scope)) fail("a check with an invalid scope");
    if (target != "/auth/" + ask.scope) fail("the scope is not the target's");
    auto a = req.find(http::field::authorization);
    if (a == req.end() ? !ask.token.empty() : ask.token.size() > a->value().size())
      fail("a token not from the Authorization header");
    if (ask.token.size() > 512) fail("a token over 512 bytes");
    (void)vigil::tokens::well_formed(ask.token);
    (void)vigil::tokens::hash_token(ask.token);
  } else {
    if (ask.status != 404 && ask.status != 405) fail("an unexpected status");
    if ((ask.status == 405) != !get) fail("405 for GET/HEAD or 404 for another method");
    if (!ask.scope.empty() || !ask.token.empty()) fail("a refusal carries a scope or token");
  }
  th::wipe_authorization(req);
  for (auto [a, end] = req.equal_range(http::field::authorization); a != end; ++a)
    for (char c : a->value())
      if (c != '\0') fail("the Authorization header survived the wipe");
}

// One connection: `input` arrives in two reads, split at `cut`.
void connection(std::string_view input, std::size_t cut) {
  boost::beast::flat_buffer buffer(th::kHeaderLimit);  // the daemon's read buffer: 8 KiB cap
  std::string_view pieces[2] = {input.substr(0, cut), input.substr(cut)};
  std::size_t next_piece = 0;
  // Appends the next piece (as much as the buffer takes); false at EOF.
  auto read_more = [&]() -> bool {
    while (next_piece < 2 && pieces[next_piece].empty()) ++next_piece;
    if (next_piece == 2) return false;
    const std::size_t room = buffer.max_size() - buffer.size();
    if (room == 0) return false;
    std::string_view& p = pieces[next_piece];
    const std::size_t n = std::min(room, p.size());
    auto dst = buffer.prepare(n);
    std::copy_n(p.data(), n, static_cast<char*>(dst.data()));
    buffer.commit(n);
    p.remove_prefix(n);
    return true;
  };
  for (int requests = 0; requests < 16; ++requests) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(th::kHeaderLimit);
    parser.body_limit(th::kBodyLimit);
    boost::system::error_code ec;
    while (!parser.is_done()) {
      if (buffer.size() > 0) {
        const std::size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec == http::error::need_more) {
          ec = {};
          if (!read_more()) break;
          continue;
        }
        if (ec) return;
        continue;
      }
      if (!read_more()) break;
    }
    if (!parser.is_done()) {
      // EOF or a full buffer before the request was complete. As in
      // http::read: nothing at all is end_of_stream, else the parser decides.
      if (!parser.got_some()) return;
      parser.put_eof(ec);
      if (!parser.is_done()) return;
    }
    if (ec) return;
    auto& req = parser.get();
    const bool keep = req.keep_alive();
    check(req);
    if (!keep) return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  connection(input, input.size());
  if (size > 1) connection(input, data[size - 1] % size);
  return 0;
}
