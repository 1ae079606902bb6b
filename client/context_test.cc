#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/format/event.h"
#include "client/internal/runtime.h"
#include "client/testing/recorder.h"
#include "client/ziggy.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

using ::ziggy::testing::EventCollector;

bool IsGeneratedId(absl::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST(ContextTest, UnconfiguredIsANoOp) {
  ASSERT_FALSE(IsConfigured());
  Context request("request");
  EXPECT_FALSE(request.recording());
  EXPECT_EQ(Context::Current(), nullptr);
  EXPECT_TRUE(Set("a", 1).ok());
  EXPECT_TRUE(Set("a.b", 1).ok());  // would collide if it did anything
  EXPECT_TRUE(Add("n", 1).ok());
  EXPECT_TRUE(request.Set("x", "y").ok());
  Timer timer("t");
  request.Finish();
  EXPECT_TRUE(request.Set("x", "y").ok());
  EXPECT_EQ(GetTransportStats().queued, 0u);
}

TEST(ContextTest, RecordsOneEventWithFieldsAndHeader) {
  EventCollector collector;
  const double before = absl::ToUnixMicros(absl::Now()) / 1e6;
  {
    Context request("request");
    EXPECT_EQ(Context::Current(), &request);
    ASSERT_TRUE(Set("user_agent", "curl/8").ok());
    ASSERT_TRUE(Set("response.status", 200).ok());
    ASSERT_TRUE(request.Set("response.size", 1234).ok());
    ASSERT_TRUE(Append("path", "a").ok());
    ASSERT_TRUE(Append("path", "b").ok());
    ASSERT_TRUE(Add("hits", 2).ok());
    ASSERT_TRUE(Add("hits", 0.5).ok());
  }
  const double after = absl::ToUnixMicros(absl::Now()) / 1e6;
  EXPECT_EQ(Context::Current(), nullptr);
  const std::vector<Event> events = collector.events();
  ASSERT_EQ(events.size(), 1u);
  const Event& e = events[0];
  EXPECT_EQ(e.type, "request");
  EXPECT_TRUE(IsGeneratedId(e.id)) << e.id;
  EXPECT_EQ(e.pid, static_cast<int32_t>(getpid()));
  EXPECT_FALSE(e.host.empty());
  EXPECT_LE(before, e.start);
  EXPECT_LE(e.start, e.end);
  EXPECT_LE(e.end, after + 1e-3);
  EXPECT_EQ(e.body.Find("user_agent")->AsString(), "curl/8");
  EXPECT_EQ(e.body.Find("response.status")->AsInt(), 200);
  EXPECT_EQ(e.body.Find("response.size")->AsInt(), 1234);
  EXPECT_EQ(*e.body.Find("path"), Value::MakeList({"a", "b"}));
  EXPECT_EQ(e.body.Find("hits")->AsDouble(), 2.5);
}

TEST(ContextTest, IdStartsWithBigEndianUnixSeconds) {
  EventCollector collector;
  const auto now = static_cast<uint32_t>(absl::ToUnixSeconds(absl::Now()));
  { Context c("x"); }
  const std::string id = collector.events()[0].id;
  const uint32_t seconds = std::stoul(id.substr(0, 8), nullptr, 16);
  EXPECT_LE(now, seconds);
  EXPECT_LE(seconds, now + 2);
}

TEST(ContextTest, IdsAreUnique) {
  EventCollector collector;
  for (int i = 0; i < 10000; ++i) Context c("x");
  std::set<std::string> ids;
  for (const Event& e : collector.events()) ids.insert(e.id);
  EXPECT_EQ(ids.size(), 10000u);
}

TEST(ContextTest, NamesAndIdsThreeLevelsDeep) {
  EventCollector collector;
  std::string request_id;
  {
    Context request("request");
    request_id = std::string(request.id());
    {
      Context sql(".sql");
      EXPECT_EQ(sql.type(), "request.sql");
      {
        Context row(".row");
        EXPECT_EQ(row.type(), "request.sql.row");
        Context cache("^.cache");
        EXPECT_EQ(cache.type(), "request.cache");
        EXPECT_EQ(cache.id(), request_id);
      }
    }
  }
  std::map<std::string, std::string> id_by_type;
  for (const Event& e : collector.events()) id_by_type[e.type] = e.id;
  ASSERT_EQ(id_by_type.size(), 4u);
  for (const auto& [type, id] : id_by_type) EXPECT_EQ(id, request_id) << type;
  // Sub-events finish (and are recorded) before their parents.
  EXPECT_EQ(collector.events().back().type, "request");
}

TEST(ContextTest, ExplicitIdsAndPlainNamesStartNewTrees) {
  EventCollector collector;
  {
    Context outer("outer", ContextOptions{"my-id", {}});
    EXPECT_EQ(outer.id(), "my-id");
    Context inherits(".child");
    EXPECT_EQ(inherits.id(), "my-id");
    Context own(".other", ContextOptions{"other-id", {}});
    EXPECT_EQ(own.type(), "outer.child.other");
    EXPECT_EQ(own.id(), "other-id");
    Context long_id("long", ContextOptions{std::string(100, 'z'), {}});
    EXPECT_EQ(long_id.id(), std::string(100, 'z'));
    Context fresh("fresh");
    EXPECT_EQ(fresh.type(), "fresh");
    EXPECT_TRUE(IsGeneratedId(fresh.id()));
    Context under_fresh("^.leaf");
    EXPECT_EQ(under_fresh.type(), "fresh.leaf");
    EXPECT_EQ(under_fresh.id(), fresh.id());
  }
  EXPECT_EQ(collector.events().size(), 6u);
}

TEST(ContextTest, LeadingDotDroppedWithoutParent) {
  EventCollector collector;
  {
    Context a(".sql");
    EXPECT_EQ(a.type(), "sql");
    EXPECT_TRUE(IsGeneratedId(a.id()));
  }
  {
    Context b("^.cache");
    EXPECT_EQ(b.type(), "cache");
  }
}

TEST(ContextTest, ErrorsAreVisibleNotCrashes) {
  EventCollector collector;
  EXPECT_EQ(Set("no.context", 1).code(), absl::StatusCode::kFailedPrecondition);
  Context c("request");
  ASSERT_TRUE(c.Set("response", 200).ok());
  EXPECT_EQ(c.Set("response.status", 1).code(),
            absl::StatusCode::kFailedPrecondition);
  c.Finish();
  EXPECT_EQ(c.Set("late", 1).code(), absl::StatusCode::kFailedPrecondition);
  c.Finish();  // idempotent
  ASSERT_EQ(collector.events().size(), 1u);
  EXPECT_EQ(collector.events()[0].body, Value(Value::Map{{"response", 200}}));
}

TEST(ContextTest, TimerSetsElapsedSeconds) {
  EventCollector collector;
  {
    Context c("request");
    Timer t("request_time");
    absl::SleepFor(absl::Milliseconds(20));
  }
  const double elapsed =
      collector.events()[0].body.Find("request_time")->AsDouble();
  EXPECT_GE(elapsed, 0.02);
  EXPECT_LT(elapsed, 10.0);
}

TEST(ContextTest, TimerOnAnExplicitContext) {
  EventCollector collector;
  {
    Context c("request");
    Context sub(".sql");
    { Timer t(c, "outer.time"); }
  }
  const Event request = collector.events()[1];
  EXPECT_EQ(request.type, "request");
  EXPECT_NE(request.body.Find("outer.time"), nullptr);
}

// The event clock (internal/runtime.h): every reading lies between the
// kernel's own readings just before and after it, on several threads at
// once, through re-anchoring, and the TSC is in use once calibrated when
// the kernel's clock source is the TSC.
int64_t KernelNanos(clockid_t clock) {
  timespec now;
  clock_gettime(clock, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

bool KernelClockIsTsc() {
  std::ifstream file(
      "/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string name;
  return file >> name && name == "tsc";
}

// Reads both clocks for `span`; returns how many readings fell outside the
// kernel's bracket (with `slack` for the scaling) or went backwards.
int ClockMisses(absl::Duration span, int64_t slack) {
  int misses = 0;
  int64_t last_monotonic = 0;
  const absl::Time end = absl::Now() + span;
  while (absl::Now() < end) {
    const int64_t wall_before = KernelNanos(CLOCK_REALTIME);
    const int64_t mono_before = KernelNanos(CLOCK_MONOTONIC);
    const int64_t wall = internal::WallNanos();
    const int64_t mono = internal::MonotonicNanos();
    const int64_t wall_after = KernelNanos(CLOCK_REALTIME);
    const int64_t mono_after = KernelNanos(CLOCK_MONOTONIC);
    if (wall < wall_before - slack || wall > wall_after + slack) ++misses;
    if (mono < mono_before - slack || mono > mono_after + slack) ++misses;
    if (mono < last_monotonic) ++misses;
    last_monotonic = mono;
  }
  return misses;
}

TEST(EventClockTest, ReadingsMatchTheKernelsClocks) {
  // Long enough to calibrate and to re-anchor many times (1 ms apart).
  EXPECT_EQ(ClockMisses(absl::Milliseconds(100), 2000), 0);
  // An anchor taken while preempted is dropped; a later one holds.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (KernelClockIsTsc() && !internal::ClockUsesTsc() &&
         absl::Now() < deadline) {
    internal::WallNanos();
  }
  EXPECT_EQ(internal::ClockUsesTsc(), KernelClockIsTsc());
}

TEST(EventClockTest, ReadingsMatchOnFourThreads) {
  std::atomic<int> misses{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back(
        [&] { misses += ClockMisses(absl::Milliseconds(60), 2000); });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(misses.load(), 0);
}

TEST(EventClockTest, EventTimesAndTimersUseIt) {
  EventCollector collector;
  ClockMisses(absl::Milliseconds(30), 2000);  // calibrated from here on
  const int64_t before = KernelNanos(CLOCK_REALTIME);
  {
    Context c("request");
    Timer t("request_time");
    absl::SleepFor(absl::Milliseconds(3));  // past an anchor's age
  }
  const int64_t after = KernelNanos(CLOCK_REALTIME);
  const std::vector<Event> events = collector.events();
  ASSERT_EQ(events.size(), 1u);
  const Event& e = events[0];
  EXPECT_GE(e.start, before * 1e-9 - 2e-6);
  EXPECT_LE(e.end, after * 1e-9 + 2e-6);
  EXPECT_GE(e.end - e.start, 0.003);
  const double elapsed = e.body.Find("request_time")->AsDouble();
  EXPECT_GE(elapsed, 0.003);
  EXPECT_LE(elapsed, e.end - e.start + 2e-6);
}

TEST(ContextTest, EightThreadsRecordWithoutLossOrMixing) {
  EventCollector collector;
  constexpr int kThreads = 8, kEvents = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kEvents; ++i) {
        Context request("request");
        ASSERT_TRUE(Set("thread", t).ok());
        ASSERT_TRUE(Set("seq", i).ok());
        Context sql(".sql");
        ASSERT_TRUE(Set("thread", t).ok());
        ASSERT_TRUE(Set("seq", i).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const std::vector<Event> events = collector.events();
  ASSERT_EQ(events.size(), 2u * kThreads * kEvents);
  std::map<std::pair<int64_t, int64_t>, std::vector<const Event*>> by_key;
  for (const Event& e : events) {
    ASSERT_EQ(e.body.AsMap().size(), 2u) << e.body.DebugString();
    by_key[{e.body.Find("thread")->AsInt(), e.body.Find("seq")->AsInt()}]
        .push_back(&e);
  }
  ASSERT_EQ(by_key.size(), static_cast<size_t>(kThreads * kEvents));
  for (const auto& [key, pair] : by_key) {
    ASSERT_EQ(pair.size(), 2u);
    EXPECT_EQ(pair[0]->id, pair[1]->id);
    EXPECT_NE(pair[0]->type, pair[1]->type);
  }
}

TEST(ContextTest, ResumedOnAnotherThreadYieldsOneEvent) {
  EventCollector collector;
  auto request = std::make_unique<Context>("request");
  ASSERT_TRUE(Set("step", "start").ok());
  request->Detach();
  EXPECT_EQ(Context::Current(), nullptr);
  std::thread worker([&] {
    ContextScope scope(*request);
    EXPECT_EQ(Context::Current(), request.get());
    ASSERT_TRUE(Set("worker", true).ok());
    Context sql(".sql");
    ASSERT_TRUE(Set("query", "select 1").ok());
  });
  worker.join();
  EXPECT_EQ(Context::Current(), nullptr);
  ASSERT_TRUE(request->Set("step", "done").ok());
  const std::string id(request->id());
  request.reset();
  const std::vector<Event> events = collector.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "request.sql");
  EXPECT_EQ(events[0].id, id);
  EXPECT_EQ(events[1].type, "request");
  EXPECT_EQ(events[1].body.Find("step")->AsString(), "done");
  EXPECT_TRUE(events[1].body.Find("worker")->AsBool());
}

TEST(ContextTest, FinishedOutOfOrderLeavesTheStackConsistent) {
  EventCollector collector;
  Context outer("outer");
  auto inner = std::make_unique<Context>(".inner");
  outer.Finish();  // not the top of the stack
  EXPECT_EQ(Context::Current(), inner.get());
  inner.reset();
  EXPECT_EQ(Context::Current(), nullptr);
  EXPECT_EQ(collector.events().size(), 2u);
}

// ---------------------------------------------------------------------------
// Sampling

// Three standard deviations of a binomial proportion, plus slack.
void ExpectRate(int kept, int trials, double rate) {
  const double sd = std::sqrt(rate * (1 - rate) / trials);
  EXPECT_NEAR(static_cast<double>(kept) / trials, rate, 4 * sd + 1e-9)
      << kept << " of " << trials;
}

int CountType(const std::vector<Event>& events, absl::string_view type) {
  return static_cast<int>(
      std::count_if(events.begin(), events.end(),
                    [&](const Event& e) { return e.type == type; }));
}

TEST(SamplingTest, OwnRateIsWithinStatisticalBounds) {
  EventCollector collector;
  constexpr int kTrials = 20000;
  for (int i = 0; i < kTrials; ++i) {
    Context a("a", Sample{".", 0.25});
    Context b("b", Sample{"b", 0.7});
  }
  ExpectRate(CountType(collector.events(), "a"), kTrials, 0.25);
  ExpectRate(CountType(collector.events(), "b"), kTrials, 0.7);
}

TEST(SamplingTest, RatesZeroAndOne) {
  EventCollector collector;
  for (int i = 0; i < 100; ++i) {
    Context never("never", Sample{".", 0.0});
    EXPECT_FALSE(never.recording());
    EXPECT_TRUE(never.Set("x", 1).ok());
    Context always("always", Sample{".", 1.0});
  }
  EXPECT_EQ(CountType(collector.events(), "never"), 0);
  EXPECT_EQ(CountType(collector.events(), "always"), 100);
}

TEST(SamplingTest, ParentDecisionIsAllOrNothing) {
  EventCollector collector;
  constexpr int kParents = 4000, kChildren = 5;
  for (int p = 0; p < kParents; ++p) {
    Context request("request");
    ASSERT_TRUE(Set("p", p).ok());
    for (int c = 0; c < kChildren; ++c) {
      Context memcache(".memcache", Sample{"..", 0.25});
      if (memcache.recording()) {
        ASSERT_TRUE(Set("p", p).ok());
      }
    }
  }
  std::map<int64_t, int> per_parent;
  for (const Event& e : collector.events()) {
    if (e.type == "request.memcache") ++per_parent[e.body.Find("p")->AsInt()];
  }
  for (const auto& [parent, count] : per_parent) {
    EXPECT_EQ(count, kChildren) << "parent " << parent;
  }
  ExpectRate(static_cast<int>(per_parent.size()), kParents, 0.25);
  EXPECT_EQ(CountType(collector.events(), "request"), kParents);
}

TEST(SamplingTest, TopLevelAndNamedAncestorDecisions) {
  EventCollector collector;
  constexpr int kRequests = 4000;
  for (int r = 0; r < kRequests; ++r) {
    Context request("request");
    ASSERT_TRUE(Set("r", r).ok());
    for (int q = 0; q < 3; ++q) {
      Context sql(".sql");
      Context row(".row", Sample{"^", 0.5});
      if (row.recording()) {
        ASSERT_TRUE(Set("r", r).ok());
      }
      Context col(".col", Sample{"request", 0.5});
      if (col.recording()) {
        ASSERT_TRUE(Set("r", r).ok());
      }
    }
  }
  std::map<std::string, std::map<int64_t, int>> counts;
  for (const Event& e : collector.events()) {
    if (e.type == "request.sql.row" || e.type == "request.sql.row.col") {
      if (const Value* r = e.body.Find("r")) ++counts[e.type][r->AsInt()];
    }
  }
  for (const auto& [parent, count] : counts["request.sql.row"]) {
    EXPECT_EQ(count, 3);  // decided once per request, across its three sqls
  }
  ExpectRate(static_cast<int>(counts["request.sql.row"].size()), kRequests,
             0.5);
  // col is kept only when its row was (0.5) and its request's coin (0.5).
  ExpectRate(static_cast<int>(counts["request.sql.row.col"].size()), kRequests,
             0.25);
  for (const auto& [parent, count] : counts["request.sql.row.col"]) {
    EXPECT_EQ(count, 3);
  }
}

TEST(SamplingTest, DroppedContextDropsItsSubEvents) {
  EventCollector collector;
  for (int i = 0; i < 200; ++i) {
    Context request("request", Sample{".", 0.0});
    Context sql(".sql");
    EXPECT_FALSE(sql.recording());
    Context detail("^.detail");
    EXPECT_FALSE(detail.recording());
  }
  EXPECT_TRUE(collector.events().empty());
}

// Keeps the bytes of every event, as the transport would get them.
class RawSink final : public internal::EventSink {
 public:
  void Record(absl::string_view bson) override {
    absl::MutexLock lock(&mu_);
    events_.emplace_back(bson);
  }
  std::vector<std::string> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> events_;
};

RawSink* InstallRawSink() {
  auto sink = std::make_unique<RawSink>();
  RawSink* raw = sink.get();
  internal::InstallSink(std::move(sink));  // kept until the process exits
  return raw;
}

// Every path an event's bytes can take (the header written at the start
// into the body's buffer, or the whole event encoded at the end: a body in
// the tree, a type or id that is not valid UTF-8, Configure again while an
// event is open) gives the bytes EncodeEvent writes for the event decoded.
TEST(ContextTest, EventBytesAreTheEncodersOnEveryPath) {
  RawSink* sink = InstallRawSink();
  {
    Context request("request");
    Set("user_agent", "curl/8");
    {
      Context sql(".sql");  // header of a framed parent: not checked again
      Set("rows", 1);
      Context root_sub("^.cache");
      Set("hit", true);
    }
    {
      Context bad(".bad\xff");  // repaired by the encoder
      Set("x", 1);
    }
    Context own_id("explicit", ContextOptions{"short-id", {}});
    Context long_id("explicit", ContextOptions{std::string(40, 'i'), {}});
    Context bad_id("explicit", ContextOptions{"id\xfe", {}});
    Set("response.status", 200);
  }
  {
    Context tree("tree");
    Append("list", 1);  // the body moves to the tree
    Set("a.b.c", 2);
    Context sub(".sub");  // parent not framed: header checked
    Set("y", 3);
  }
  {
    Context bad_type("bad\xc3");
    Context sub(".sub");  // under a parent with no frame
  }
  RawSink* second = nullptr;
  {
    Context open("open");
    Set("k", "v");
    second = InstallRawSink();  // ProcessInfo replaced: the frame is stale
  }
  std::vector<std::string> events = sink->events();
  for (const std::string& e : second->events()) events.push_back(e);
  ASSERT_EQ(events.size(), 12u);
  std::set<std::string> types;
  for (const std::string& bytes : events) {
    absl::StatusOr<Event> event = DecodeEvent(bytes);
    ASSERT_TRUE(event.ok()) << event.status();
    types.insert(event->type);
    EXPECT_EQ(bytes, EncodeEvent(*event)) << event->type;
    EXPECT_EQ(event->pid, static_cast<int32_t>(getpid()));
    EXPECT_LE(event->start, event->end);
  }
  EXPECT_EQ(types.size(), 10u);  // "explicit" three times
  EXPECT_EQ(types.count("request.sql"), 1u);
  EXPECT_EQ(types.count("request.cache"), 1u);
  EXPECT_EQ(types.count("request.bad\xef\xbf\xbd"), 1u);
  EXPECT_EQ(types.count("open"), 1u);
  Shutdown();
}

// Generated ids are 32 lowercase hex digits of which the first eight are
// the start's Unix seconds; over many ids every digit shows in every
// position of the random part.
TEST(ContextTest, GeneratedIdsUseEveryHexDigit) {
  RawSink* sink = InstallRawSink();
  for (int i = 0; i < 2000; ++i) Context request("request");
  std::vector<std::set<char>> seen(32);
  for (const std::string& bytes : sink->events()) {
    absl::StatusOr<Event> event = DecodeEvent(bytes);
    ASSERT_TRUE(event.ok());
    ASSERT_TRUE(IsGeneratedId(event->id)) << event->id;
    for (int i = 0; i < 32; ++i) seen[i].insert(event->id[i]);
    char seconds[9];
    snprintf(seconds, sizeof seconds, "%08x",
             static_cast<uint32_t>(event->start));
    EXPECT_EQ(event->id.substr(0, 8), seconds);
  }
  for (int i = 8; i < 32; ++i) EXPECT_EQ(seen[i].size(), 16u) << i;
  Shutdown();
}

// Set and Add through keys split beforehand (what the string-literal
// overloads call when the compiler has split the key) record what the
// string_view overloads record, errors included.
TEST(ContextTest, SplitKeysRecordWhatStringKeysRecord) {
  RawSink* sink = InstallRawSink();
  using internal::SplitKey;
  const SplitKey agent{"user_agent", "user_agent", ""};
  const SplitKey status{"response.status", "response", "status"};
  const SplitKey hits{"counters.cache_hits", "counters", "cache_hits"};
  const SplitKey through{"user_agent.x", "user_agent", "x"};
  std::vector<absl::StatusCode> split_codes, string_codes;
  {
    Context request("request", ContextOptions{"same-id", {}});
    split_codes.push_back(internal::SetSplitKey(agent, "curl/8").code());
    split_codes.push_back(internal::SetSplitKey(status, 200).code());
    split_codes.push_back(internal::AddIntSplitKey(hits, 1).code());
    split_codes.push_back(internal::AddIntSplitKey(hits, 2).code());
    split_codes.push_back(internal::SetSplitKey(through, 1).code());
    Append("list", 1);  // to the tree: later split keys go there too
    split_codes.push_back(internal::SetSplitKey(status, 201).code());
    split_codes.push_back(internal::AddIntSplitKey(hits, 3).code());
  }
  {
    Context request("request", ContextOptions{"same-id", {}});
    string_codes.push_back(Set(std::string("user_agent"), "curl/8").code());
    string_codes.push_back(Set(std::string("response.status"), 200).code());
    string_codes.push_back(Add(std::string("counters.cache_hits"), 1).code());
    string_codes.push_back(Add(std::string("counters.cache_hits"), 2).code());
    string_codes.push_back(Set(std::string("user_agent.x"), 1).code());
    Append("list", 1);
    string_codes.push_back(Set(std::string("response.status"), 201).code());
    string_codes.push_back(Add(std::string("counters.cache_hits"), 3).code());
  }
  EXPECT_EQ(split_codes, string_codes);
  EXPECT_EQ(split_codes[4], absl::StatusCode::kFailedPrecondition);
  // Without a current context: the same error.
  EXPECT_EQ(internal::SetSplitKey(agent, 1).code(),
            Set(std::string("user_agent"), 1).code());
  EXPECT_EQ(internal::AddIntSplitKey(hits, 1).code(),
            Add(std::string("counters.cache_hits"), 1).code());
  const std::vector<std::string> events = sink->events();
  ASSERT_EQ(events.size(), 2u);
  absl::StatusOr<Event> split = DecodeEvent(events[0]);
  absl::StatusOr<Event> string = DecodeEvent(events[1]);
  ASSERT_TRUE(split.ok() && string.ok());
  EXPECT_EQ(split->body, string->body) << split->body.DebugString();
  EXPECT_EQ(split->body.Find("counters.cache_hits")->AsInt(), 6);
  Shutdown();
}

// When SplitLiteralKey splits a literal, the parts are the key's; it takes
// only keys of one or two non-empty ASCII parts. (Built without
// optimisation it splits nothing, and the overloads take the string_view
// path.)
TEST(ContextTest, LiteralKeysSplitWhereTheyAreCompiled) {
  internal::SplitKey key;
  if (internal::SplitLiteralKey("response.status", &key)) {
    EXPECT_EQ(key.whole, "response.status");
    EXPECT_EQ(key.first, "response");
    EXPECT_EQ(key.second, "status");
  }
  if (internal::SplitLiteralKey("user_agent", &key)) {
    EXPECT_EQ(key.whole, "user_agent");
    EXPECT_EQ(key.first, "user_agent");
    EXPECT_EQ(key.second, "");
  }
#if defined(__OPTIMIZE__)
  EXPECT_TRUE(internal::SplitLiteralKey("response.status", &key));
  EXPECT_TRUE(internal::SplitLiteralKey("user_agent", &key));
#endif
  EXPECT_FALSE(internal::SplitLiteralKey("a.b.c", &key));
  EXPECT_FALSE(internal::SplitLiteralKey(".a", &key));
  EXPECT_FALSE(internal::SplitLiteralKey("a.", &key));
  EXPECT_FALSE(internal::SplitLiteralKey("a..b", &key));
  EXPECT_FALSE(internal::SplitLiteralKey("", &key));
  EXPECT_FALSE(internal::SplitLiteralKey("caf\xc3\xa9", &key));
  EXPECT_FALSE(internal::SplitLiteralKey("x.caf\xc3\xa9", &key));
  char runtime[8] = "r.s";
  EXPECT_FALSE(internal::SplitLiteralKey(runtime, &key));  // not a literal
  // The overloads give the same results either way.
  EventCollector collector;
  {
    Context request("request");
    EXPECT_TRUE(Set("response.status", 200).ok());
    EXPECT_TRUE(Add("counters.hits", 2).ok());
    EXPECT_TRUE(Add("counters.ratio", 0.5).ok());
    EXPECT_TRUE(Set("a.b.c", 1).ok());
    EXPECT_EQ(Set(".a", 1).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Set("response.status.x", 1).code(),
              absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(Set("caf\xc3\xa9", 1).ok());
    EXPECT_TRUE(Set(runtime, 3).ok());
  }
  const std::vector<Event> events = collector.events();
  ASSERT_EQ(events.size(), 1u);
  const Value& body = events[0].body;
  EXPECT_EQ(body.Find("response.status")->AsInt(), 200);
  EXPECT_EQ(body.Find("counters.hits")->AsInt(), 2);
  EXPECT_EQ(body.Find("counters.ratio")->AsDouble(), 0.5);
  EXPECT_EQ(body.Find("a.b.c")->AsInt(), 1);
  EXPECT_EQ(body.Get("caf\xc3\xa9")->AsInt(), 1);
  EXPECT_EQ(body.Find("r.s")->AsInt(), 3);
}

}  // namespace
}  // namespace ziggy
