// Test events of a chosen encoded size, shared by the benchmarks.

#ifndef ZIGGY_BENCHMARKS_EVENTS_H_
#define ZIGGY_BENCHMARKS_EVENTS_H_

#include <string>

#include "client/format/event.h"

namespace ziggy::bench {

// A request-like event whose BSON encoding is `size` bytes (at least ~200).
inline std::string EventOfSize(size_t size, int64_t seq = 0) {
  Event event;
  event.id = "5f1d2a3b000102030405060708090a0b";
  event.type = "request";
  event.host = "web-1.example.com";
  event.pid = 4242;
  event.start = 1700000000.25;
  event.end = 1700000000.5;
  Value::Map body{
      {"user_agent", "Mozilla/5.0 (X11; Linux x86_64)"},
      {"path", "/api/v1/items"},
      {"response", Value(Value::Map{{"status", 200}, {"bytes", seq}})},
      {"request_time", 0.0123},
      {"pad", ""}};
  event.body = Value(body);
  const size_t base = EncodeEvent(event).size();
  if (size > base) {
    body.back().second = std::string(size - base, 'x');
    event.body = Value(std::move(body));
  }
  return EncodeEvent(event);
}

}  // namespace ziggy::bench

#endif  // ZIGGY_BENCHMARKS_EVENTS_H_
