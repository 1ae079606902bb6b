// Ziggy's producer API: record one structured event per unit of work.
//
// clang-format off
//   ziggy::Configure("127.0.0.1", 3514);      // once, at start-up
//
//   void Handle(const Request& req) {
//     ziggy::Context request("request");       // starts; current on this thread
//     ziggy::Set("user_agent", req.user_agent);
//     {
//       ziggy::Timer timer("request_time");    // sets body.request_time (s)
//       RunQueries();                          // may open Context(".sql")
//     }
//     ziggy::Set("response.status", 200);
//   }                                          // recorded here, once
// clang-format on
//
// Until Configure() is called every call is a cheap no-op.
//
// Names: ".sql" inside "request" is the sub-event "request.sql" and shares
// the parent's id; "^.sql" attaches to the top-most context of the event
// tree instead of the nearest; a plain name starts a new top-level event.
// With no parent the leading "." (or "^.") is dropped.
//
// Ids: an explicit id wins; else a sub-event inherits its parent's; else a
// new one is made: 4 bytes of big-endian Unix seconds then 12 random bytes,
// as 32 lowercase hex chars, so ids sort roughly by time.
//
// Fields: Set/Append/Add take dotted keys ("response.status" is body.response
// .status); see internal/body.h for the exact path rules. They return an
// error FieldStatus (and change nothing) when the key is malformed, walks
// through a scalar, or the context is finished; on an unconfigured or
// sampled-out context they do nothing and return OK.
//
// Threads: each thread has its own stack of current contexts. A context is
// used by one thread at a time; to continue it on another thread, Detach() it
// and open a ContextScope there (see Context::Detach).

#ifndef ZIGGY_CLIENT_ZIGGY_H_
#define ZIGGY_CLIENT_ZIGGY_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/format/event.h"
#include "client/format/value.h"
#include "client/net/curve_key.h"

namespace ziggy {

namespace internal {
class Body;
}  // namespace internal

// ---------------------------------------------------------------------------
// Configuration

struct TransportOptions {
  // Each recording thread queues up to this many bytes of encoded events for
  // the I/O thread; beyond it events are dropped (dropped_queue_full).
  size_t queue_bytes_per_thread = 4 << 20;
  // Events the ZeroMQ socket itself holds while the daemon is away. With
  // batching on, the socket counts messages, so its limit becomes
  // max(4, send_high_water_mark * 1024 / batch_bytes) messages: about as
  // many bytes as send_high_water_mark events of 1 KiB (10 MiB by default).
  int send_high_water_mark = 10000;
  // At Shutdown() and process exit, how long pending events may take to go.
  absl::Duration linger = absl::Seconds(2);
  // CurveZMQ (both or neither; unset = plain text): the socket is a client
  // of the daemon whose public key is curve_server_key, with curve_key as
  // its own key pair. A daemon with another key never completes the
  // handshake: events then queue and drop as when the daemon is away.
  absl::optional<CurveKeyPair> curve_key;
  absl::optional<CurvePublicKey> curve_server_key;
  // Batched wire messages: the I/O thread packs queued events (from every
  // thread) into messages of up to batch_bytes, each message whole BSON
  // documents back to back; an event larger than batch_bytes goes alone.
  // 0 = off: one event per message, as collectors that predate batching
  // need. Capped at 1 MiB, the smallest message every batching daemon
  // accepts. ZIGGY_BATCH=0 in the environment turns batching off whatever
  // this says (both Configure overloads; unset or 1: this option decides).
  size_t batch_bytes = 64 << 10;
  // How long the I/O thread may hold queued events to fill a batch, never
  // longer: a batch leaves when it is full or its first event has waited
  // batch_delay, whichever comes first (Flush and Shutdown send at once).
  absl::Duration batch_delay = absl::Milliseconds(1);
};

// Counters of the configured transport (all zero without one). Monotonic
// except pending_bytes.
struct TransportStats {
  uint64_t queued = 0;               // accepted from recording threads
  uint64_t sent = 0;                 // handed to the ZeroMQ socket
  uint64_t messages = 0;             // wire messages those events made
  uint64_t dropped_queue_full = 0;   // the thread's queue was full
  uint64_t dropped_too_large = 0;    // larger than half a thread's queue
  uint64_t dropped_at_shutdown = 0;  // still queued, or sent, after Shutdown
  uint64_t pending_bytes = 0;        // queued and not yet sent (in the
                                     // queues and the batch being filled)
};

// Sends events to the collect port of a ziggyd or forwarder at host:port.
// The daemon need not be up; events queue (bounded) until it is.
// ZIGGY_BATCH=0 in the environment sends one event per message whatever
// options.batch_bytes says (for collectors that predate batching). Returns
// kInvalidArgument for a bad host or port, or for only one of
// options.curve_key and options.curve_server_key.
absl::Status Configure(absl::string_view host, int port,
                       const TransportOptions& options = {});

// Reads ZIGGY_HOST ("host[:port]", default "127.0.0.1:3514") and, for
// CurveZMQ, ZIGGY_CURVE_SERVER_KEY (path of the daemon's .pub file) and
// ZIGGY_CURVE_KEY (path of this client's secret key file) — both or
// neither; ZIGGY_BATCH=0 as above. kInvalidArgument when only one is set; a key
// file that cannot be loaded returns LoadSecretKey's / LoadPublicKey's error,
// prefixed with the variable's name (never the key).
absl::Status Configure();

// Hands every finished event to `recorder`, on the thread that finished it
// (so `recorder` must be thread-safe). For tests and in-process consumers.
using Recorder = std::function<void(const Event&)>;
void Configure(Recorder recorder);

// Gives pending events options.linger to leave, then returns to the
// unconfigured no-op state. Also runs at process exit.
void Shutdown();

// Waits until every event recorded so far was handed to the socket.
bool Flush(absl::Duration timeout = absl::Seconds(5));

bool IsConfigured();
TransportStats GetTransportStats();

// ---------------------------------------------------------------------------
// Contexts

// The outcome of Set/Append/Add. Unlike absl::Status it may be ignored: most
// logging call sites have nothing to do about a failed field; those that do
// check ok() or code(), or take the absl::Status.
class FieldStatus {
 public:
  FieldStatus(absl::Status status) : status_(std::move(status)) {}
  bool ok() const { return status_.ok(); }
  absl::StatusCode code() const { return status_.code(); }
  const absl::Status& status() const { return status_; }
  operator const absl::Status&() const { return status_; }

 private:
  absl::Status status_;
};

namespace internal {

// A field key the compiler knows (a string literal), split and checked
// where it is compiled (SplitLiteralKey below), so that Set and Add need
// not scan it at run time: one part, or two parts around one '.', each
// non-empty, every byte ASCII (1-127). `whole` is the key itself.
struct SplitKey {
  absl::string_view whole;
  absl::string_view first;
  absl::string_view second;  // empty for a one-part key
};
// Set and Add (integers) on this thread's current context, as the
// string_view overloads would make them with key.whole.
FieldStatus SetSplitKey(const SplitKey& key, const FieldValue& value);
FieldStatus AddIntSplitKey(const SplitKey& key, int64_t n);

}  // namespace internal

// Which contexts are kept. `target`:
//   "." or the context's own name: each context independently, with `rate`;
//   "..": decided once per parent: all such sub-events of one parent are
//         kept, or all dropped;
//   "^": decided once per top-level context;
//   any other name: once per the nearest ancestor of that name (its type or
//         its own name); when there is no such ancestor, as ".".
// A dropped context drops its sub-events too.
struct Sample {
  absl::string_view target = ".";
  double rate = 1.0;
};

struct ContextOptions {
  absl::string_view id;  // empty: inherit or generate
  Sample sample;
};

class Context {
 public:
  // Starts the event and makes it the current context of this thread.
  explicit Context(absl::string_view name, const ContextOptions& options = {});
  Context(absl::string_view name, const Sample& sample)
      : Context(name, ContextOptions{{}, sample}) {}
  // Finish()es if not finished yet.
  ~Context();

  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  FieldStatus Set(absl::string_view key, const FieldValue& value);
  FieldStatus Append(absl::string_view key, const FieldValue& value);
  template <typename T, std::enable_if_t<std::is_arithmetic<T>::value &&
                                             !std::is_same<T, bool>::value,
                                         int> = 0>
  FieldStatus Add(absl::string_view key, T n) {
    return std::is_integral<T>::value ? AddInt(key, static_cast<int64_t>(n))
                                      : AddDouble(key, static_cast<double>(n));
  }

  // Ends the event now and records it (unless sampled out). Idempotent.
  // A context still current on a thread stops being current.
  void Finish();

  // Stops being this thread's current context, so the event can continue on
  // another thread inside a ContextScope. Fields can still be set through
  // the object meanwhile.
  // REQUIRES: this is the current context of the calling thread.
  void Detach();

  // The current context of this thread, or nullptr (always, while
  // unconfigured).
  static Context* Current();

  absl::string_view id() const {
    return long_id_.empty() ? absl::string_view(id_, id_size_) : long_id_;
  }
  const std::string& type() const { return type_; }
  // False when sampling dropped it or ziggy was unconfigured at its start.
  bool recording() const { return recording_; }
  bool finished() const { return finished_; }

 private:
  friend class ContextScope;
  friend FieldStatus internal::SetSplitKey(const internal::SplitKey& key,
                                           const FieldValue& value);
  friend FieldStatus internal::AddIntSplitKey(const internal::SplitKey& key,
                                              int64_t n);
  struct SampleDecision {
    std::string child_type;
    bool keep;
  };

  FieldStatus AddInt(absl::string_view key, int64_t n);
  FieldStatus AddDouble(absl::string_view key, double n);
  absl::Status Mutable(internal::Body** body);
  void SetId(absl::string_view id);
  bool DecideSample(const Sample& sample, absl::string_view own_name);
  void Push();
  void Pop();

  std::string type_;
  char id_[32];  // generated and inherited ids, no allocation
  size_t id_size_ = 0;
  std::string long_id_;        // explicit ids longer than id_
  Context* parent_ = nullptr;  // event-tree parent (sub-events only)
  Context* root_ = this;       // top of the event tree
  Context* below_ = nullptr;   // next on this thread's stack
  bool active_ = false;        // configured when constructed
  bool on_stack_ = false;
  bool recording_ = false;  // active and kept by sampling
  bool finished_ = false;
  double start_ = 0;
  std::unique_ptr<internal::Body> body_;
  std::vector<SampleDecision> sample_decisions_;
};

// Makes a detached context current on this thread for the scope's lifetime.
//
//   auto request = std::make_unique<ziggy::Context>("request");
//   request->Detach();
//   pool.Run([request = std::move(request)] {
//     ziggy::ContextScope scope(*request);
//     ziggy::Set("worker", 3);              // lands in `request`
//   });                                      // one "request" event
//
// REQUIRES: `context` is detached (current on no thread) and outlives the
// scope.
class ContextScope {
 public:
  explicit ContextScope(Context& context);
  ~ContextScope();
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  Context& context_;
  bool pushed_ = false;
};

// The field functions on this thread's current context. With no current
// context they do nothing and return OK when unconfigured, and return
// kFailedPrecondition when configured.
FieldStatus Set(absl::string_view key, const FieldValue& value);
FieldStatus Append(absl::string_view key, const FieldValue& value);
template <typename T, std::enable_if_t<std::is_arithmetic<T>::value &&
                                           !std::is_same<T, bool>::value,
                                       int> = 0>
FieldStatus Add(absl::string_view key, T n);

// Sets `key` to the seconds elapsed (a double) between construction and
// destruction, on the context current at construction (nothing if none, or
// if it is not recording). REQUIRES: that context outlives the timer.
class Timer {
 public:
  explicit Timer(absl::string_view key) : Timer(Context::Current(), key) {}
  Timer(Context& context, absl::string_view key) : Timer(&context, key) {}
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Seconds since construction; 0 for a timer that records nothing.
  double Elapsed() const;

 private:
  Timer(Context* context, absl::string_view key);
  Context* context_;
  std::string key_;
  std::chrono::steady_clock::time_point start_;
};

// ---------------------------------------------------------------------------

namespace internal {
FieldStatus NoCurrentContext();
}  // namespace internal

template <typename T, std::enable_if_t<std::is_arithmetic<T>::value &&
                                           !std::is_same<T, bool>::value,
                                       int>>
FieldStatus Add(absl::string_view key, T n) {
  Context* context = Context::Current();
  return context != nullptr ? context->Add(key, n)
                            : internal::NoCurrentContext();
}

namespace internal {

// Sets *key and returns true when `literal` is a string literal (after
// inlining, the compiler knows its bytes: the checks below fold to
// constants) of one or two non-empty ASCII parts. False for anything else,
// and always without optimisation: the caller then takes the string_view
// path, which gives the same result.
template <size_t N>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool SplitLiteralKey(
    const char (&literal)[N], SplitKey* key) {
#if !defined(__GNUC__)  // GCC and Clang (which defines it too) fold these
  return false;
#else
  const size_t n = __builtin_strlen(literal);
  if (!__builtin_constant_p(n) || n == 0) return false;
  const size_t ascii = __builtin_strspn(
      literal,
      "\001\002\003\004\005\006\007\010\011\012\013\014\015\016"
      "\017\020\021\022\023\024\025\026\027\030\031\032\033\034"
      "\035\036\037 !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJ"
      "KLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
      "\177");
  const size_t dot = __builtin_strcspn(literal, ".");
  if (!__builtin_constant_p(ascii) || ascii != n ||
      !__builtin_constant_p(dot)) {
    return false;
  }
  if (dot == n) {
    *key = {{literal, n}, {literal, n}, {}};
    return true;
  }
  if (dot == 0 || dot + 1 == n) return false;
  const size_t rest = __builtin_strcspn(literal + dot + 1, ".");
  if (!__builtin_constant_p(rest) || dot + 1 + rest != n) return false;
  *key = {{literal, n}, {literal, dot}, {literal + dot + 1, rest}};
  return true;
#endif
}

}  // namespace internal

// Set and Add with a string literal for the key, the common case: the same
// as the string_view overloads, with the key split where it is compiled.
template <size_t N>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline FieldStatus Set(const char (&key)[N],
                                                    const FieldValue& value) {
  internal::SplitKey split;
  if (internal::SplitLiteralKey(key, &split)) {
    return internal::SetSplitKey(split, value);
  }
  return Set(absl::string_view(key), value);
}

template <
    size_t N, typename T,
    std::enable_if_t<
        std::is_arithmetic<T>::value && !std::is_same<T, bool>::value, int> = 0>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline FieldStatus Add(const char (&key)[N], T n) {
  internal::SplitKey split;
  if (std::is_integral<T>::value && internal::SplitLiteralKey(key, &split)) {
    return internal::AddIntSplitKey(split, static_cast<int64_t>(n));
  }
  return Add(absl::string_view(key), n);
}

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_ZIGGY_H_
