#include "client/glog_sink.h"

#include "client/testing/recorder.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

using ::ziggy::testing::EventCollector;

class GlogSinkTest : public ::testing::Test {
 protected:
  void SetUp() override { google::AddLogSink(&sink_); }
  void TearDown() override { google::RemoveLogSink(&sink_); }
  GlogSink sink_;
};

TEST_F(GlogSinkTest, LogLinesBecomeLogSubEvents) {
  EventCollector collector;
  std::string request_id;
  {
    Context request("request");
    request_id = std::string(request.id());
    LOG(WARNING) << "disk at " << 91 << "%";
  }
  const std::vector<Event> events = collector.events();
  ASSERT_EQ(events.size(), 2u);
  const Event& log = events[0];
  EXPECT_EQ(log.type, "request.log");
  EXPECT_EQ(log.id, request_id);
  EXPECT_EQ(log.body.Find("level")->AsString(), "WARNING");
  EXPECT_EQ(log.body.Find("msg")->AsString(), "disk at 91%");
  EXPECT_EQ(log.body.Find("file")->AsString(), "glog_sink_test.cc");
  EXPECT_GT(log.body.Find("line")->AsInt(), 0);
  EXPECT_FALSE(log.body.Find("name")->AsString().empty());
}

TEST_F(GlogSinkTest, WithoutAContextALineIsATopLevelEvent) {
  EventCollector collector;
  LOG(INFO) << "hello";
  ASSERT_EQ(collector.events().size(), 1u);
  EXPECT_EQ(collector.events()[0].type, "log");
  EXPECT_EQ(collector.events()[0].body.Find("level")->AsString(), "INFO");
}

TEST_F(GlogSinkTest, TypeNameIsConfigurable) {
  GlogSink custom(".applog");
  google::AddLogSink(&custom);
  EventCollector collector;
  {
    Context request("request");
    LOG(ERROR) << "boom";
  }
  google::RemoveLogSink(&custom);
  std::set<std::string> types;
  for (const Event& e : collector.events()) types.insert(e.type);
  EXPECT_EQ(types, (std::set<std::string>{"request", "request.log",
                                          "request.applog"}));
}

TEST_F(GlogSinkTest, UnconfiguredDoesNothing) {
  LOG(INFO) << "nobody listens";
  EXPECT_FALSE(IsConfigured());
}

}  // namespace
}  // namespace ziggy
