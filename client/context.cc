// Contexts, the field functions, timers and sampling.
//
// The hot path (construct, a few Set()s, destruct) touches only this
// thread's state: its context stack, a pool of recycled bodies, an encode
// buffer and a random generator. Nothing here locks or makes a syscall.

#include <time.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstring>
#include <random>
#include <thread>

#include "absl/base/attributes.h"
#include "absl/base/internal/endian.h"
#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "client/format/bson_writer.h"
#include "client/internal/body.h"
#include "client/internal/runtime.h"
#include "client/ziggy.h"

#if defined(__GNUC__) || defined(__clang__)
#define ZIGGY_FLATTEN __attribute__((flatten))
#else
#define ZIGGY_FLATTEN
#endif

namespace ziggy {
namespace {

// Bodies larger than this are freed rather than recycled.
constexpr size_t kMaxPooledBodyBytes = 64 << 10;
constexpr size_t kMaxPooledBodies = 16;

// splitmix64: fast, and good enough for ids and sampling coins (not for
// secrets). Seeded per thread from the OS.
class Random {
 public:
  Random() {
    std::random_device device;
    state_ = (uint64_t{device()} << 32) ^ device() ^
             std::hash<std::thread::id>()(std::this_thread::get_id());
  }
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

struct ThreadState {
  std::vector<std::unique_ptr<internal::Body>> free_bodies;
  BsonWriter encode_buffer;
  Random random;
  // The "host" and "pid" elements of `process`'s events, encoded once per
  // Configure rather than per event.
  const internal::ProcessInfo* process = nullptr;
  BsonWriter host_pid;

  absl::string_view HostPid(const internal::ProcessInfo& now) {
    if (ABSL_PREDICT_FALSE(process != &now)) {
      host_pid.Clear();
      HostPidElements(now.host, now.pid, &host_pid);
      process = &now;
    }
    return host_pid.bytes();
  }

  std::unique_ptr<internal::Body> AcquireBody() {
    if (free_bodies.empty()) return std::make_unique<internal::Body>();
    std::unique_ptr<internal::Body> body = std::move(free_bodies.back());
    free_bodies.pop_back();
    return body;
  }
  void ReleaseBody(std::unique_ptr<internal::Body> body) {
    if (free_bodies.size() < kMaxPooledBodies &&
        body->retained_bytes() <= kMaxPooledBodyBytes) {
      body->Clear();
      free_bodies.push_back(std::move(body));
    }
  }
};

// This thread's stack of current contexts. A plain pointer, apart from
// ThreadState: a thread_local with a constructor is reached through an
// initialization check on every access, and Current() runs on every Set.
thread_local Context* current_top = nullptr;

ABSL_ATTRIBUTE_NOINLINE ThreadState& NewThreadState() {
  thread_local ThreadState state;
  return state;
}

// Cached in a trivial thread_local for the same reason as current_top;
// inline, as the constructor and Finish each take it.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline ThreadState& ThisThread() {
  thread_local ThreadState* state = nullptr;
  if (ABSL_PREDICT_FALSE(state == nullptr)) state = &NewThreadState();
  return *state;
}

// Unix seconds, as the wall clock's timespec would give them.
double NowSeconds() {
  const int64_t nanos = internal::WallNanos();
  return static_cast<double>(nanos / 1000000000) +
         static_cast<double>(nanos % 1000000000) * 1e-9;
}

#if defined(__SSE2__)
// The 32 lowercase hex digits of bytes[0, 16), sixteen at a time: each
// byte's high and low nibbles interleaved, then '0' added, and 'a' - '9' - 1
// more where a nibble is above 9.
void HexOf16(const unsigned char bytes[16], char out[32]) {
  const __m128i in = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes));
  const __m128i low_nibbles = _mm_set1_epi8(0x0f);
  const __m128i high = _mm_and_si128(_mm_srli_epi16(in, 4), low_nibbles);
  const __m128i low = _mm_and_si128(in, low_nibbles);
  const __m128i nine = _mm_set1_epi8(9);
  const __m128i zero = _mm_set1_epi8('0');
  const __m128i letters = _mm_set1_epi8('a' - '9' - 1);
  for (int half = 0; half < 2; ++half) {
    const __m128i nibbles =
        half == 0 ? _mm_unpacklo_epi8(high, low) : _mm_unpackhi_epi8(high, low);
    const __m128i above_nine = _mm_cmpgt_epi8(nibbles, nine);
    const __m128i digits = _mm_add_epi8(_mm_add_epi8(nibbles, zero),
                                        _mm_and_si128(above_nine, letters));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * half), digits);
  }
}
#else
// The two lowercase hex digits of every byte value.
struct HexPairs {
  char pair[256][2];
};
constexpr HexPairs MakeHexPairs() {
  constexpr char kHex[] = "0123456789abcdef";
  HexPairs table{};
  for (int i = 0; i < 256; ++i) {
    table.pair[i][0] = kHex[i >> 4];
    table.pair[i][1] = kHex[i & 0xf];
  }
  return table;
}
constexpr HexPairs kHexPairs = MakeHexPairs();

void HexOf16(const unsigned char bytes[16], char out[32]) {
  for (int i = 0; i < 16; ++i) memcpy(out + 2 * i, kHexPairs.pair[bytes[i]], 2);
}
#endif

// 4 bytes big-endian Unix seconds + 12 random bytes, as 32 hex chars.
void GenerateId(char out[32], double now, Random& random) {
  unsigned char bytes[16];
  absl::big_endian::Store32(bytes, static_cast<uint32_t>(now));
  const uint64_t a = random.Next();
  const uint64_t b = random.Next();
  memcpy(bytes + 4, &a, 8);
  memcpy(bytes + 12, &b, 4);
  HexOf16(bytes, out);
}

// *type = parent + "." + own, with one call into std::string for the
// types of most sub-events (resize() and then a copy is two).
void JoinType(absl::string_view parent, absl::string_view own,
              std::string* type) {
  const size_t size = parent.size() + 1 + own.size();
  char buffer[64];
  char* at = size <= sizeof buffer ? buffer : nullptr;
  if (at == nullptr) {
    type->resize(size);
    at = &(*type)[0];
  }
  CopySmall(at, parent.data(), parent.size());
  at[parent.size()] = '.';
  CopyBytes(at + parent.size() + 1, own.data(), own.size());
  if (at == buffer) type->append(buffer, size);  // *type is empty
}

// Writes the header of the event (id, type, start) into `body`'s frame, so
// that Finish has only its end to add; nothing when id or type is not
// valid UTF-8 (Finish then encodes the event whole, repairing them).
// `checked`: both are known to be valid.
void BeginFrame(internal::Body* body, ThreadState& thread, absl::string_view id,
                absl::string_view type, double start, bool checked) {
  if (!checked && (!IsValidUtf8(id) || !IsValidUtf8(type))) return;
  const internal::ProcessInfo& process = internal::Process();
  const EventHeader header{id,    type,  process.host,           process.pid,
                           start, start, thread.HostPid(process)};
  WriteEventPrefix(body->BeginFrame(EventPrefixSize(header), &process), header);
}

// The fields of an event header that are the context's own.
struct EventFields {
  absl::string_view id;
  absl::string_view type;
  double start;
  double end;
};

// The event in thread.encode_buffer: for a body that is not framed (or
// moved to the tree).
absl::string_view EncodeEvent(ThreadState& thread,
                              const internal::ProcessInfo& process,
                              const EventFields& e,
                              const internal::Body& body) {
  BsonWriter& buffer = thread.encode_buffer;
  buffer.Clear();
  const EventHeader header{e.id,    e.type, process.host,           process.pid,
                           e.start, e.end,  thread.HostPid(process)};
  absl::string_view elements;
  if (!body.FlatElements(&elements) ||
      !EncodeEventWithBody(&buffer, header, elements)) {
    EncodeEventTo(&buffer, header,
                  [&body](BsonWriter* out) { body.AppendTo(out); });
  }
  return buffer.bytes();
}

// The last dotted part of a type: "request.sql" -> "sql".
absl::string_view ShortName(absl::string_view type) {
  const size_t dot = type.rfind('.');
  return dot == absl::string_view::npos ? type : type.substr(dot + 1);
}

}  // namespace

Context::Context(absl::string_view name, const ContextOptions& options) {
  if (internal::CurrentSink() == nullptr) return;  // unconfigured: inert
  active_ = true;
  ThreadState& thread = ThisThread();
  start_ = NowSeconds();

  absl::string_view own_name = name;
  const bool to_root = absl::ConsumePrefix(&own_name, "^.");
  const bool sub = to_root || absl::ConsumePrefix(&own_name, ".");
  Context* current = current_top;
  // Whether id and type are known to be valid UTF-8: a generated id is
  // hex, and a framed parent's id and type were checked (a valid type, a
  // '.' and a valid name make a valid type).
  bool checked;
  if (sub && current != nullptr) {
    parent_ = to_root ? current->root_ : current;
    root_ = parent_->root_;
    JoinType(parent_->type_, own_name, &type_);
    SetId(parent_->id());
    checked = parent_->body_ != nullptr && parent_->body_->framed();
  } else {
    type_.append(own_name.data(), own_name.size());  // cheaper than assign
    GenerateId(id_, start_, thread.random);
    id_size_ = sizeof id_;
    checked = true;
  }
  checked = checked && IsValidUtf8(own_name);
  if (!options.id.empty()) {
    SetId(options.id);
    checked = false;
  }

  recording_ = (parent_ == nullptr || parent_->recording_) &&
               (!(options.sample.rate < 1.0) ||  // sampling off: inline
                DecideSample(options.sample, own_name));
  if (recording_) {
    body_ = thread.AcquireBody();
    BeginFrame(body_.get(), thread, id(), type_, start_, checked);
  }
  Push();
}

// Flattened, as Set below: Finish and what it calls here are inlined.
ZIGGY_FLATTEN Context::~Context() { Finish(); }

void Context::SetId(absl::string_view id) {
  if (id.size() <= sizeof id_) {
    CopySmall(id_, id.data(), id.size());
    id_size_ = id.size();
    long_id_.clear();
  } else {
    long_id_.assign(id.data(), id.size());
  }
}

bool Context::DecideSample(const Sample& sample, absl::string_view own_name) {
  if (!(sample.rate < 1.0)) return true;  // also NaN: sampling off
  if (sample.rate <= 0.0) return false;
  const absl::string_view target = sample.target;
  Context* decider = nullptr;
  if (target == "..") {
    decider = parent_;
  } else if (target == "^") {
    decider = root_ == this ? nullptr : root_;
  } else if (target != "." && target != own_name && target != type_) {
    for (Context* c = parent_; c != nullptr; c = c->parent_) {
      if (c->type_ == target || ShortName(c->type_) == target) {
        decider = c;
        break;
      }
    }
  }
  Random& random = ThisThread().random;
  if (decider == nullptr) return random.Uniform() < sample.rate;
  for (const SampleDecision& d : decider->sample_decisions_) {
    if (d.child_type == type_) return d.keep;
  }
  const bool keep = random.Uniform() < sample.rate;
  decider->sample_decisions_.push_back({type_, keep});
  return keep;
}

void Context::Push() {
  below_ = current_top;
  current_top = this;
  on_stack_ = true;
}

void Context::Pop() {
  if (!on_stack_) return;
  if (current_top == this) {
    current_top = below_;
  } else {
    // Finished out of order: unlink from the middle of this thread's stack.
    for (Context* c = current_top; c != nullptr; c = c->below_) {
      if (c->below_ == this) {
        c->below_ = below_;
        break;
      }
    }
  }
  below_ = nullptr;
  on_stack_ = false;
}

void Context::Detach() { Pop(); }

Context* Context::Current() {
  if (internal::CurrentSink() == nullptr) return nullptr;  // the no-op path
  return current_top;
}

void Context::Finish() {
  if (finished_ || !active_) {
    finished_ = true;
    return;
  }
  finished_ = true;
  Pop();
  if (!recording_) return;
  ThreadState& thread = ThisThread();
  internal::EventSink* sink = internal::CurrentSink();
  if (sink != nullptr) {
    // The body's frame holds the whole event, unless the body moved to the
    // tree or ziggy was configured again since the start (host and pid).
    const internal::ProcessInfo& process = internal::Process();
    const double end = NowSeconds();
    absl::string_view event;
    if (!body_->CloseFrame(&process, end, &event)) {
      event = EncodeEvent(thread, process, {id(), type_, start_, end}, *body_);
    }
    sink->Record(event);
  }
  thread.ReleaseBody(std::move(body_));
}

// The fast paths above take body_ directly: it is set only while the
// context is recording and not finished.
absl::Status Context::Mutable(internal::Body** body) {
  *body = nullptr;
  if (!active_) return absl::OkStatus();
  if (finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat("ziggy context '", type_, "' is finished"));
  }
  *body = body_.get();  // null when sampled out
  return absl::OkStatus();
}

FieldStatus Context::Set(absl::string_view key, const FieldValue& value) {
  if (ABSL_PREDICT_TRUE(body_ != nullptr)) {
    if (ABSL_PREDICT_TRUE(body_->TrySetFlat(key, value))) {
      return absl::OkStatus();
    }
    return body_->Set(key, value);
  }
  internal::Body* body;
  absl::Status status = Mutable(&body);
  if (!status.ok() || body == nullptr) return status;
  return body->Set(key, value);
}

FieldStatus Context::Append(absl::string_view key, const FieldValue& value) {
  if (ABSL_PREDICT_TRUE(body_ != nullptr)) return body_->Append(key, value);
  internal::Body* body;
  absl::Status status = Mutable(&body);
  if (!status.ok() || body == nullptr) return status;
  return body->Append(key, value);
}

// Flattened: the flat fields' Add inlined (callgrind: -28 instructions per
// typical request, which adds one counter).
ZIGGY_FLATTEN FieldStatus Context::AddInt(absl::string_view key, int64_t n) {
  if (ABSL_PREDICT_TRUE(body_ != nullptr)) {
    if (ABSL_PREDICT_TRUE(body_->TryAddIntFlat(key, n))) {
      return absl::OkStatus();
    }
    return body_->AddInt(key, n);
  }
  internal::Body* body;
  absl::Status status = Mutable(&body);
  if (!status.ok() || body == nullptr) return status;
  return body->AddInt(key, n);
}

FieldStatus Context::AddDouble(absl::string_view key, double n) {
  if (ABSL_PREDICT_TRUE(body_ != nullptr)) return body_->AddDouble(key, n);
  internal::Body* body;
  absl::Status status = Mutable(&body);
  if (!status.ok() || body == nullptr) return status;
  return body->AddDouble(key, n);
}

ContextScope::ContextScope(Context& context) : context_(context) {
  if (context_.active_ && !context_.finished_ && !context_.on_stack_) {
    context_.Push();
    pushed_ = true;
  }
}

ContextScope::~ContextScope() {
  if (pushed_) context_.Pop();
}

// Flattened (every call to this file's functions inlined): one call less
// per field than calling Context::Set (callgrind: -71 instructions per
// typical request; with ~Context and ~Timer, -200).
ZIGGY_FLATTEN FieldStatus Set(absl::string_view key, const FieldValue& value) {
  Context* context = Context::Current();
  return context != nullptr ? context->Set(key, value)
                            : internal::NoCurrentContext();
}

namespace internal {
namespace {

// The call on this thread's current context: by its flat fields when
// try_flat(context) takes it, else by whole(context).
template <typename TryFlat, typename Whole>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline FieldStatus OnCurrentContext(
    TryFlat try_flat, Whole whole) {
  Context* context = Context::Current();
  if (context == nullptr) return NoCurrentContext();
  if (ABSL_PREDICT_TRUE(try_flat(context))) return absl::OkStatus();
  return whole(context);
}

}  // namespace

// Set and AddInt for keys split where they were compiled: the flat fields
// take the parts as they are (no scan of the key); every other case is the
// string_view path's, with the whole key. Flattened as Set.
ZIGGY_FLATTEN FieldStatus SetSplitKey(const SplitKey& key,
                                      const FieldValue& value) {
  return OnCurrentContext(
      [&](Context* c) {
        return c->body_ != nullptr &&
               c->body_->TrySetFlatParts(key.first, key.second, value);
      },
      [&](Context* c) { return c->Set(key.whole, value); });
}

ZIGGY_FLATTEN FieldStatus AddIntSplitKey(const SplitKey& key, int64_t n) {
  return OnCurrentContext(
      [&](Context* c) {
        return c->body_ != nullptr &&
               c->body_->TryAddIntFlatParts(key.first, key.second, n);
      },
      [&](Context* c) { return c->AddInt(key.whole, n); });
}

}  // namespace internal

FieldStatus Append(absl::string_view key, const FieldValue& value) {
  Context* context = Context::Current();
  return context != nullptr ? context->Append(key, value)
                            : internal::NoCurrentContext();
}

Timer::Timer(Context* context, absl::string_view key)
    : context_(context != nullptr && context->recording() ? context : nullptr),
      // Constructed, not assigned: assign() is an out-of-line _M_replace.
      key_(context_ != nullptr ? key.data() : "",
           context_ != nullptr ? key.size() : 0) {
  if (context_ != nullptr) {
    start_ = std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(internal::MonotonicNanos()));
  }
}

ZIGGY_FLATTEN Timer::~Timer() {
  if (context_ != nullptr) context_->Set(key_, Elapsed());
}

double Timer::Elapsed() const {
  if (context_ == nullptr) return 0;
  // MonotonicNanos is CLOCK_MONOTONIC, steady_clock's own clock.
  const int64_t nanos = internal::MonotonicNanos() -
                        std::chrono::duration_cast<std::chrono::nanoseconds>(
                            start_.time_since_epoch())
                            .count();
  return static_cast<double>(nanos) * 1e-9;
}

}  // namespace ziggy
