// Collector ingest against the network ceiling, in one run:
//
//   ./bazelw run -c opt //benchmarks:collector_benchmark
//
// BM_RawPushPull: ZeroMQ PUSH -> PULL over loopback TCP, the receiver only
// counting messages: the most any ZeroMQ-based collector could take in.
// BM_CollectorIngest: the real collector (the library ziggyd runs) receiving,
// validating, indexing and writing the same messages to files, timed until
// every event is in its file (STATUS written).
// BM_RelayIngest: the same through a forwarder (durable spool) and the
// acknowledged relay; third argument 1 = zstd batches.
// Arguments: event size in bytes, sender threads, then (BM_CollectorIngest
// third, BM_RelayIngest fourth) the transport: 0 plain text, 1 CurveZMQ on
// every port (the daemons with server keys and an allow list, the senders
// and the relay with client keys), 2 (relay only) CurveZMQ on the relay
// while the forwarder's collect port stays plain (--plain-collect). Plain
// and CurveZMQ rows of one size run one after the other, the same way.
// BM_KnownTypeBehindTypeFlood: real time from sending an event of a type
// whose file is open until it is in that file, sent behind a burst of new
// type names (argument: new types per iteration; the first 10,000 of the
// day get files, the rest go to the overflow file). Manual time: the
// latency alone; worst_s is the slowest iteration.

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "benchmarks/events.h"
#include "client/format/event.h"
#include "client/net/curve_key.h"
#include "client/net/endpoint.h"
#include "client/net/socket.h"
#include "collector/collector.h"
#include "common/intake.h"
#include "common/zap_handler.h"
#include "forwarder/forwarder.h"
#include "zmq.hpp"

namespace ziggy {
namespace {

constexpr int kEventsPerIteration = 200000;

// The CurveZMQ keys of a run, made once: the collector's, the forwarder's,
// and one client key for every sender and the STATUS poller.
struct BenchKeys {
  CurveKeyPair collector, forwarder, client;
};

CurveKeyPair NewKey() {
  absl::StatusOr<CurveKeyPair> pair = GenerateKeyPair();
  if (!pair.ok()) {
    std::fprintf(stderr, "no CurveZMQ: %s\n", pair.status().ToString().c_str());
    std::abort();
  }
  return *std::move(pair);
}

const BenchKeys& Keys() {
  static const BenchKeys* const keys =
      new BenchKeys{NewKey(), NewKey(), NewKey()};
  return *keys;
}

// What ziggyd or ziggy-forwarder serves with --curve-key (`own`), and
// --curve-allow holding the client's and the forwarder's public keys;
// nullopt when `curve` is false.
absl::optional<CurveServerOptions> ServerCurve(bool curve,
                                               const CurveKeyPair& own,
                                               bool plain_collect = false) {
  if (!curve) return absl::nullopt;
  CurveServerOptions options{own, {}, plain_collect};
  options.clients.allowed = std::vector<CurvePublicKey>{
      Keys().client.public_key(), Keys().forwarder.public_key()};
  return options;
}

// The client key's options for the server `server`; nullopt when `curve`
// is false.
absl::optional<CurveSocketOptions> ClientCurve(bool curve,
                                               const CurveKeyPair& server) {
  if (!curve) return absl::nullopt;
  return CurveSocketOptions::Client(Keys().client, server.public_key());
}

// The options every benchmark socket has (those of plain cppzmq: IPv4
// only), plus `curve`.
SocketOptions BenchSocket(absl::optional<CurveSocketOptions> curve) {
  SocketOptions options;
  options.linger_ms = -1;
  options.ipv6 = false;
  options.curve = std::move(curve);
  return options;
}

// Sends `count` copies of `event` from `senders` threads to `endpoint`,
// over CurveZMQ with `curve`.
void SendFrom(int senders, const std::string& endpoint,
              const std::string& event, int count,
              const absl::optional<CurveSocketOptions>& curve = absl::nullopt) {
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s) {
    threads.emplace_back([&, s] {
      zmq::context_t context(1);
      SocketOptions options = BenchSocket(curve);
      options.send_high_water_mark = 100000;
      zmq::socket_t push = MakeSocket(context, zmq::socket_type::push, options);
      push.connect(endpoint);
      const int mine = count / senders + (s < count % senders ? 1 : 0);
      for (int i = 0; i < mine; ++i) {
        push.send(zmq::buffer(event), zmq::send_flags::none);
      }
    });
  }
  for (auto& t : threads) t.join();
}

void BM_RawPushPull(benchmark::State& state) {
  const std::string event =
      bench::EventOfSize(static_cast<size_t>(state.range(0)));
  const int senders = static_cast<int>(state.range(1));
  zmq::context_t context(1);
  zmq::socket_t pull(context, zmq::socket_type::pull);
  pull.set(zmq::sockopt::rcvhwm, 100000);
  pull.bind("tcp://127.0.0.1:*");
  const std::string endpoint = pull.get(zmq::sockopt::last_endpoint);
  for (auto _ : state) {
    std::thread receiver([&] {
      zmq::message_t message;
      for (int i = 0; i < kEventsPerIteration; ++i) {
        if (!pull.recv(message)) break;
      }
    });
    SendFrom(senders, endpoint, event, kEventsPerIteration);
    receiver.join();
  }
  state.SetItemsProcessed(state.iterations() * kEventsPerIteration);
  state.SetBytesProcessed(state.iterations() * kEventsPerIteration *
                          event.size());
}

// Asks a collector's control port how many events it has written, over one
// connection kept for the whole benchmark: a new context per question (as
// CallControl makes) would start threads a thousand times a second on the
// cores being measured.
class WrittenCounter {
 public:
  WrittenCounter(const std::string& control,
                 absl::optional<CurveSocketOptions> curve)
      : socket_(MakeSocket(context_, zmq::socket_type::req,
                           BenchSocket(std::move(curve)))) {
    socket_.connect("tcp://" + control);
    request_ = EncodeDocument(Value(Value::Map{{"cmd", "STATUS"}}));
  }

  int64_t Get() {
    zmq::message_t reply;
    if (!socket_.send(zmq::buffer(request_)) || !socket_.recv(reply)) {
      return -1;
    }
    absl::StatusOr<Value> status =
        DecodeDocument(absl::string_view(reply.data<char>(), reply.size()));
    if (!status.ok() || status->Get("written") == nullptr) return -1;
    return status->Get("written")->AsInt();
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  std::string request_;
};

void RunToEnd(Forwarder& forwarder) { forwarder.Run(); }
void RunToEnd(Collector& collector) {
  if (absl::Status s = collector.Run(); !s.ok()) {
    std::fprintf(stderr, "ziggyd stopped: %s\n", s.ToString().c_str());
    std::abort();
  }
}

// A daemon library object (Collector or Forwarder) serving on its own
// thread for the benchmark's lifetime.
template <typename Daemon>
class Serving {
 public:
  explicit Serving(std::unique_ptr<Daemon> daemon)
      : daemon_(std::move(daemon)), thread_([this] { RunToEnd(*daemon_); }) {}
  ~Serving() {
    daemon_->Stop();
    thread_.join();
  }
  Daemon& operator*() { return *daemon_; }
  Daemon* operator->() { return daemon_.get(); }

 private:
  std::unique_ptr<Daemon> daemon_;
  std::thread thread_;
};

// A scratch directory under TMPDIR, removed afterwards.
class ScratchDir {
 public:
  explicit ScratchDir(absl::string_view name) {
    const char* tmp = std::getenv("TMPDIR");
    path_ = absl::StrCat(tmp ? tmp : "/tmp", "/", name, "-", getpid());
  }
  ~ScratchDir() {
    if (std::system(absl::StrCat("rm -rf '", path_, "'").c_str()) != 0) {
      std::fprintf(stderr, "cannot remove %s\n", path_.c_str());
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Where TimeUntilWritten sends and asks: a collect port, and the control
// port of the collector that writes, each with its client options.
struct IngestPorts {
  std::string collect;
  absl::optional<CurveSocketOptions> collect_curve;
  std::string control;
  absl::optional<CurveSocketOptions> control_curve;
};

// Sends kEventsPerIteration events per iteration to the collect port and
// waits until the collector has written them all.
void TimeUntilWritten(benchmark::State& state, const IngestPorts& ports) {
  const std::string event =
      bench::EventOfSize(static_cast<size_t>(state.range(0)));
  const int senders = static_cast<int>(state.range(1));
  WrittenCounter written(ports.control, ports.control_curve);
  int64_t expected = written.Get();
  for (auto _ : state) {
    SendFrom(senders, ports.collect, event, kEventsPerIteration,
             ports.collect_curve);
    expected += kEventsPerIteration;
    while (written.Get() < expected) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  state.SetItemsProcessed(state.iterations() * kEventsPerIteration);
  state.SetBytesProcessed(state.iterations() * kEventsPerIteration *
                          event.size());
}

absl::StatusOr<std::unique_ptr<Collector>> BindCollector(
    const std::string& log_path, absl::optional<CurveServerOptions> curve) {
  CollectorOptions options;
  options.control = options.collect = options.stream = options.relay =
      "127.0.0.1:0";
  options.store.root = log_path;
  options.curve = std::move(curve);
  return Collector::Bind(options);
}

// A collector serving `log_path` (CurveZMQ with `curve`), or null (and the
// benchmark skipped).
std::unique_ptr<Serving<Collector>> ServeCollector(
    benchmark::State& state, const std::string& log_path,
    absl::optional<CurveServerOptions> curve = absl::nullopt) {
  auto collector = BindCollector(log_path, std::move(curve));
  if (!collector.ok()) {
    state.SkipWithError(collector.status().ToString().c_str());
    return nullptr;
  }
  return std::make_unique<Serving<Collector>>(*std::move(collector));
}

std::string Control(const std::string& endpoint) {
  return absl::StrCat("127.0.0.1:", EndpointPort(endpoint));
}

void BM_CollectorIngest(benchmark::State& state) {
  const bool curve = state.range(2) != 0;
  ScratchDir dir("ziggy-bench");
  auto serving = ServeCollector(state, dir.path() + "/logs",
                                ServerCurve(curve, Keys().collector));
  if (serving == nullptr) return;
  const auto client = ClientCurve(curve, Keys().collector);
  TimeUntilWritten(state, {(*serving)->collect_endpoint(), client,
                           Control((*serving)->control_endpoint()), client});
}

// The reliable path: senders -> forwarder (spool on disk) -> relay ->
// collector (checkpointed) -> files, timed until every event is written.
void BM_RelayIngest(benchmark::State& state) {
  const bool curve = state.range(3) != 0;
  const bool plain_collect = state.range(3) == 2;
  ScratchDir dir("ziggy-relay-bench");
  auto serving_collector = ServeCollector(state, dir.path() + "/logs",
                                          ServerCurve(curve, Keys().collector));
  if (serving_collector == nullptr) return;
  ForwarderOptions options;
  options.control = options.collect = options.stream = "127.0.0.1:0";
  options.spool.dir = dir.path() + "/spool";
  options.relay.upstreams = {Control((*serving_collector)->relay_endpoint())};
  options.relay.zstd = state.range(2) != 0;
  options.curve = ServerCurve(curve, Keys().forwarder, plain_collect);
  if (curve) {
    options.relay.curve = CurveSocketOptions::Client(
        Keys().forwarder, Keys().collector.public_key());
  }
  auto forwarder = Forwarder::Bind(options);
  if (!forwarder.ok()) {
    return state.SkipWithError(forwarder.status().ToString().c_str());
  }
  Serving<Forwarder> serving_forwarder(*std::move(forwarder));
  TimeUntilWritten(state,
                   {serving_forwarder->collect_endpoint(),
                    ClientCurve(curve && !plain_collect, Keys().forwarder),
                    Control((*serving_collector)->control_endpoint()),
                    ClientCurve(curve, Keys().collector)});
}
// Each size and compression plain, CurveZMQ everywhere, CurveZMQ on the
// relay only; then each size compressed, plain and CurveZMQ.
BENCHMARK(BM_RelayIngest)
    ->Args({290, 1, 0, 0})
    ->Args({290, 1, 0, 1})
    ->Args({290, 1, 0, 2})
    ->Args({290, 1, 1, 0})
    ->Args({290, 1, 1, 1})
    ->Args({4096, 1, 0, 0})
    ->Args({4096, 1, 0, 1})
    ->Args({4096, 1, 0, 2})
    ->Args({4096, 1, 1, 0})
    ->Args({4096, 1, 1, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2);

// The size of the file at `path` (0 when missing).
off_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

void BM_KnownTypeBehindTypeFlood(benchmark::State& state) {
  ScratchDir dir("ziggy-flood-bench");
  auto serving = ServeCollector(state, dir.path() + "/logs");
  if (serving == nullptr) return;
  zmq::context_t context(1);
  zmq::socket_t push(context, zmq::socket_type::push);
  push.set(zmq::sockopt::sndhwm, 1000000);
  push.set(zmq::sockopt::linger, -1);
  push.connect((*serving)->collect_endpoint());
  const std::string day =
      absl::FormatTime("%Y%m%d", absl::Now(), absl::UTCTimeZone());
  const std::string known_file =
      absl::StrCat(dir.path(), "/logs/", day, "/known-", day, ".log");
  Event event;
  event.type = "known";
  const std::string known = EncodeEvent(event);
  push.send(zmq::buffer(known), zmq::send_flags::none);
  while (FileSize(known_file) == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  int next_type = 0;
  double worst = 0;
  for (auto _ : state) {
    for (int i = 0; i < state.range(0); ++i) {
      event.type = absl::StrCat("flood", next_type++);
      push.send(zmq::buffer(EncodeEvent(event)), zmq::send_flags::none);
    }
    const off_t before = FileSize(known_file);
    const absl::Time sent = absl::Now();
    push.send(zmq::buffer(known), zmq::send_flags::none);
    while (FileSize(known_file) == before) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const double seconds = absl::ToDoubleSeconds(absl::Now() - sent);
    worst = std::max(worst, seconds);
    state.SetIterationTime(seconds);
  }
  state.counters["worst_s"] = worst;
  state.counters["new_types"] = next_type;
}
// 20 x 5,000 = 100,000 new types, as in issue #11.
BENCHMARK(BM_KnownTypeBehindTypeFlood)
    ->Arg(5000)
    ->Iterations(20)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Checking one ~290-byte event, as every port does before taking it
// (the forwarder and then the collector each check every relayed event).
void BM_AcceptEvent(benchmark::State& state) {
  const std::string event = bench::EventOfSize(290);
  EventIntake intake(1 << 20);
  EventFields fields;
  for (auto _ : state) {
    absl::string_view doc = event;
    benchmark::DoNotOptimize(intake.Accept(&doc, 1.0, &fields));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * event.size());
}
BENCHMARK(BM_AcceptEvent);

void Sizes(benchmark::internal::Benchmark* b) {
  for (int size : {100, 290, 1024, 4096, 16384}) b->Args({size, 1});
  b->Args({290, 2})->Args({290, 4});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);
}

// Sizes(), each plain (third argument 0) then with CurveZMQ (1).
void SizesPlainAndCurve(benchmark::internal::Benchmark* b) {
  for (int size : {100, 290, 1024, 4096, 16384}) {
    b->Args({size, 1, 0})->Args({size, 1, 1});
  }
  b->Args({290, 2, 0})->Args({290, 2, 1})->Args({290, 4, 0})->Args({290, 4, 1});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);
}

BENCHMARK(BM_RawPushPull)->Apply(Sizes);
BENCHMARK(BM_CollectorIngest)->Apply(SizesPlainAndCurve);

}  // namespace
}  // namespace ziggy

BENCHMARK_MAIN();
