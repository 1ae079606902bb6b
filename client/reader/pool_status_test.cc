#include "client/reader/pool_status.h"

#include "gtest/gtest.h"

namespace ziggy {
namespace {

Value Daemon(const std::string& log_path, int64_t received, double last,
             double uptime) {
  return Value(Value::Map{
      {"daemon", "ziggyd"},
      {"pid", 42},
      {"uptime", uptime},
      {"log_path", log_path},
      {"last", last},
      {"lag", last / 1000},
      {"received", received},
      {"received_bytes", 2.5 * static_cast<double>(received)},
      {"ports", Value(Value::Map{{"collect", 3514}})},
      {"dropped", Value(Value::Map{{"malformed", 1}})},
      {"events",
       Value(Value::Map{{"request", Value(Value::Map{{"last", last},
                                                     {"count", received}})}})},
  });
}

TEST(SumStatusTest, AddsCountersAndCombinesTimes) {
  const Value a = Daemon("/a", 10, 1000, 50);
  Value b = Daemon("/b", 32, 2000, 20);
  b.MutableMap().emplace_back(
      "events", Value(Value::Map{{"job", Value(Value::Map{{"count", 5}})}}));
  b.MutableMap().emplace_back("relay",
                              Value(Value::Map{{"batches", int64_t{7}}}));
  const Value total = SumStatus({&a, &b});
  EXPECT_EQ(*total.Get("received"), Value(42)) << total.DebugString();
  EXPECT_DOUBLE_EQ(total.Get("received_bytes")->AsDouble(), 105);
  EXPECT_EQ(*total.Find("dropped.malformed"), Value(2));
  EXPECT_EQ(*total.Find("events.request.count"), Value(42));
  EXPECT_EQ(*total.Find("relay.batches"), Value(int64_t{7}));  // only in b
  EXPECT_DOUBLE_EQ(total.Find("events.request.last")->AsDouble(), 2000);
  EXPECT_DOUBLE_EQ(total.Get("last")->AsDouble(), 2000);
  EXPECT_DOUBLE_EQ(total.Get("lag")->AsDouble(), 2);  // the largest
  EXPECT_DOUBLE_EQ(total.Get("uptime")->AsDouble(), 20);
  EXPECT_EQ(*total.Get("daemon"), Value("ziggyd"));  // the same in both
  EXPECT_EQ(total.Get("log_path"), nullptr);         // differs: per daemon
  EXPECT_EQ(total.Get("pid"), nullptr);
  EXPECT_EQ(total.Get("ports"), nullptr);
}

TEST(SumStatusTest, MismatchedKindsAreLeftOutNotCrashed) {
  const Value a(Value::Map{{"x", 1}, {"y", Value(Value::Map{{"z", 1}})}});
  const Value b(Value::Map{{"x", "one"}, {"y", 2}});
  const Value not_a_map(7);
  const Value total = SumStatus({&a, &b, &not_a_map});
  EXPECT_EQ(total.Get("x"), nullptr) << total.DebugString();
  EXPECT_EQ(total.Get("y"), nullptr) << total.DebugString();
  EXPECT_EQ(SumStatus({}), Value(Value::Map{}));
}

TEST(PoolStatusTest, DownDaemonsAreShownDownAndNotSummed) {
  const Value a = Daemon("/a", 10, 1000, 50);
  std::vector<DaemonReply> daemons = {
      {"h:1", a}, {"h:2", absl::UnavailableError("h:2 did not answer")}};
  const Value pool = PoolStatus(daemons);
  EXPECT_EQ(*pool.Find("total.received"), Value(10));
  EXPECT_EQ(*pool.Find("daemons"),
            Value(Value::Map{
                {"h:1", a},
                {"h:2", Value(Value::Map{{"down", true},
                                         {"error", "h:2 did not answer"}})}}));
}

}  // namespace
}  // namespace ziggy
