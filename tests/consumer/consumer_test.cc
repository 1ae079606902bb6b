// Proves that another workspace can depend on @ziggy//client to record
// events and on @ziggy//client/reader to read them back.

#include <string>
#include <vector>

#include "client/format/event.h"
#include "client/glog_sink.h"
#include "client/reader/json.h"
#include "client/ziggy.h"
#include "gtest/gtest.h"

TEST(ConsumerTest, RecordsThroughTheExternalRepository) {
  std::vector<ziggy::Event> events;
  ziggy::Configure([&](const ziggy::Event& e) { events.push_back(e); });
  ziggy::GlogSink sink;
  google::AddLogSink(&sink);
  {
    ziggy::Context request("request");
    ASSERT_TRUE(ziggy::Set("response.status", 200).ok());
    LOG(INFO) << "handled";
  }
  google::RemoveLogSink(&sink);
  ziggy::Shutdown();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "request.log");
  EXPECT_EQ(events[1].type, "request");
  EXPECT_EQ(events[1].body.Find("response.status")->AsInt(), 200);
}

TEST(ConsumerTest, ReadsWhatItRecordedAsJson) {
  std::vector<ziggy::Event> events;
  ziggy::Configure([&](const ziggy::Event& e) { events.push_back(e); });
  {
    ziggy::Context request("request");
    ASSERT_TRUE(ziggy::Set("response.status", 404).ok());
  }
  ziggy::Shutdown();
  ASSERT_EQ(events.size(), 1u);
  std::string json;
  ASSERT_TRUE(ziggy::AppendJson(ziggy::EncodeEvent(events[0]), &json).ok());
  EXPECT_NE(json.find(R"("body":{"response":{"status":404}})"),
            std::string::npos)
      << json;
}
