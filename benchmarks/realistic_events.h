// Realistic event files for the compression benchmarks: many distinct
// events as applications record them (typical_request.h's request with its
// ".sql" sub-event), not copies of one. Seeded, so every run and machine
// compresses the same bytes.

#ifndef ZIGGY_BENCHMARKS_REALISTIC_EVENTS_H_
#define ZIGGY_BENCHMARKS_REALISTIC_EVENTS_H_

#include <cstdint>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/format/event.h"

namespace ziggy::bench {

// The events of `requests` requests from a fleet of 12 web hosts, about one
// per 2 ms: per request a "request.sql" event (query with its parameters,
// rows, time) then the "request" (random 128-bit id, path with an item id
// and query string, one of 8 user agents, status mostly 200 with 304, 404
// and 500, response bytes and time spread widely, a cache counter), as a
// collector's file of both types would hold them, concatenated.
inline std::string RealisticEvents(int requests, uint64_t seed = 16) {
  static const char* kAgents[] = {
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
      "Gecko) Chrome/119.0.0.0 Safari/537.36",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 "
      "Firefox/120.0",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) "
      "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 "
      "Safari/604.1",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) Version/17.1 Safari/605.1.15",
      "curl/8.4.0",
      "python-requests/2.31.0",
      "Go-http-client/2.0",
      "okhttp/4.12.0"};
  static const char* kPaths[] = {"/api/v1/items/",  "/api/v1/users/",
                                 "/api/v1/orders/", "/static/app.",
                                 "/search?q=item+", "/api/v2/carts/"};
  static const char* kQueries[] = {
      "select * from items where id = ?",
      "select id, name, email from users where id = ? and active = 1",
      "insert into orders (user_id, item_id, qty) values (?, ?, ?)",
      "update carts set updated_at = now() where id = ?"};
  std::mt19937_64 rng(seed);
  auto below = [&rng](uint64_t n) { return rng() % n; };
  std::string out;
  double now = 1700000000.0;
  for (int i = 0; i < requests; ++i) {
    now += 0.0005 * static_cast<double>(below(8));
    Event request;
    request.id = absl::StrFormat("%016x%016x", rng(), rng());
    request.host = absl::StrCat("web-", 1 + below(12), ".example.com");
    request.pid = static_cast<int32_t>(2000 + below(64));
    const double millis = 1 + static_cast<double>(below(1 << below(12)));
    request.start = now;
    request.end = now + millis / 1000;
    const uint64_t roll = below(100);
    const int status = roll < 88   ? 200
                       : roll < 93 ? 304
                       : roll < 98 ? 404
                                   : 500;
    const uint64_t item = below(1000000);
    std::string path = absl::StrCat(kPaths[below(6)], item);
    if (below(4) == 0) absl::StrAppend(&path, "?page=", below(50));
    Event sql = request;
    sql.type = "request.sql";
    sql.end = request.start + millis / 2000;
    sql.body = Value(Value::Map{{"query", kQueries[below(4)]},
                                {"params", absl::StrCat("[", item, "]")},
                                {"rows", static_cast<int64_t>(below(20))},
                                {"sql_time", millis / 3000}});
    out += EncodeEvent(sql);
    request.type = "request";
    request.body = Value(Value::Map{
        {"user_agent", kAgents[below(8)]},
        {"path", path},
        {"method", below(5) ? "GET" : "POST"},
        {"response",
         Value(Value::Map{{"status", status},
                          {"bytes", static_cast<int64_t>(below(200000))}})},
        {"request_time", millis / 1000},
        {"counters",
         Value(Value::Map{{"cache_hits", static_cast<int64_t>(below(5))}})}});
    out += EncodeEvent(request);
  }
  return out;
}

}  // namespace ziggy::bench

#endif  // ZIGGY_BENCHMARKS_REALISTIC_EVENTS_H_
