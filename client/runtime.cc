// Configure() and the sinks it installs; the event clock.

#include "client/internal/runtime.h"

#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include <cstdlib>
#include <fstream>
#include <memory>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "client/internal/transport.h"
#include "client/net/endpoint.h"
#include "client/net/socket.h"
#include "client/ziggy.h"

namespace ziggy {
namespace internal {

std::atomic<EventSink*> current_sink{nullptr};
// Published before the sink, so whoever sees a sink sees it; replaced (and
// the old one leaked, like sinks) at every Configure, which catches fork().
std::atomic<const ProcessInfo*> process_info{nullptr};

namespace {

constexpr absl::string_view kDefaultHost = "127.0.0.1";
constexpr int kDefaultPort = 3514;

class TransportSink final : public EventSink {
 public:
  explicit TransportSink(std::unique_ptr<Transport> transport)
      : transport_(std::move(transport)) {}
  void Record(absl::string_view bson) override { transport_->Send(bson); }
  bool Flush(absl::Duration timeout) override {
    return transport_->Flush(timeout);
  }
  void Shutdown() override { transport_->Shutdown(); }
  TransportStats stats() const override { return transport_->stats(); }

 private:
  std::unique_ptr<Transport> transport_;
};

class RecorderSink final : public EventSink {
 public:
  explicit RecorderSink(Recorder recorder) : recorder_(std::move(recorder)) {}
  void Record(absl::string_view bson) override {
    absl::StatusOr<Event> event = DecodeEvent(bson);
    if (event.ok()) recorder_(*event);
  }

 private:
  Recorder recorder_;
};

absl::Mutex configure_mu(absl::kConstInit);

ProcessInfo ReadProcessInfo() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return ProcessInfo{host, static_cast<int32_t>(getpid())};
}

}  // namespace

// Installs `sink` (nullptr: unconfigured), retiring the previous one.
void InstallSink(std::unique_ptr<EventSink> sink) {
  // Everything ever installed stays reachable here, never freed: a thread
  // may still be inside a replaced sink or reading an old ProcessInfo.
  struct Installed {
    std::unique_ptr<EventSink> sink;
    std::unique_ptr<ProcessInfo> process;
  };
  static auto* installed = new std::vector<Installed>;
  static bool exit_hook = false;
  absl::MutexLock lock(&configure_mu);
  if (!exit_hook) {
    std::atexit([] { ziggy::Shutdown(); });
    exit_hook = true;
  }
  if (sink != nullptr) {
    auto process = std::make_unique<ProcessInfo>(ReadProcessInfo());
    process_info.store(process.get(), std::memory_order_release);
    installed->push_back({nullptr, std::move(process)});
  }
  EventSink* old = current_sink.exchange(sink.get());
  if (sink != nullptr) installed->back().sink = std::move(sink);
  if (old != nullptr) old->Shutdown();
}

namespace {

#if defined(__x86_64__) || defined(__i386__)
constexpr bool kHaveTsc = true;
uint64_t ReadTsc() { return __rdtsc(); }
#else
constexpr bool kHaveTsc = false;  // every reading is clock_gettime
uint64_t ReadTsc() { return 0; }
#endif

int64_t ReadNanos(clockid_t clock) {
  timespec now;
  clock_gettime(clock, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

// Where both clocks were, in TSC ticks, at this thread's latest anchor.
// Trivially constructible, so a plain thread_local: all zero means "take
// an anchor at the next reading".
struct Anchor {
  uint64_t tsc;
  uint64_t max_ticks;  // the anchor's age limit in ticks; 0: TSC not used
  int64_t wall;
  int64_t monotonic;
  int64_t last_monotonic;  // the thread's latest monotonic reading
};
thread_local Anchor anchor;

// Nanoseconds per TSC tick; 0 while unmeasured or without a TSC clock.
std::atomic<double> nanos_per_tick{0};

// One TSC value with both clocks' readings beside it.
struct Reading {
  uint64_t tsc;
  int64_t wall;
  int64_t monotonic;
};

// Readings further apart than this (the thread was preempted between them)
// are taken again: they bound how far an anchor can be off.
constexpr int64_t kMaxReadingNanos = 1000;

// Reads the TSC between the clocks; false when no try was quick enough.
bool TakeReading(Reading* reading) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int64_t monotonic = ReadNanos(CLOCK_MONOTONIC);
    const uint64_t tsc = ReadTsc();
    const int64_t wall = ReadNanos(CLOCK_REALTIME);
    if (ReadNanos(CLOCK_MONOTONIC) - monotonic <= kMaxReadingNanos) {
      *reading = {tsc, wall, monotonic};
      return true;
    }
  }
  return false;
}

struct Origin {
  bool tsc_clock;  // the kernel's clock source is the TSC, and was read
  Reading reading;
};

bool KernelClockIsTsc() {
  if (!kHaveTsc) return false;
  std::ifstream file(
      "/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string name;
  return file >> name && name == "tsc";
}

Origin MakeOrigin() {
  Origin origin{KernelClockIsTsc(), {}};
  if (origin.tsc_clock) origin.tsc_clock = TakeReading(&origin.reading);
  return origin;
}

// Takes a new anchor for this thread and refines the TSC's rate; false
// (and no anchor) without a TSC clock source or a quick enough reading.
bool Reanchor() {
  static const Origin origin = MakeOrigin();
  Reading now;
  anchor.max_ticks = 0;
  if (!origin.tsc_clock || !TakeReading(&now)) return false;
  anchor.tsc = now.tsc;
  anchor.wall = now.wall;
  anchor.monotonic = now.monotonic;
  const int64_t elapsed = now.monotonic - origin.reading.monotonic;
  if (elapsed < kCalibrationNanos || now.tsc <= origin.reading.tsc) {
    return true;
  }
  const double rate = static_cast<double>(elapsed) /
                      static_cast<double>(now.tsc - origin.reading.tsc);
  if (!(rate > 0.01 && rate < 100)) return true;  // not a sane TSC
  nanos_per_tick.store(rate, std::memory_order_relaxed);
  anchor.max_ticks = static_cast<uint64_t>(kAnchorNanos / rate);
  return true;
}

// Ticks since this thread's anchor, or -1 when a new anchor is due.
int64_t TicksSinceAnchor() {
  const uint64_t ticks = ReadTsc() - anchor.tsc;
  return ticks < anchor.max_ticks ? static_cast<int64_t>(ticks) : -1;
}

int64_t Scaled(int64_t ticks) {
  return static_cast<int64_t>(static_cast<double>(ticks) *
                              nanos_per_tick.load(std::memory_order_relaxed));
}

}  // namespace

int64_t WallNanos() {
  const int64_t ticks = TicksSinceAnchor();
  if (ABSL_PREDICT_TRUE(ticks >= 0)) return anchor.wall + Scaled(ticks);
  return Reanchor() ? anchor.wall : ReadNanos(CLOCK_REALTIME);
}

int64_t MonotonicNanos() {
  const int64_t ticks = TicksSinceAnchor();
  int64_t now;
  if (ABSL_PREDICT_TRUE(ticks >= 0)) {
    now = anchor.monotonic + Scaled(ticks);
  } else {
    now = Reanchor() ? anchor.monotonic : ReadNanos(CLOCK_MONOTONIC);
  }
  // A new anchor may sit a few nanoseconds behind the scaled reading.
  if (now < anchor.last_monotonic) now = anchor.last_monotonic;
  anchor.last_monotonic = now;
  return now;
}

bool ClockUsesTsc() { return anchor.max_ticks != 0; }

FieldStatus NoCurrentContext() {
  if (CurrentSink() == nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError("no current ziggy context");
}

}  // namespace internal

absl::Status Configure(absl::string_view host, int port,
                       const TransportOptions& options) {
  if (port == 0) {
    return absl::InvalidArgumentError("ziggy port 0: give the daemon's port");
  }
  absl::StatusOr<std::string> endpoint = TcpEndpoint(host, port);
  if (!endpoint.ok()) return endpoint.status();
  TransportOptions effective = options;
  const char* batch = std::getenv("ZIGGY_BATCH");  // "0": batching off
  if (batch != nullptr && absl::string_view(batch) == "0") {
    effective.batch_bytes = 0;
  }
  absl::StatusOr<std::unique_ptr<internal::Transport>> transport =
      internal::Transport::Connect(*endpoint, effective);
  if (!transport.ok()) return transport.status();
  internal::InstallSink(
      std::make_unique<internal::TransportSink>(*std::move(transport)));
  return absl::OkStatus();
}

namespace internal {
namespace {

// The value of environment variable `name`, empty when unset.
std::string GetEnv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// Fills options->curve_* from ZIGGY_CURVE_SERVER_KEY and ZIGGY_CURVE_KEY.
absl::Status CurveFromEnvironment(TransportOptions* options) {
  absl::StatusOr<absl::optional<CurveSocketOptions>> curve =
      LoadCurveClientOptions(GetEnv("ZIGGY_CURVE_SERVER_KEY"),
                             "ZIGGY_CURVE_SERVER_KEY",
                             GetEnv("ZIGGY_CURVE_KEY"), "ZIGGY_CURVE_KEY");
  if (!curve.ok()) return curve.status();
  if (curve->has_value()) {
    options->curve_key = (*curve)->own;
    options->curve_server_key = (*curve)->server_key;
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace internal

absl::Status Configure() {
  TransportOptions options;
  if (absl::Status s = internal::CurveFromEnvironment(&options); !s.ok()) {
    return s;
  }
  const char* env = std::getenv("ZIGGY_HOST");
  absl::string_view spec = env != nullptr && *env != '\0'
                               ? absl::string_view(env)
                               : internal::kDefaultHost;
  int port = internal::kDefaultPort;
  // "host:port", "[v6]:port", "[v6]" or a bare host (a bare IPv6 address
  // has several colons and no port).
  absl::string_view host = spec;
  const size_t colon = spec.rfind(':');
  const bool bracketed = absl::StartsWith(spec, "[");
  if (colon != absl::string_view::npos &&
      (bracketed ? colon > spec.find(']') : spec.find(':') == colon)) {
    host = spec.substr(0, colon);
    if (!absl::SimpleAtoi(spec.substr(colon + 1), &port)) {
      return absl::InvalidArgumentError(
          absl::StrCat("ZIGGY_HOST='", spec, "': port is not a number"));
    }
  }
  absl::ConsumePrefix(&host, "[");
  absl::ConsumeSuffix(&host, "]");
  return Configure(host, port, options);
}

void Configure(Recorder recorder) {
  internal::InstallSink(
      std::make_unique<internal::RecorderSink>(std::move(recorder)));
}

void Shutdown() { internal::InstallSink(nullptr); }

bool Flush(absl::Duration timeout) {
  internal::EventSink* sink = internal::CurrentSink();
  return sink == nullptr || sink->Flush(timeout);
}

bool IsConfigured() { return internal::CurrentSink() != nullptr; }

TransportStats GetTransportStats() {
  internal::EventSink* sink = internal::CurrentSink();
  return sink == nullptr ? TransportStats{} : sink->stats();
}

}  // namespace ziggy
