// Configure() and the sinks it installs.

#include "client/internal/runtime.h"

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <vector>

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
// Published before the sink, so whoever sees a sink sees it; replaced (and
// the old one leaked, like sinks) at every Configure, which catches fork().
std::atomic<const ProcessInfo*> process_info{nullptr};

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

const ProcessInfo& Process() {
  return *process_info.load(std::memory_order_acquire);
}

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
