#include "common/intake.h"

#include <bson/bson.h>

#include <string>

#include "client/format/event.h"
#include "client/testing/bson_buffer.h"
#include "client/testing/strict_bson.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

using ::ziggy::testing::StrictlyValid;

// An event built with libbson, which writes text as given.
std::string RawEvent(const std::string& type, const std::string& host,
                     const std::string& key, const std::string& value) {
  testing::BsonBuffer doc;
  BSON_APPEND_UTF8(doc.get(), "type", type.c_str());
  BSON_APPEND_UTF8(doc.get(), "host", host.c_str());
  BSON_APPEND_DOUBLE(doc.get(), "end", 5.0);
  bson_t body;
  BSON_APPEND_DOCUMENT_BEGIN(doc.get(), "body", &body);
  BSON_APPEND_UTF8(&body, key.c_str(), value.c_str());
  bson_append_document_end(doc.get(), &body);
  return std::string(doc.bytes());
}

int64_t Status(const EventIntake& intake, absl::string_view path) {
  Value::Map status;
  intake.AppendStatus(&status);
  const Value value(std::move(status));
  const Value* v = value.Find(path);
  return v == nullptr ? -1 : v->AsInt();
}

TEST(EventIntakeTest, ValidEventIsTakenAsItCame) {
  EventIntake intake(4096);
  const std::string event = RawEvent("caf\xC3\xA9", "h", "k", "v");
  absl::string_view doc = event;
  EventFields fields;
  ASSERT_TRUE(intake.Accept(&doc, 10, &fields));
  EXPECT_EQ(doc.data(), event.data());
  EXPECT_EQ(doc.size(), event.size());
  EXPECT_EQ(fields.type, "caf\xC3\xA9");
  EXPECT_EQ(Status(intake, "repaired.utf8"), 0);
}

// The repaired copy replaces the event: fields point into it, STATUS names
// and counts it, and strict readers accept both.
TEST(EventIntakeTest, InvalidUtf8IsRepairedAndCounted) {
  EventIntake intake(4096);
  const std::string event =
      RawEvent("t\xFF", "h\xE2\x82", "k\xC0", "v\xED\xA0\x80");
  ASSERT_FALSE(StrictlyValid(event));
  absl::string_view doc = event;
  EventFields fields;
  ASSERT_TRUE(intake.Accept(&doc, 10, &fields));
  EXPECT_EQ(std::string(doc),
            RawEvent("t\xEF\xBF\xBD", "h\xEF\xBF\xBD", "k\xEF\xBF\xBD",
                     "v\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
  EXPECT_TRUE(StrictlyValid(doc));
  EXPECT_EQ(fields.type, "t\xEF\xBF\xBD");
  EXPECT_EQ(fields.host, "h\xEF\xBF\xBD");
  EXPECT_EQ(fields.end, 5.0);
  EXPECT_GE(fields.type.data(), doc.data());
  EXPECT_LT(fields.type.data(), doc.data() + doc.size());

  Value::Map status;
  intake.AppendStatus(&status);
  const std::string reply = EncodeDocument(Value(std::move(status)));
  EXPECT_TRUE(StrictlyValid(reply));
  const Value decoded = *DecodeDocument(reply);
  EXPECT_NE(decoded.Find("events")->Get("t\xEF\xBF\xBD"), nullptr);
  EXPECT_NE(decoded.Find("hosts")->Get("h\xEF\xBF\xBD"), nullptr);
  EXPECT_EQ(decoded.Find("repaired.utf8")->AsInt(), 1);
  EXPECT_EQ(decoded.Find("received")->AsInt(), 1);
  EXPECT_EQ(decoded.Find("received_bytes")->AsInt(),
            static_cast<int64_t>(event.size()));
}

// An event under the limit whose repair takes it over is dropped as
// oversized; one that fits after repair is kept.
TEST(EventIntakeTest, RepairedEventOverTheLimitIsOversized) {
  const std::string event = RawEvent("t", "h", "k", std::string(100, '\xFF'));
  const std::string repaired = RawEvent("t", "h", "k", [] {
    std::string r;
    for (int i = 0; i < 100; ++i) r += "\xEF\xBF\xBD";
    return r;
  }());
  EventFields fields;
  {
    EventIntake intake(repaired.size() - 1);
    absl::string_view doc = event;
    EXPECT_FALSE(intake.Accept(&doc, 10, &fields));
    EXPECT_EQ(Status(intake, "dropped.oversized"), 1);
    EXPECT_EQ(Status(intake, "repaired.utf8"), 0);
    EXPECT_EQ(Status(intake, "received"), 0);
  }
  EventIntake intake(repaired.size());
  absl::string_view doc = event;
  EXPECT_TRUE(intake.Accept(&doc, 10, &fields));
  EXPECT_EQ(doc, repaired);
}

// Malformed or typeless events are dropped as before, never repaired.
TEST(EventIntakeTest, DropsComeBeforeRepair) {
  EventIntake intake(4096);
  std::string event = RawEvent("t\xFF", "h", "k", "v");
  event.pop_back();
  absl::string_view doc = event;
  EventFields fields;
  EXPECT_FALSE(intake.Accept(&doc, 10, &fields));
  const std::string empty_type = RawEvent("", "h\xFF", "k", "v");
  doc = empty_type;
  EXPECT_FALSE(intake.Accept(&doc, 10, &fields));
  EXPECT_EQ(Status(intake, "dropped.malformed"), 1);
  EXPECT_EQ(Status(intake, "dropped.no_type"), 1);
  EXPECT_EQ(Status(intake, "repaired.utf8"), 0);
}

}  // namespace
}  // namespace ziggy
