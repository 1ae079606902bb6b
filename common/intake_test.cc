#include "common/intake.h"

#include <bson/bson.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

// The documents AcceptMessage hands on, copied.
std::vector<std::string> Accepted(EventIntake* intake,
                                  absl::string_view message) {
  std::vector<std::string> docs;
  intake->AcceptMessage(message, 10,
                        [&](absl::string_view doc, const EventFields& fields) {
                          EXPECT_FALSE(fields.type.empty());
                          docs.emplace_back(doc);
                        });
  return docs;
}

// Types and hosts taken in turn, by twos and threes: each counted with its
// own count and last receipt time.
TEST(EventIntakeTest, InterleavedTypesAndHostsCountedApart) {
  EventIntake intake(4096);
  const char* const types[] = {"request", "request.sql", "request",
                               "b",       "request.sql", "b",
                               "b",       "request"};
  const char* const hosts[] = {"h1", "h2", "h1", "h1", "h2", "h3", "h2", "h1"};
  for (int i = 0; i < 8; ++i) {
    const std::string event = RawEvent(types[i], hosts[i], "k", "v");
    absl::string_view doc = event;
    EventFields fields;
    ASSERT_TRUE(intake.Accept(&doc, 100 + i, &fields));
    EXPECT_EQ(fields.type, types[i]);
    EXPECT_EQ(fields.host, hosts[i]);
  }
  Value::Map status;
  intake.AppendStatus(&status);
  const Value value(std::move(status));
  auto seen = [&](const char* map, const char* key, const char* field) {
    const Value* entry = value.Find(map)->Get(key);
    return entry == nullptr ? -1.0 : entry->Get(field)->AsDouble();
  };
  EXPECT_EQ(seen("events", "request", "count"), 3);
  EXPECT_EQ(seen("events", "request", "last"), 107);
  EXPECT_EQ(seen("events", "request.sql", "count"), 2);
  EXPECT_EQ(seen("events", "request.sql", "last"), 104);
  EXPECT_EQ(seen("events", "b", "count"), 3);
  EXPECT_EQ(seen("events", "b", "last"), 106);
  EXPECT_EQ(seen("hosts", "h1", "count"), 4);
  EXPECT_EQ(seen("hosts", "h1", "last"), 107);
  EXPECT_EQ(seen("hosts", "h2", "count"), 3);
  EXPECT_EQ(seen("hosts", "h2", "last"), 106);
  EXPECT_EQ(seen("hosts", "h3", "count"), 1);
}

std::vector<std::string> FourEvents() {
  return {RawEvent("a", "h", "k", "v"), RawEvent("b", "h", "k", "vv"),
          RawEvent("c", "h", "key", std::string(300, 'x')),
          RawEvent("d", "host", "k", "")};
}

// Every way of grouping four events into consecutive messages, from one
// message each to one batch of all: every event taken, in order, as sent.
TEST(EventIntakeTest, BatchesAreSplitIntoTheirEvents) {
  const std::vector<std::string> events = FourEvents();
  for (int cuts = 0; cuts < 8; ++cuts) {  // bit i: a message ends after i
    EventIntake intake(4096);
    std::vector<std::string> got;
    std::string message;
    for (size_t i = 0; i < events.size(); ++i) {
      message += events[i];
      if (i + 1 < events.size() && (cuts >> i & 1) == 0) continue;
      for (std::string& doc : Accepted(&intake, message)) {
        got.push_back(std::move(doc));
      }
      message.clear();
    }
    EXPECT_EQ(got, events) << "cuts " << cuts;
    EXPECT_EQ(Status(intake, "received"), 4);
    EXPECT_EQ(Status(intake, "dropped.malformed"), 0);
  }
}

// A batch cut anywhere into two messages: cut between events, everything
// arrives; cut inside one, the first part is dropped whole (one malformed
// drop) and nothing but whole original events is ever taken.
TEST(EventIntakeTest, EveryCutOfABatchTakesOnlyWholeEvents) {
  const std::vector<std::string> events = FourEvents();
  const std::string batch = absl::StrJoin(events, "");
  std::set<size_t> boundaries;
  for (size_t at = 0, i = 0; i < events.size(); at += events[i++].size()) {
    boundaries.insert(at);
  }
  for (size_t cut = 1; cut < batch.size(); ++cut) {
    EventIntake intake(4096);
    const std::vector<std::string> first =
        Accepted(&intake, batch.substr(0, cut));
    const std::vector<std::string> second =
        Accepted(&intake, batch.substr(cut));
    if (boundaries.count(cut) != 0) {
      EXPECT_EQ(first.size() + second.size(), events.size()) << cut;
      EXPECT_EQ(Status(intake, "dropped.malformed"), 0) << cut;
      continue;
    }
    EXPECT_TRUE(first.empty()) << cut;
    EXPECT_GE(Status(intake, "dropped.malformed"), 1) << cut;
    for (const std::string& doc : second) {
      EXPECT_NE(std::find(events.begin(), events.end(), doc), events.end())
          << "a fragment was taken at cut " << cut;
    }
  }
}

// Trailing bytes, a last event longer than what is left, a length below
// five, an empty message: the whole message is dropped, its good events
// with it, and counted once.
TEST(EventIntakeTest, BrokenFramingDropsTheWholeMessage) {
  const std::string good = RawEvent("t", "h", "k", "v");
  const std::string cases[] = {
      good + good + std::string(1, '\x05'),
      good + std::string("\x05\x00\x00\x00", 4),
      good + good.substr(0, good.size() - 1),
      good + std::string("\x04\x00\x00\x00", 4),
      good + std::string("\xff\xff\xff\xff\x00", 5),
      "",
  };
  EventIntake intake(4096);
  for (const std::string& message : cases) {
    EXPECT_TRUE(Accepted(&intake, message).empty())
        << absl::CEscape(message.substr(good.size()));
  }
  EXPECT_EQ(Status(intake, "dropped.malformed"), 6);
  EXPECT_EQ(Status(intake, "received"), 0);
  EXPECT_EQ(Status(intake, "received_bytes"), 0);
}

// In a well-framed batch each event is judged alone: the bad ones are
// dropped and counted by their own reason, the others taken (a repaired
// one as its repaired copy).
TEST(EventIntakeTest, EachEventOfABatchIsJudgedAlone) {
  const std::string good = RawEvent("t", "h", "k", "v");
  const std::string repairable = RawEvent("t", "h", "k", "v\xFF");
  const std::string not_bson("\x0c\x00\x00\x00\x02k\x00\xff\xff\xff\xff\x00",
                             12);
  EventIntake intake(400);
  const std::vector<std::string> got = Accepted(
      &intake, absl::StrCat(good, RawEvent("", "h", "k", "v"),
                            RawEvent("t", "h", "k", std::string(500, 'x')),
                            not_bson, repairable, good));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], good);
  EXPECT_EQ(got[1], RawEvent("t", "h", "k", "v\xEF\xBF\xBD"));
  EXPECT_EQ(got[2], good);
  EXPECT_EQ(Status(intake, "dropped.no_type"), 1);
  EXPECT_EQ(Status(intake, "dropped.oversized"), 1);
  EXPECT_EQ(Status(intake, "dropped.malformed"), 1);
  EXPECT_EQ(Status(intake, "repaired.utf8"), 1);
  EXPECT_EQ(Status(intake, "received"), 3);
}

}  // namespace
}  // namespace ziggy
