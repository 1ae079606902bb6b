// The README's usage example, compiled by the build so it cannot rot.
// Run it beside a collector: ./bazelw run //client:example

#include <cstdio>

#include "client/ziggy.h"

void RunQueries() {
  for (const char* query : {"select 1", "select 2"}) {
    ziggy::Context sql(".sql");  // "request.sql", same id as the request
    ziggy::Set("query", query);
    ziggy::Timer timer("query_time");
  }
}

void Handle(const char* user_agent) {
  ziggy::Context request("request");  // starts; current on this thread
  ziggy::Set("user_agent", user_agent);
  {
    ziggy::Timer timer("request_time");  // sets body.request_time (s)
    RunQueries();
  }
  ziggy::Set("response.status", 200);  // body.response.status
  ziggy::Add("response.bytes", 512);
}  // recorded here, once

int main() {
  // ZIGGY_HOST=host[:port], default 127.0.0.1:3514.
  if (absl::Status s = ziggy::Configure(); !s.ok()) {
    std::fprintf(stderr, "example: %s\n", s.ToString().c_str());
    return 1;
  }
  Handle("curl/8.0");
  ziggy::Flush();
  const ziggy::TransportStats stats = ziggy::GetTransportStats();
  std::printf("queued %llu, sent %llu, dropped %llu\n",
              static_cast<unsigned long long>(stats.queued),
              static_cast<unsigned long long>(stats.sent),
              static_cast<unsigned long long>(stats.dropped_queue_full));
  return 0;
}
