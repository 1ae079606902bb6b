// Client hot path: the calling thread's cost of a typical request event.
//
//   ./bazelw run -c opt //benchmarks:client_benchmark
//
// A typical event: one "request" context with ~6 fields (two dotted), one
// timer and one ".sql" sub-event, recorded through the real transport into a
// live ZeroMQ PULL sink drained by another thread.

#include <time.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "benchmarks/events.h"
#include "benchmarks/typical_request.h"
#include "client/format/bson_writer.h"
#include "client/format/event.h"
#include "client/internal/body.h"
#include "client/internal/runtime.h"
#include "client/internal/transport.h"
#include "client/ziggy.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

using bench::KeepQueueBelowHalf;
using bench::RecordTypicalRequest;

// A PULL socket on loopback drained by its own thread: the live daemon.
class LiveSink {
 public:
  LiveSink() : socket_(context_, zmq::socket_type::pull) {
    socket_.set(zmq::sockopt::rcvtimeo, 50);
    socket_.bind("tcp://127.0.0.1:*");
    const std::string endpoint = socket_.get(zmq::sockopt::last_endpoint);
    (void)absl::SimpleAtoi(endpoint.substr(endpoint.rfind(':') + 1), &port_);
    thread_ = std::thread([this] {
      zmq::message_t message;
      while (!stop_.load()) {
        if (socket_.recv(message)) received_.fetch_add(1);
      }
    });
  }
  ~LiveSink() {
    stop_.store(true);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> received_{0};
  std::thread thread_;
};

LiveSink* sink = nullptr;

void SetUpTransport(const benchmark::State&) {
  sink = new LiveSink;
  TransportOptions options;
  (void)Configure("127.0.0.1", sink->port(), options);
}

void TearDownTransport(const benchmark::State&) {
  Shutdown();
  delete sink;
  sink = nullptr;
}

// Typical requests through the real transport. Unpaced, the calling thread
// outruns its I/O thread and the in-process sink on two cores, and some
// requests are dropped at the full queue (`dropped`), which skips their
// copy into it. Paced (KeepQueueBelowHalf every 256 requests), none is
// dropped, and the calling thread's CPU covers every request queued whole.
void RequestEvents(benchmark::State& state, bool paced) {
  int64_t i = 0;
  for (auto _ : state) {
    RecordTypicalRequest(i++);
    if (paced && i % 256 == 0) KeepQueueBelowHalf();
  }
  state.SetItemsProcessed(state.iterations());
  const TransportStats stats = GetTransportStats();
  state.counters["dropped"] = static_cast<double>(stats.dropped_queue_full);
}
void BM_RequestEvent(benchmark::State& state) { RequestEvents(state, false); }
void BM_RequestEventPaced(benchmark::State& state) {
  RequestEvents(state, true);
}

// 1, 2 and 4 threads recording through one live transport.
void ThreadsThroughTransport(benchmark::internal::Benchmark* b) {
  b->Setup(SetUpTransport)
      ->Teardown(TearDownTransport)
      ->Threads(1)
      ->Threads(2)
      ->Threads(4)
      ->UseRealTime();
}
BENCHMARK(BM_RequestEvent)->Apply(ThreadsThroughTransport);
BENCHMARK(BM_RequestEventPaced)->Apply(ThreadsThroughTransport);

// Suite 3: one context whose encoded event is about state.range(0) bytes.
void BM_EventOfSize(benchmark::State& state) {
  const std::string pad(
      static_cast<size_t>(std::max<int64_t>(state.range(0) - 200, 1)), 'x');
  for (auto _ : state) {
    Context request("request");
    Set("user_agent", "Mozilla/5.0 (X11; Linux x86_64)");
    Set("response.status", 200);
    Set("pad", pad);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.counters["dropped"] =
      static_cast<double>(GetTransportStats().dropped_queue_full);
}
BENCHMARK(BM_EventOfSize)
    ->Setup(SetUpTransport)
    ->Teardown(TearDownTransport)
    ->Arg(100)
    ->Arg(300)
    ->Arg(1024)
    ->Arg(4096)
    ->Arg(16384)
    ->UseRealTime();

// Handing an encoded ~290-byte event to the transport alone.
void BM_HandToTransport(benchmark::State& state) {
  const std::string event = bench::EventOfSize(290);
  TransportOptions options;
  auto transport = internal::Transport::Connect(
      absl::StrCat("tcp://127.0.0.1:", sink->port()), options);
  for (auto _ : state) (*transport)->Send(event);
  state.SetItemsProcessed(state.iterations());
  state.counters["dropped"] =
      static_cast<double>((*transport)->stats().dropped_queue_full);
}
BENCHMARK(BM_HandToTransport)
    ->Setup(SetUpTransport)
    ->Teardown(TearDownTransport)
    ->UseRealTime();

// The calling thread alone: everything but the hand-off, into a sink that
// discards the encoded event.
class NullSink final : public internal::EventSink {
 public:
  void Record(absl::string_view bson) override {
    benchmark::DoNotOptimize(bson.data());
  }
};

void SetUpNullSink(const benchmark::State&) {
  internal::InstallSink(std::make_unique<NullSink>());
}

void TearDownNullSink(const benchmark::State&) { Shutdown(); }

void BM_RequestEventNullSink(benchmark::State& state) {
  int64_t i = 0;
  for (auto _ : state) RecordTypicalRequest(i++);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RequestEventNullSink)
    ->Setup(SetUpNullSink)
    ->Teardown(TearDownNullSink)
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->UseRealTime();

void BM_RequestEventUnconfigured(benchmark::State& state) {
  int64_t i = 0;
  for (auto _ : state) RecordTypicalRequest(i++);
}
BENCHMARK(BM_RequestEventUnconfigured);

// The request's body from RecordTypicalRequest.
void FillTypicalBody(internal::Body& body) {
  body.Set("user_agent", "Mozilla/5.0 (X11; Linux x86_64)").IgnoreError();
  body.Set("path", "/api/v1/items").IgnoreError();
  body.Set("request_time", 0.0123).IgnoreError();
  body.Set("response.status", 200).IgnoreError();
  body.Set("response.bytes", 4096).IgnoreError();
  body.AddInt("counters.cache_hits", 1).IgnoreError();
}

void BM_BuildBody(benchmark::State& state) {
  internal::Body body;
  for (auto _ : state) {
    body.Clear();
    FillTypicalBody(body);
    benchmark::DoNotOptimize(body);
  }
}
BENCHMARK(BM_BuildBody);

void BM_EncodeEvent(benchmark::State& state) {
  internal::Body body;
  FillTypicalBody(body);
  BsonWriter buffer;
  for (auto _ : state) {
    buffer.Clear();
    EncodeEventTo(&buffer,
                  {"5f1d2a3b000102030405060708090a0b", "request", "web-1", 4242,
                   1700000000.25, 1700000000.5},
                  [&](BsonWriter* b) { body.AppendTo(b); });
    benchmark::DoNotOptimize(buffer.bytes().data());
  }
  state.SetBytesProcessed(state.iterations() * buffer.bytes().size());
  state.counters["event_bytes"] = static_cast<double>(buffer.bytes().size());
}
BENCHMARK(BM_EncodeEvent);

// The event clock (internal/runtime.h) beside the vDSO call it replaces.
void BM_ClockGettimeRealtime(benchmark::State& state) {
  timespec now;
  for (auto _ : state) {
    clock_gettime(CLOCK_REALTIME, &now);
    benchmark::DoNotOptimize(now);
  }
}
BENCHMARK(BM_ClockGettimeRealtime);

void BM_EventClockWall(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(internal::WallNanos());
}
BENCHMARK(BM_EventClockWall);

}  // namespace
}  // namespace ziggy

BENCHMARK_MAIN();
