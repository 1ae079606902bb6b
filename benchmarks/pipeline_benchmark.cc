// End to end, measured alike: every row is one sender process (built
// before the clock; benchmarks/pipeline_sender.cc) sending to the real
// daemon binaries, each in its own process, as users run them:
//
//   ./bazelw build -c opt //benchmarks:pipeline_benchmark
//   bazel-bin/benchmarks/pipeline_benchmark
//
// BM_RawPushPull: sender process -> a receiver process that only counts
//   (`pipeline_sender pull`): the ceiling, one ~290-byte message per event.
// BM_RsyslogToFile: the same events as ~290-byte syslog lines over TCP ->
//   rsyslogd (imtcp) -> a file. Skipped (an error row) without rsyslog.
// BM_ClientToZiggyd/<batch>: the C++ client in the sender process, events
//   built through the public API (ziggy::Configure, Context, Set, Timer)
//   after the clock starts -> ziggyd -> files. <batch> 0 sets ZIGGY_BATCH=0,
//   1 leaves the client's default (batched once the client batches).
// BM_SeedToZiggyd/<docs>: prebuilt seed-shaped messages of <docs> events
//   each (1: the seed's single-document message) -> ziggyd -> files.
// BM_RelayToZiggyd/<docs>: the same -> ziggy-forwarder -> ziggyd -> files.
// BM_JetStreamToZiggyd/<docs>/<collectors>: the same -> ziggy-forwarder ->
//   nats-server (JetStream) -> <collectors> ziggyd sharing one consumer ->
//   files; cpu_ns_forwarder, cpu_ns_nats and cpu_ns_ziggyd say where the
//   CPU goes.
// BM_IngestWhileCompressing/<docs>: BM_SeedToZiggyd/<docs> into a ziggyd
//   started with --compress-after-days=1 beside a backlog of realistic
//   event files (realistic_events.h) three days old, which it compresses
//   while the row runs. Counters: x_idle, its events/s over the median of
//   BM_SeedToZiggyd/<docs>'s of the same run; compress_mb_s, MiB of event
//   files compressed per second of the row's wall time; backlog_left, the
//   files still uncompressed at its end (above 0: it compressed throughout).
//
// Each iteration starts a fresh sender; the clock (manual time) runs from
// its start signal until the receiver has counted every message (raw), the
// file holds every line (rsyslog) or ziggyd's STATUS says every event is
// written (the rest; ziggyd is sent FLUSH once it has received them all,
// unless ZIGGY_BENCH_FLUSH=0). Events per iteration: ZIGGY_BENCH_EVENTS
// (default 1,000,000). Counters: events/s and bytes/s (Google Benchmark's
// items and bytes per second); x_raw and x_rsyslog, this row's events/s
// over the median of BM_RawPushPull's (BM_RsyslogToFile's) of the same
// run, which are registered first; send_cpu_ns and recv_cpu_ns, CPU time
// per event of the sender and of the receiving processes (all threads);
// tail_ms, the mean time from ziggyd's having received every event to its
// having written them.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "benchmarks/realistic_events.h"
#include "client/format/value.h"
#include "tests/nats_server.h"
#include "tests/process.h"
#include "tests/ziggyd.h"
#include "zmq.hpp"

namespace ziggy::bench {
namespace {

using ::ziggy::testing::Subprocess;
using ::ziggy::testing::Ziggyd;

constexpr int kEventBytes = 290;
constexpr int kIterations = 3;
const absl::Duration kRunDeadline = absl::Seconds(300);
const absl::Duration kPoll = absl::Milliseconds(2);  // as collector_benchmark
const absl::Duration kStall = absl::Seconds(15);     // no progress: failed

int64_t EventsPerIteration() {
  static const int64_t events = [] {
    int64_t n = 0;
    const char* env = std::getenv("ZIGGY_BENCH_EVENTS");
    return env != nullptr && absl::SimpleAtoi(env, &n) && n > 0 ? n : 1000000;
  }();
  return events;
}

// The events/s of the baseline rows of this run ("raw": BM_RawPushPull,
// "rsyslog": BM_RsyslogToFile), one per benchmark run.
std::vector<double>& BaselineRates(const std::string& name) {
  static auto* rates = new std::map<std::string, std::vector<double>>;
  return (*rates)[name];
}

// The median of BaselineRates(name); 0 when there is none.
double MedianRate(const std::string& name) {
  std::vector<double> rates = BaselineRates(name);
  if (rates.empty()) return 0;
  std::nth_element(rates.begin(), rates.begin() + rates.size() / 2,
                   rates.end());
  return rates[rates.size() / 2];
}

// STATUS (and FLUSH) over one REQ connection kept for the benchmark (a
// new context per question would start threads every poll on the cores
// being measured).
class ControlPort {
 public:
  explicit ControlPort(const std::string& control)
      : socket_(context_, zmq::socket_type::req) {
    socket_.set(zmq::sockopt::rcvtimeo, 10000);
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect("tcp://" + control);
  }
  // The daemon's reply to `command`; an empty map when there is none.
  Value Call(const std::string& command) {
    const std::string request =
        EncodeDocument(Value(Value::Map{{"command", command}}));
    zmq::message_t reply;
    if (!socket_.send(zmq::buffer(request)) || !socket_.recv(reply)) {
      return Value::MakeMap();
    }
    absl::StatusOr<Value> doc =
        DecodeDocument(absl::string_view(reply.data<char>(), reply.size()));
    return doc.ok() ? *doc : Value::MakeMap();
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
};

// The integer at top-level `key` of a STATUS reply; -1 when absent.
int64_t Number(const Value& status, const std::string& key) {
  const Value* v = status.Get(key);
  return v != nullptr && v->kind() == Value::Kind::kInt ? v->AsInt() : -1;
}

std::string SenderPath() {
  return ::ziggy::testing::RunfilesPath("benchmarks/pipeline_sender");
}

// Starts a pipeline_sender with `args` and waits (up to 60 s) until its
// stdout starts with `line` ("ready", "endpoint="); nullptr, the error set
// on `state`, when it does not come.
std::unique_ptr<Subprocess> StartSender(benchmark::State& state,
                                        std::vector<std::string> args,
                                        const std::string& line) {
  args.insert(args.begin(), SenderPath());
  std::unique_ptr<Subprocess> p = Subprocess::Start(args);
  const bool up =
      p != nullptr &&
      ::ziggy::testing::WaitFor(
          [&] { return p->Stdout().rfind(line, 0) == 0 || !p->running(); },
          absl::Seconds(60), absl::Milliseconds(1));
  if (!up || !p->running()) {
    state.SkipWithError(absl::StrCat("pipeline_sender did not start: ",
                                     p != nullptr ? p->Stderr() : "cannot run")
                            .c_str());
    return nullptr;
  }
  return p;
}

// Signals `sender` to start and returns the seconds until `progress()`
// reaches `target`; -1 (the error set on `state`) when the sender fails,
// progress stalls for kStall, or kRunDeadline passes first.
double TimeRun(benchmark::State& state, Subprocess& sender,
               const std::function<int64_t()>& progress, int64_t target) {
  const absl::Time start = absl::Now();
  sender.Signal(SIGUSR1);
  int64_t last = -1;
  absl::Time moved = start;
  for (int64_t now = progress(); now < target; now = progress()) {
    if (now != last) last = now, moved = absl::Now();
    const bool failed = !sender.running() && sender.Wait() != 0;
    if (failed || absl::Now() - moved > kStall ||
        absl::Now() - start > kRunDeadline) {
      state.SkipWithError(absl::StrCat("run failed at ", now, " of ", target,
                                       ": sender exit ",
                                       sender.Wait(absl::ZeroDuration()), " ",
                                       sender.Stdout(), sender.Stderr())
                              .c_str());
      return -1;
    }
    absl::SleepFor(kPoll);
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  state.SetIterationTime(seconds);
  sender.Wait(absl::Seconds(30));
  return seconds;
}

// CPU time (all threads) of a row's processes, summed over its iterations.
struct Cpu {
  int64_t send_ns = 0;  // the pipeline_sender processes
  int64_t recv_ns = 0;  // the receiver, or ziggyd (and ziggy-forwarder)
};

// The "cpu_ns=" a pipeline_sender printed last; 0 when none.
int64_t PrintedCpuNs(const Subprocess& sender) {
  const std::string out = sender.Stdout();
  const size_t at = out.rfind("cpu_ns=");
  int64_t ns = 0;
  if (at == std::string::npos ||
      !absl::SimpleAtoi(out.substr(at + 7, out.find('\n', at) - at - 7), &ns)) {
    return 0;
  }
  return ns;
}

// utime + stime of a running process, in nanoseconds (clock-tick
// resolution, 10 ms); 0 when it cannot be read.
int64_t ProcessCpuNs(pid_t pid) {
  const std::string stat =
      ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  // After "(comm)": state is field 3; utime and stime are fields 14, 15.
  const std::vector<std::string> fields =
      absl::StrSplit(stat.substr(paren + 2), ' ');
  int64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return 0;
  }
  return (utime + stime) * (1000000000 / sysconf(_SC_CLK_TCK));
}

// Events/s, bytes/s, x_raw and x_rsyslog (see the file comment; not the
// row's own `baseline`) and CPU per event of `events` taking `seconds`.
void Report(benchmark::State& state, int64_t events, int64_t bytes,
            double seconds, const Cpu& cpu, const std::string& baseline = "") {
  state.SetItemsProcessed(events);
  state.SetBytesProcessed(bytes);
  for (const char* other : {"raw", "rsyslog"}) {
    const double rate = MedianRate(other);
    if (other != baseline && rate > 0 && seconds > 0) {
      state.counters[absl::StrCat("x_", other)] =
          static_cast<double>(events) / seconds / rate;
    }
  }
  const double n = static_cast<double>(std::max<int64_t>(events, 1));
  state.counters["send_cpu_ns"] = static_cast<double>(cpu.send_ns) / n;
  state.counters["recv_cpu_ns"] = static_cast<double>(cpu.recv_ns) / n;
}

// The endpoint a `pipeline_sender pull` printed.
std::string PrintedEndpoint(const Subprocess& receiver) {
  const std::string out = receiver.Stdout();
  const size_t start = out.find('=') + 1;
  return out.substr(start, out.find('\n', start) - start);
}

void BM_RawPushPull(benchmark::State& state) {
  const int64_t events = EventsPerIteration();
  double seconds = 0;
  Cpu cpu;
  for (auto _ : state) {
    auto receiver =
        StartSender(state, {"pull", absl::StrCat(events)}, "endpoint=");
    if (receiver == nullptr) return;
    auto sender =
        StartSender(state,
                    {"push", PrintedEndpoint(*receiver), absl::StrCat(events),
                     "1", absl::StrCat(kEventBytes)},
                    "ready");
    if (sender == nullptr) return;
    const double run = TimeRun(
        state, *sender, [&] { return receiver->running() ? 0 : 1; }, 1);
    if (run < 0) return;
    seconds += run;
    cpu.send_ns += PrintedCpuNs(*sender);
    cpu.recv_ns += PrintedCpuNs(*receiver);
  }
  const int64_t total = state.iterations() * events;
  BaselineRates("raw").push_back(static_cast<double>(total) / seconds);
  Report(state, total, total * kEventBytes, seconds, cpu, "raw");
}

// A scratch directory under TEST_TMPDIR, removed afterwards.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name)
      : path_(::ziggy::testing::TempDir(name)) {}
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Stops a daemon with SIGTERM (SIGKILL after 20 s, by Subprocess).
void Stop(std::unique_ptr<Ziggyd>& daemon) {
  if (daemon == nullptr) return;
  daemon->process().Signal(SIGTERM);
  daemon->process().Wait(absl::Seconds(20));
  daemon.reset();
}

// ZIGGY_BENCH_FLUSH=0: never send FLUSH (see WrittenProgress).
bool FlushWhenReceived() {
  const char* env = std::getenv("ZIGGY_BENCH_FLUSH");
  return env == nullptr || std::string(env) != "0";
}

// How far the collectors are toward `target` written events (their STATUS
// `written`, summed). Once they have received `received_target` events
// (`received`, summed) each is asked to FLUSH (unless ZIGGY_BENCH_FLUSH=0),
// so the last events do not wait for the next flush tick
// (--flush-interval-ms, 200 ms; relayed events, which `received` counts
// too, are written at the relay's checkpoints anyway). tail() is the time
// from all received to all written (zero if `received` never got there).
class WrittenProgress {
 public:
  WrittenProgress(const std::vector<std::unique_ptr<ControlPort>>& controls,
                  int64_t target, int64_t received)
      : controls_(controls), target_(target), received_target_(received) {}
  int64_t operator()() {
    int64_t written = 0, received = 0;
    for (const auto& control : controls_) {
      const Value status = control->Call("STATUS");
      written += Number(status, "written");
      received += Number(status, "received");
    }
    if (written >= target_) {
      if (received_at_ != absl::InfinitePast())
        tail_ = absl::Now() - received_at_;
    } else if (received_at_ == absl::InfinitePast() &&
               received >= received_target_) {
      received_at_ = absl::Now();
      if (FlushWhenReceived()) {
        for (const auto& control : controls_) control->Call("FLUSH");
      }
    }
    return written;
  }
  absl::Duration tail() const { return tail_; }

 private:
  const std::vector<std::unique_ptr<ControlPort>>& controls_;
  const int64_t target_, received_target_;
  absl::Time received_at_ = absl::InfinitePast();
  absl::Duration tail_;
};

// The processes on a row's way (their CPU is counted), by name.
using Processes = std::vector<std::pair<std::string, pid_t>>;

Processes ProcessesOf(const std::vector<Ziggyd*>& daemons) {
  Processes processes;
  for (Ziggyd* d : daemons) {
    processes.emplace_back(d->relay().empty() ? "forwarder" : "ziggyd",
                           d->process().pid());
  }
  return processes;
}

// The sum of `key` over the collectors' STATUS.
int64_t Sum(const std::vector<std::unique_ptr<ControlPort>>& controls,
            const std::string& key) {
  int64_t sum = 0;
  for (const auto& control : controls)
    sum += Number(control->Call("STATUS"), key);
  return sum;
}

// Runs `sender_args` (which send `events` events) once per iteration into
// `collectors`, each timed until they have written them all, and returns
// the events/s (0 when a run failed). Counter tail_ms: the mean time per
// iteration from all received to all written; with more than one process,
// cpu_ns_<name>: each kind's CPU per event.
double TimeUntilWritten(benchmark::State& state,
                        const std::vector<Ziggyd*>& collectors,
                        const std::vector<std::string>& sender_args,
                        int64_t events, const Processes& processes) {
  std::vector<std::unique_ptr<ControlPort>> controls;
  for (Ziggyd* c : collectors) {
    controls.push_back(std::make_unique<ControlPort>(c->control()));
  }
  std::map<std::string, int64_t> cpu_by_name;
  for (const auto& [name, pid] : processes)
    cpu_by_name[name] -= ProcessCpuNs(pid);
  Cpu cpu;
  const int64_t first_bytes = Sum(controls, "written_bytes");
  int64_t target = Sum(controls, "written");
  int64_t received = Sum(controls, "received");
  double seconds = 0;
  absl::Duration tails;
  for (auto _ : state) {
    auto sender = StartSender(state, sender_args, "ready");
    if (sender == nullptr) return 0;
    target += events;
    received += events;
    WrittenProgress progress(controls, target, received);
    const double run = TimeRun(state, *sender, std::ref(progress), target);
    if (run < 0) return 0;
    seconds += run;
    tails += progress.tail();
    cpu.send_ns += PrintedCpuNs(*sender);
  }
  for (const auto& [name, pid] : processes)
    cpu_by_name[name] += ProcessCpuNs(pid);
  const int64_t total = state.iterations() * events;
  for (const auto& [name, ns] : cpu_by_name) {
    cpu.recv_ns += ns;
    if (processes.size() > 1) {
      state.counters["cpu_ns_" + name] =
          static_cast<double>(ns) /
          static_cast<double>(std::max<int64_t>(total, 1));
    }
  }
  Report(state, total, Sum(controls, "written_bytes") - first_bytes, seconds,
         cpu);
  state.counters["tail_ms"] = absl::ToDoubleMilliseconds(tails) /
                              static_cast<double>(state.iterations());
  return static_cast<double>(total) / seconds;
}

std::unique_ptr<Ziggyd> StartZiggyd(benchmark::State& state,
                                    const ScratchDir& dir) {
  std::unique_ptr<Ziggyd> ziggyd = Ziggyd::Start(dir.path() + "/logs");
  if (ziggyd == nullptr) {
    state.SkipWithError(
        absl::StrCat("ziggyd did not start (built? ",
                     ::ziggy::testing::RunfilesPath("collector/ziggyd"), ")")
            .c_str());
  }
  return ziggyd;
}

void BM_ClientToZiggyd(benchmark::State& state) {
  ScratchDir dir("pipeline-client");
  std::unique_ptr<Ziggyd> ziggyd = StartZiggyd(state, dir);
  if (ziggyd == nullptr) return;
  const int64_t events = EventsPerIteration() / 2 * 2;  // two per request
  TimeUntilWritten(state, {ziggyd.get()},
                   {"client", ziggyd->collect(), absl::StrCat(events),
                    absl::StrCat(state.range(0))},
                   events, ProcessesOf({ziggyd.get()}));
  Stop(ziggyd);
}

// Sends prebuilt messages of `docs` events each to `collect` and times
// until `collectors` have written them all (about EventsPerIteration(), a
// multiple of `docs`); `processes`: those on the way (CPU counted).
// Returns the events/s (0 when a run failed).
double TimePushes(benchmark::State& state,
                  const std::vector<Ziggyd*>& collectors,
                  const std::string& collect, int64_t docs,
                  const Processes& processes) {
  const int64_t events =
      std::max<int64_t>(EventsPerIteration() / docs, 1) * docs;
  return TimeUntilWritten(state, collectors,
                          {"push", "tcp://" + collect, absl::StrCat(events),
                           absl::StrCat(docs), absl::StrCat(kEventBytes)},
                          events, processes);
}

// The name under which BM_SeedToZiggyd/<docs> records its rates.
std::string SeedRow(int64_t docs) { return absl::StrCat("seed/", docs); }

void BM_SeedToZiggyd(benchmark::State& state) {
  ScratchDir dir("pipeline-seed");
  std::unique_ptr<Ziggyd> ziggyd = StartZiggyd(state, dir);
  if (ziggyd == nullptr) return;
  const double rate = TimePushes(state, {ziggyd.get()}, ziggyd->collect(),
                                 state.range(0), ProcessesOf({ziggyd.get()}));
  if (rate > 0) BaselineRates(SeedRow(state.range(0))).push_back(rate);
  Stop(ziggyd);
}

// The compression backlog of BM_IngestWhileCompressing: kBacklogFiles
// files of realistic events, four iterations' worth of bytes in all.
constexpr int kBacklogFiles = 64;

// Writes the backlog into the day directory three days before today
// (UTC) under `log_path`, and syncs it, so that its writeback does not
// load the row; returns the bytes of one file.
int64_t WriteBacklog(const std::string& log_path) {
  const int64_t file_bytes =
      4 * EventsPerIteration() * kEventBytes / kBacklogFiles;
  // RealisticEvents makes ~585 bytes per request (two events).
  const std::string events =
      RealisticEvents(static_cast<int>(file_bytes / 585 + 1));
  const std::string day = absl::FormatTime(
      "%Y%m%d", absl::Now() - absl::Hours(72), absl::UTCTimeZone());
  const std::string dir = absl::StrCat(log_path, "/", day);
  std::filesystem::create_directories(dir);
  for (int i = 0; i < kBacklogFiles; ++i) {
    std::ofstream(absl::StrCat(dir, "/backlog", i, "-", day, ".log"),
                  std::ios::binary)
        << events;
  }
  sync();
  return static_cast<int64_t>(events.size());
}

// STATUS disk.files_compressed; -1 when absent.
int64_t FilesCompressed(ControlPort& control) {
  const Value status = control.Call("STATUS");
  const Value* disk = status.Get("disk");
  return disk == nullptr ? -1 : Number(*disk, "files_compressed");
}

void BM_IngestWhileCompressing(benchmark::State& state) {
  ScratchDir dir("pipeline-compressing");
  const int64_t file_bytes = WriteBacklog(dir.path() + "/logs");
  std::unique_ptr<Ziggyd> ziggyd =
      Ziggyd::Start(dir.path() + "/logs", {"--compress-after-days=1"});
  if (ziggyd == nullptr) {
    state.SkipWithError("ziggyd did not start");
    return;
  }
  ControlPort control(ziggyd->control());
  const int64_t compressed_before = FilesCompressed(control);
  const absl::Time start = absl::Now();
  const double rate = TimePushes(state, {ziggyd.get()}, ziggyd->collect(),
                                 state.range(0), ProcessesOf({ziggyd.get()}));
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  const int64_t compressed = FilesCompressed(control) - compressed_before;
  const double idle = MedianRate(SeedRow(state.range(0)));
  if (rate > 0 && idle > 0) state.counters["x_idle"] = rate / idle;
  state.counters["compress_mb_s"] =
      static_cast<double>(compressed * file_bytes) / (1 << 20) / wall;
  state.counters["backlog_left"] =
      static_cast<double>(kBacklogFiles - compressed_before - compressed);
  Stop(ziggyd);
}

void BM_RelayToZiggyd(benchmark::State& state) {
  ScratchDir dir("pipeline-relay");
  std::unique_ptr<Ziggyd> ziggyd = StartZiggyd(state, dir);
  if (ziggyd == nullptr) return;
  std::unique_ptr<Ziggyd> forwarder =
      Ziggyd::StartForwarder(dir.path() + "/spool", ziggyd->relay());
  if (forwarder == nullptr) {
    state.SkipWithError("ziggy-forwarder did not start");
  } else {
    TimePushes(state, {ziggyd.get()}, forwarder->collect(), state.range(0),
               ProcessesOf({ziggyd.get(), forwarder.get()}));
  }
  Stop(forwarder);
  Stop(ziggyd);
}

// BM_RelayToZiggyd's sender and forwarder, with the forwarder publishing to
// a nats-server (JetStream, one replica, file storage under the row's
// directory) from which `collectors` ziggyd pull through one shared durable
// consumer; done when their STATUS `written` sums to every event.
void BM_JetStreamToZiggyd(benchmark::State& state) {
  ScratchDir dir("pipeline-jetstream");
  auto nats = ::ziggy::testing::NatsServer::Start(dir.path() + "/nats");
  if (!nats.ok()) {
    state.SkipWithError(std::string(nats.status().message()).c_str());
    return;
  }
  std::vector<std::unique_ptr<Ziggyd>> pool;
  for (int64_t i = 0; i < state.range(1); ++i) {
    pool.push_back(Ziggyd::Start(absl::StrCat(dir.path(), "/logs", i),
                                 {"--source=" + (*nats)->url()}));
    if (pool.back() == nullptr) {
      state.SkipWithError("ziggyd --source did not start");
      return;
    }
  }
  std::unique_ptr<Ziggyd> forwarder =
      Ziggyd::StartForwarder(dir.path() + "/spool", (*nats)->url());
  if (forwarder == nullptr) {
    state.SkipWithError("ziggy-forwarder did not start");
  } else {
    std::vector<Ziggyd*> collectors;
    for (auto& z : pool) collectors.push_back(z.get());
    Processes processes = ProcessesOf(collectors);
    processes.emplace_back("forwarder", forwarder->process().pid());
    processes.emplace_back("nats", (*nats)->pid());
    TimePushes(state, collectors, forwarder->collect(), state.range(0),
               processes);
  }
  Stop(forwarder);
  for (auto& z : pool) Stop(z);
}

// rsyslogd (Debian's rsyslog package) in the foreground on a config of its
// own: imtcp on a free loopback port, every message to one file in
// RSYSLOG_TraditionalFileFormat (as Debian's default configuration).
class Rsyslogd {
 public:
  // The binary's path; empty when rsyslog is not installed.
  static std::string Path() {
    for (const char* path : {"/usr/sbin/rsyslogd", "/sbin/rsyslogd"}) {
      if (access(path, X_OK) == 0) return path;
    }
    return "";
  }
  // Starts it in `dir` and waits (20 s) for its port; nullptr if it fails.
  static std::unique_ptr<Rsyslogd> Start(const std::string& dir) {
    std::unique_ptr<Rsyslogd> r(new Rsyslogd(dir));
    WriteConfig(dir);
    r->process_ = Subprocess::Start(
        {Path(), "-n", "-iNONE", "-f", dir + "/rsyslog.conf"});
    if (r->process_ == nullptr) return nullptr;
    const bool up = ::ziggy::testing::WaitFor(
        [&] { return !r->Port().empty() || !r->process_->running(); },
        absl::Seconds(20), absl::Milliseconds(5));
    if (!up || !r->process_->running()) return nullptr;
    return r;
  }
  ~Rsyslogd() {
    process_->Signal(SIGTERM);
    process_->Wait(absl::Seconds(20));
  }
  std::string address() const { return "127.0.0.1:" + Port(); }
  int64_t FileSize() const {
    std::error_code error;
    const auto size = std::filesystem::file_size(dir_ + "/out.log", error);
    return error ? 0 : static_cast<int64_t>(size);
  }
  pid_t pid() const { return process_->pid(); }
  std::string Stderr() const { return process_->Stderr(); }

 private:
  explicit Rsyslogd(std::string dir) : dir_(std::move(dir)) {}
  static void WriteConfig(const std::string& dir) {
    std::ofstream(dir + "/rsyslog.conf")
        << "global(workDirectory=\"" << dir << "\")\n"
        << "module(load=\"imtcp\")\n"
        << "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"0\" "
        << "listenPortFileName=\"" << dir << "/port\")\n"
        << "*.* action(type=\"omfile\" file=\"" << dir << "/out.log\" "
        << "template=\"RSYSLOG_TraditionalFileFormat\")\n";
  }
  std::string Port() const {
    std::string port = ReadFileOrEmpty(dir_ + "/port");
    port.erase(std::remove(port.begin(), port.end(), '\n'), port.end());
    return port;
  }
  std::string dir_;
  std::unique_ptr<Subprocess> process_;
};

// Sends one event and returns the bytes rsyslog wrote for it (every line
// of a run is as long); 0 (the error set on `state`) when none came.
int64_t SyslogLineSize(benchmark::State& state, Rsyslogd& rsyslogd) {
  auto sender = StartSender(
      state, {"syslog", rsyslogd.address(), "1", absl::StrCat(kEventBytes)},
      "ready");
  if (sender == nullptr) return 0;
  const double run = TimeRun(
      state, *sender, [&] { return rsyslogd.FileSize() > 0 ? 1 : 0; }, 1);
  return run < 0 ? 0 : rsyslogd.FileSize();
}

// The same events as syslog lines over TCP -> rsyslogd -> a file, timed
// until the file holds them all. Skipped when rsyslog is not installed.
void BM_RsyslogToFile(benchmark::State& state) {
  if (Rsyslogd::Path().empty()) {
    return state.SkipWithError(
        "rsyslogd not installed: apt-get install rsyslog");
  }
  ScratchDir dir("pipeline-rsyslog");
  std::unique_ptr<Rsyslogd> rsyslogd = Rsyslogd::Start(dir.path());
  if (rsyslogd == nullptr) return state.SkipWithError("rsyslogd did not start");
  const int64_t line = SyslogLineSize(state, *rsyslogd);
  if (line == 0) return;
  const int64_t events = EventsPerIteration();
  const std::vector<std::string> args = {"syslog", rsyslogd->address(),
                                         absl::StrCat(events),
                                         absl::StrCat(kEventBytes)};
  double seconds = 0;
  Cpu cpu{0, -ProcessCpuNs(rsyslogd->pid())};
  for (auto _ : state) {
    auto sender = StartSender(state, args, "ready");
    if (sender == nullptr) return;
    const int64_t target = rsyslogd->FileSize() + events * line;
    const double run = TimeRun(
        state, *sender, [&] { return rsyslogd->FileSize(); }, target);
    if (run < 0) return;
    seconds += run;
    cpu.send_ns += PrintedCpuNs(*sender);
  }
  cpu.recv_ns += ProcessCpuNs(rsyslogd->pid());
  const int64_t total = state.iterations() * events;
  BaselineRates("rsyslog").push_back(static_cast<double>(total) / seconds);
  Report(state, total, total * line, seconds, cpu, "rsyslog");
}

// 225 documents of 290 bytes: the client's default 64 KiB batch.
constexpr int kBatchDocs = 225;

void Rows(benchmark::internal::Benchmark* b) {
  b->UseManualTime()->Iterations(kIterations)->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_RawPushPull)->Apply(Rows);
BENCHMARK(BM_RsyslogToFile)->Apply(Rows);
BENCHMARK(BM_ClientToZiggyd)->Arg(0)->Arg(1)->Apply(Rows);
BENCHMARK(BM_SeedToZiggyd)->Arg(1)->Arg(kBatchDocs)->Apply(Rows);
BENCHMARK(BM_RelayToZiggyd)->Arg(1)->Arg(kBatchDocs)->Apply(Rows);
BENCHMARK(BM_JetStreamToZiggyd)
    ->Args({kBatchDocs, 1})
    ->Args({kBatchDocs, 2})
    ->Apply(Rows);
BENCHMARK(BM_IngestWhileCompressing)->Arg(1)->Arg(kBatchDocs)->Apply(Rows);

// The runfiles of this binary, however it was started (`bazel run`, or
// bazel-bin/... from anywhere): the harness finds the daemons there.
void FindRunfiles() {
  if (std::getenv("TEST_SRCDIR") != nullptr) return;
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe");
  setenv("TEST_SRCDIR", (exe + ".runfiles").c_str(), 1);
}

// TEST_TMPDIR (where the harness puts logs, spools and process output):
// <TEST_TMPDIR, else TMPDIR, else /tmp>/pipeline-benchmark-<pid>, removed at
// exit.
std::string MakeTempRoot() {
  const char* test_tmp = std::getenv("TEST_TMPDIR");
  const char* tmp = test_tmp != nullptr ? test_tmp : std::getenv("TMPDIR");
  const std::string root = absl::StrCat(tmp != nullptr ? tmp : "/tmp",
                                        "/pipeline-benchmark-", getpid());
  std::filesystem::create_directories(root);
  setenv("TEST_TMPDIR", root.c_str(), 1);
  return root;
}

}  // namespace
}  // namespace ziggy::bench

int main(int argc, char** argv) {
  ziggy::bench::FindRunfiles();
  const std::string root = ziggy::bench::MakeTempRoot();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  std::error_code ignored;
  std::filesystem::remove_all(root, ignored);
  return 0;
}
