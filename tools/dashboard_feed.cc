// dashboard_feed: sends realistic-looking events to a collector's collect
// port, for tools/dashboard-screenshot.sh and for trying `ziggyview
// --serve` by hand: web requests (body.request_time, body.response.status
// with some 404s and 500s, body.method, body.path) from four hosts, each
// with request.sql sub-events (same id), and background jobs from two
// workers, their end times spread over the last SPAN seconds, busier and
// slower in the middle. Deterministic (a fixed seed).
//
//   dashboard_feed 127.0.0.1:3514 [EVENTS=20000] [SPAN=600]

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/format/event.h"
#include "zmq.hpp"

namespace {

using ziggy::Event;
using ziggy::Value;

struct Feed {
  std::mt19937_64 random{1};
  double now = absl::ToUnixMicros(absl::Now()) / 1e6;
  double span = 600;

  double Uniform() { return std::uniform_real_distribution<>(0, 1)(random); }
  // A log-normal around `median`.
  double Around(double median, double sigma) {
    return median * std::exp(std::normal_distribution<>(0, sigma)(random));
  }
  // An end time in the span, more of them in the middle third.
  double End() {
    const double u = Uniform();
    const double x = Uniform() < 0.3 ? 1.0 / 3 + u / 3 : u;
    return now - span + x * span;
  }
  // Slower around the middle of the span.
  double Slowdown(double end) {
    const double x = (end - (now - span)) / span;
    return 1 + 2 * std::exp(-std::pow((x - 0.5) * 6, 2));
  }
};

std::string Id(Feed& feed) {
  return absl::StrFormat("%016x%016x", feed.random(), feed.random());
}

// A request and its sub-events, sub-events first (as applications send).
void SendRequest(Feed& feed, zmq::socket_t& socket) {
  static const char* kPaths[] = {"/",         "/search",    "/item", "/cart",
                                 "/checkout", "/api/items", "/login"};
  Event request;
  request.id = Id(feed);
  request.type = "request";
  request.host = absl::StrCat("web-", 1 + feed.random() % 4);
  request.pid = static_cast<int32_t>(1000 + feed.random() % 8);
  request.end = feed.End();
  const double time = feed.Around(0.045, 0.6) * feed.Slowdown(request.end);
  request.start = request.end - time;
  const double u = feed.Uniform();
  const int status = u < 0.02 * feed.Slowdown(request.end) ? 500
                     : u < 0.08                            ? 404
                                                           : 200;
  const int queries = static_cast<int>(feed.random() % 4);
  for (int q = 0; q < queries; ++q) {
    Event sql = request;
    sql.type = "request.sql";
    const double sql_time = time * 0.2 * feed.Uniform();
    sql.body = Value(Value::Map{
        {"query", q == 0 ? "SELECT * FROM items WHERE id = ?"
                         : "SELECT count(*) FROM carts WHERE user = ?"},
        {"rows", static_cast<int64_t>(feed.random() % 50)},
        {"time", sql_time}});
    const std::string bytes = ziggy::EncodeEvent(sql);
    socket.send(zmq::buffer(bytes));
  }
  request.body = Value(Value::Map{
      {"method", feed.Uniform() < 0.8 ? "GET" : "POST"},
      {"path", kPaths[feed.random() % 7]},
      {"request_time", time},
      {"queries", static_cast<int64_t>(queries)},
      {"response", Value(Value::Map{{"status", status},
                                    {"bytes", static_cast<int64_t>(
                                                  feed.Around(8000, 1))}})}});
  const std::string bytes = ziggy::EncodeEvent(request);
  socket.send(zmq::buffer(bytes));
}

void SendJob(Feed& feed, zmq::socket_t& socket) {
  static const char* kJobs[] = {"resize_image", "send_email", "reindex"};
  Event job;
  job.id = Id(feed);
  job.type = "job";
  job.host = absl::StrCat("worker-", 1 + feed.random() % 2);
  job.end = feed.End();
  const double duration = feed.Around(0.8, 0.8);
  job.start = job.end - duration;
  job.body = Value(Value::Map{{"name", kJobs[feed.random() % 3]},
                              {"duration", duration},
                              {"ok", feed.Uniform() > 0.03}});
  const std::string bytes = ziggy::EncodeEvent(job);
  socket.send(zmq::buffer(bytes));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: dashboard_feed HOST:PORT [EVENTS] [SPAN]\n");
    return 1;
  }
  const int events = argc > 2 ? std::atoi(argv[2]) : 20000;
  Feed feed;
  if (argc > 3) feed.span = std::atof(argv[3]);
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::push);
  socket.set(zmq::sockopt::sndhwm, 0);
  socket.set(zmq::sockopt::linger, 10000);
  socket.connect(absl::StrCat("tcp://", argv[1]));
  for (int i = 0; i < events; ++i) {
    // Paced, so that a live subscriber (its queue bounded) keeps up.
    if (i % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (i % 10 == 9) {
      SendJob(feed, socket);
    } else {
      SendRequest(feed, socket);
    }
  }
  return 0;
}
