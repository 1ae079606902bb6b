#include "client/internal/flat_fields.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/format/bson_writer.h"
#include "client/format/event.h"
#include "client/internal/body.h"
#include "client/internal/runtime.h"
#include "client/ziggy.h"
#include "gtest/gtest.h"

namespace ziggy::internal {
namespace {

using Call = std::function<absl::Status(Body&)>;

std::string Encode(const Body& body) {
  BsonWriter out;
  const size_t start = out.BeginDocument();
  body.AppendTo(&out);
  out.EndDocument(start);
  return std::string(out.bytes());
}

Call SetCall(std::string path, Value value) {
  return [=](Body& body) { return body.Set(path, value); };
}
Call SetString(std::string path, std::string value) {
  return [=](Body& body) { return body.Set(path, value); };
}
Call SetInt(std::string path, int64_t value) {
  return [=](Body& body) { return body.Set(path, value); };
}
Call AddInt(std::string path, int64_t n) {
  return [=](Body& body) { return body.AddInt(path, n); };
}
Call AddDouble(std::string path, double n) {
  return [=](Body& body) { return body.AddDouble(path, n); };
}
Call AppendInt(std::string path, int64_t value) {
  return [=](Body& body) { return body.Append(path, value); };
}

// Makes every call on a body that starts flat and on one that starts as a
// tree (the encoder before FlatFields): after each call both return the same
// status and encode to the same bytes. Twice, with Clear() between, so
// recycled bodies are covered too.
void ExpectSameAsTree(const std::vector<Call>& calls) {
  Body flat, tree;
  for (int round = 0; round < 2; ++round) {
    flat.Clear();
    tree.Clear();
    tree.UseTreeForTesting();
    for (size_t i = 0; i < calls.size(); ++i) {
      const absl::Status a = calls[i](flat);
      const absl::Status b = calls[i](tree);
      EXPECT_EQ(a, b) << "call " << i;
      ASSERT_EQ(Encode(flat), Encode(tree)) << "call " << i;
    }
  }
}

TEST(FlatFieldsTest, TypicalBodyStaysFlatAndEncodesAsTheTree) {
  FlatFields flat;
  EXPECT_TRUE(flat.Set("user_agent", "Mozilla/5.0 (X11; Linux x86_64)"));
  EXPECT_TRUE(flat.Set("path", "/api/v1/items"));
  EXPECT_TRUE(flat.Set("request_time", 0.0123));
  EXPECT_TRUE(flat.Set("response.status", 200));
  EXPECT_TRUE(flat.Set("response.bytes", int64_t{1} << 40));
  EXPECT_TRUE(flat.Add("counters.cache_hits", true, 1, 1.0));
  EXPECT_TRUE(flat.Add("counters.cache_hits", true, 2, 2.0));
  EXPECT_TRUE(flat.Set("ok", true));
  EXPECT_TRUE(flat.Set("none", nullptr));

  Body tree;
  tree.UseTreeForTesting();
  ASSERT_TRUE(tree.Set("user_agent", "Mozilla/5.0 (X11; Linux x86_64)").ok());
  ASSERT_TRUE(tree.Set("path", "/api/v1/items").ok());
  ASSERT_TRUE(tree.Set("request_time", 0.0123).ok());
  ASSERT_TRUE(tree.Set("response.status", 200).ok());
  ASSERT_TRUE(tree.Set("response.bytes", int64_t{1} << 40).ok());
  ASSERT_TRUE(tree.AddInt("counters.cache_hits", 3).ok());
  ASSERT_TRUE(tree.Set("ok", true).ok());
  ASSERT_TRUE(tree.Set("none", nullptr).ok());
  BsonWriter expected;
  tree.AppendTo(&expected);
  EXPECT_EQ(flat.elements(), expected.bytes());
}

TEST(FlatFieldsTest, RefusesWhatOnlyTheTreeDoes) {
  FlatFields flat;
  const Value list = Value::MakeList({1, 2});
  EXPECT_FALSE(flat.Set("a.b.c", 1));  // three parts
  EXPECT_FALSE(flat.Set("", 1));       // malformed keys
  EXPECT_FALSE(flat.Set(".a", 1));
  EXPECT_FALSE(flat.Set("a.", 1));
  EXPECT_FALSE(flat.Set("a..b", 1));
  EXPECT_FALSE(flat.Set(absl::string_view("a\0b", 3), 1));
  EXPECT_FALSE(flat.Set("caf\xc3\xa9", 1));  // not ASCII
  EXPECT_FALSE(flat.Set("bad", "\xff"));     // not UTF-8
  EXPECT_FALSE(flat.Set("list", list));      // composite
  EXPECT_TRUE(flat.empty());

  ASSERT_TRUE(flat.Set("s", "abc"));
  EXPECT_FALSE(flat.Set("s", "abcd"));  // size changes
  EXPECT_TRUE(flat.Set("s", "xyz"));    // same size: in place
  ASSERT_TRUE(flat.Set("n", 7));
  EXPECT_FALSE(flat.Set("n", int64_t{1} << 40));  // int32 -> int64
  EXPECT_FALSE(flat.Set("n.x", 1));               // through a scalar
  ASSERT_TRUE(flat.Set("m.x", 1));
  EXPECT_FALSE(flat.Set("m", 1));  // a map replaced
  ASSERT_TRUE(flat.Set("last", 1));
  EXPECT_FALSE(flat.Set("m.y", 1));           // m is no longer last
  EXPECT_TRUE(flat.Set("m.x", 2));            // but can change in place
  EXPECT_FALSE(flat.Add("s", true, 1, 1.0));  // not a number
}

TEST(FlatFieldsTest, RefusesTheFieldPastItsCapacity) {
  FlatFields flat;
  for (uint32_t i = 0; i < FlatFields::kMaxEntries; ++i) {
    ASSERT_TRUE(flat.Set(absl::StrCat("k", i), 1)) << i;
  }
  EXPECT_FALSE(flat.Set("one_more", 1));
  EXPECT_TRUE(flat.Set("k3", 5));  // overwriting needs no entry
}

TEST(FlatFieldsTest, VisitGivesEveryFieldInOrder) {
  FlatFields flat;
  ASSERT_TRUE(flat.Set("a", "text"));
  ASSERT_TRUE(flat.Set("m.x", 1.5));
  ASSERT_TRUE(flat.Set("m.y", false));
  std::vector<std::string> seen;
  flat.Visit([&](uint32_t i, const FlatFields::Field& f) {
    seen.push_back(absl::StrCat(i, ":",
                                f.parent == FlatFields::kRoot
                                    ? std::string("root")
                                    : absl::StrCat(f.parent),
                                ":", f.key, f.is_map ? ":map" : ""));
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"0:root:a", "1:root:m:map", "2:1:x",
                                            "3:1:y"}));
}

TEST(FlatToTreeTest, TypicalCalls) {
  ExpectSameAsTree(
      {SetString("user_agent", "Mozilla/5.0"), SetString("path", "/api"),
       SetCall("request_time", 0.25), SetInt("response.status", 200),
       SetInt("response.bytes", 4096), AddInt("counters.cache_hits", 1),
       AddInt("counters.cache_hits", 1)});
}

TEST(FlatToTreeTest, OverwritesKeepFirstInsertionOrder) {
  ExpectSameAsTree({SetInt("a", 1), SetString("b", "xy"), SetInt("a", 2),
                    SetString("b", "zw"), SetString("b", "longer"),
                    SetInt("a", int64_t{1} << 40), SetCall("a", 0.5),
                    SetCall("a", nullptr), SetCall("a", true),
                    SetString("c", "after the move")});
}

TEST(FlatToTreeTest, MapsAndScalarsInEveryOrder) {
  ExpectSameAsTree({SetInt("m.x", 1), SetInt("s", 1), SetInt("m.y", 2),
                    SetInt("m.x", 3), SetInt("s.z", 1), SetInt("m", 4),
                    SetInt("m.w", 5)});
  ExpectSameAsTree({SetInt("m.x", 1), SetInt("m", 2), SetInt("m.x", 3)});
  ExpectSameAsTree({SetInt("s", 1), SetInt("s.x", 2), AddInt("s.y", 1),
                    AppendInt("s.l", 1)});
}

TEST(FlatToTreeTest, DeepKeysAndListIndexesAfterFlatFields) {
  ExpectSameAsTree({SetInt("a", 1), SetInt("m.x", 2), SetInt("m.y.z", 3),
                    AppendInt("l", 1), AppendInt("l", 2), SetInt("l.0", 9),
                    SetInt("l.2", 7), SetInt("l.5", 1), SetInt("m.x", 4)});
  ExpectSameAsTree({SetInt("x", 1), AppendInt("tags", 1), SetInt("y", 2)});
  ExpectSameAsTree({SetCall("v", Value::MakeList({1, "two"})), SetInt("v.1", 2),
                    SetInt("w", 3)});
}

TEST(FlatToTreeTest, AddAcrossIntegerWidthsAndDoubles) {
  ExpectSameAsTree({AddInt("n", INT32_MAX), AddInt("n", 1), AddInt("n", -1),
                    AddInt("big", INT64_MAX), AddInt("big", 1),
                    AddDouble("d", 0.5), AddInt("d", 2), AddInt("i", 2),
                    AddDouble("i", 0.25), AddInt("m.c", 1), AddInt("m.c", 1),
                    SetCall("z", nullptr), AddInt("z", 1), SetString("s", "x"),
                    AddInt("s", 1)});
  ExpectSameAsTree({AddInt("n", -5), AddInt("n", INT32_MIN)});
}

TEST(FlatToTreeTest, MalformedAndUnusualKeysAndValues) {
  ExpectSameAsTree({SetInt("ok", 1), SetInt("", 1), SetInt(".a", 1),
                    SetInt("a.", 1), SetInt("a..b", 1),
                    SetInt(std::string("a\0b", 3), 1), SetInt("caf\xc3\xa9", 1),
                    SetString("bad", "\xff\xfe"),
                    SetString("nul", std::string("a\0b", 3)),
                    SetInt("key\xff", 2), SetInt("after", 3)});
  ExpectSameAsTree({SetString("bad", "\xe2\x82"), SetInt("x", 1)});
}

TEST(FlatToTreeTest, MoreFieldsThanFlatHolds) {
  std::vector<Call> calls;
  for (uint32_t i = 0; i < FlatFields::kMaxEntries + 4; ++i) {
    calls.push_back(SetInt(absl::StrCat(i % 2 ? "m." : "k", i), i));
  }
  calls.push_back(SetInt("k0", 100));
  ExpectSameAsTree(calls);
}

TEST(FlatToTreeTest, KeysOfEveryLengthAndDotPosition) {
  // Every key length across the word boundaries of the key scan, with a
  // dot (or '/', which the scan may flag after a dot) at every position.
  for (size_t n = 1; n <= 24; ++n) {
    std::vector<Call> calls;
    const std::string plain(n, 'k');
    calls.push_back(SetInt(plain, 1));
    for (size_t dot = 0; dot < n; ++dot) {
      for (char c : {'.', '/'}) {
        std::string key = plain;
        key[dot] = c;
        calls.push_back(SetInt(key, static_cast<int64_t>(dot)));
        if (dot + 1 < n) {
          key[dot + 1] = '/';
          calls.push_back(SetInt(key, 2));
        }
      }
    }
    ExpectSameAsTree(calls);
  }
}

TEST(FlatToTreeTest, StringsOfEveryLength) {
  std::vector<Call> calls;
  for (size_t n = 0; n <= 40; ++n) {
    calls.push_back(SetString(absl::StrCat("s", n % 7), std::string(n, 'v')));
  }
  ExpectSameAsTree(calls);
}

// Keeps the encoded events, as the transport would receive them.
class CapturingSink final : public EventSink {
 public:
  explicit CapturingSink(std::vector<std::string>* events) : events_(events) {}
  void Record(absl::string_view bson) override { events_->emplace_back(bson); }

 private:
  std::vector<std::string>* events_;
};

// The typical request of benchmarks/typical_request.h, and a few calls
// that leave the flat fields, through the public API.
void RecordThroughTheApi() {
  Context request("request");
  Set("user_agent", "Mozilla/5.0 (X11; Linux x86_64)");
  Set("path", "/api/v1/items");
  {
    Context sql(".sql");
    Set("query", "select * from items where id = ?");
    Set("rows", 1);
  }
  Set("response.status", 200);
  Set("response.bytes", int64_t{1} << 35);
  Add("counters.cache_hits", 1);
  Context moved("moved");
  Set("a", 1);
  Append("tags", "x");
  Set("a", "now a string");
  // Not valid UTF-8: the header is repaired by the general encoder.
  Context odd("odd\xff", ContextOptions{"id\xfe", {}});
  Set("x", 1);
}

// What the same calls encode to through the tree and EncodeEventTo, the
// encoder before FlatFields, with the header values of `event`.
std::string TreeEncoding(const std::string& event) {
  absl::StatusOr<Event> decoded = DecodeEvent(event);
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  Body body;
  body.UseTreeForTesting();
  if (decoded->type == "request") {
    (void)body.Set("user_agent", "Mozilla/5.0 (X11; Linux x86_64)");
    (void)body.Set("path", "/api/v1/items");
    (void)body.Set("response.status", 200);
    (void)body.Set("response.bytes", int64_t{1} << 35);
    (void)body.AddInt("counters.cache_hits", 1);
  } else if (decoded->type == "request.sql") {
    (void)body.Set("query", "select * from items where id = ?");
    (void)body.Set("rows", 1);
  } else if (decoded->type == "moved") {
    (void)body.Set("a", 1);
    (void)body.Append("tags", "x");
    (void)body.Set("a", "now a string");
  } else {
    (void)body.Set("x", 1);
  }
  BsonWriter out;
  EncodeEventTo(&out,
                {decoded->id, decoded->type, decoded->host, decoded->pid,
                 decoded->start, decoded->end},
                [&](BsonWriter* b) { body.AppendTo(b); });
  return std::string(out.bytes());
}

TEST(EventBytesTest, EventsThroughContextAreTheTreesBytes) {
  std::vector<std::string> events;
  InstallSink(std::make_unique<CapturingSink>(&events));
  for (int i = 0; i < 3; ++i) RecordThroughTheApi();  // recycled bodies too
  InstallSink(nullptr);
  ASSERT_EQ(events.size(), 12u);
  for (const std::string& event : events) {
    EXPECT_EQ(event, TreeEncoding(event));
  }
}

// String values of every length across the inline copies (up to 16, 32
// and 64 bytes) and past them, at the top level and in a map.
TEST(FlatToTreeTest, StringsOfEveryLengthAroundTheInlineCopies) {
  for (size_t n = 0; n <= 80; ++n) {
    std::string value(n, '\0');
    for (size_t i = 0; i < n; ++i) value[i] = static_cast<char>('a' + i % 26);
    ExpectSameAsTree(
        {SetString("s", value), SetString("m.t", value), SetInt("after", 1)});
  }
}

// Keys split beforehand (SetParts, AddParts) give the bytes and answers
// that the same keys give to Set and Add.
TEST(FlatFieldsTest, PartsAreTheSameAsTheWholeKey) {
  FlatFields whole, parts;
  EXPECT_TRUE(whole.Set("user_agent", "Mozilla/5.0 (X11; Linux x86_64)"));
  EXPECT_TRUE(
      parts.SetParts("user_agent", "", "Mozilla/5.0 (X11; Linux x86_64)"));
  EXPECT_TRUE(whole.Set("response.status", 200));
  EXPECT_TRUE(parts.SetParts("response", "status", 200));
  EXPECT_TRUE(whole.Set("response.bytes", int64_t{1} << 40));
  EXPECT_TRUE(parts.SetParts("response", "bytes", int64_t{1} << 40));
  EXPECT_TRUE(whole.Add("counters.cache_hits", true, 1, 1.0));
  EXPECT_TRUE(parts.AddParts("counters", "cache_hits", true, 1, 1.0));
  EXPECT_TRUE(whole.Add("counters.cache_hits", true, 2, 2.0));
  EXPECT_TRUE(parts.AddParts("counters", "cache_hits", true, 2, 2.0));
  EXPECT_TRUE(whole.Set("user_agent", std::string(31, 'c')));  // same size
  EXPECT_TRUE(parts.SetParts("user_agent", "", std::string(31, 'c')));
  EXPECT_EQ(parts.elements(), whole.elements());
  // What Set refuses, SetParts refuses: a step through a scalar, a new
  // field in a map that is not last, an overwrite of another size.
  EXPECT_FALSE(whole.Set("user_agent.x", 1));
  EXPECT_FALSE(parts.SetParts("user_agent", "x", 1));
  EXPECT_FALSE(whole.Set("response.new", 1));
  EXPECT_FALSE(parts.SetParts("response", "new", 1));
  EXPECT_FALSE(whole.Set("response.status", "text"));
  EXPECT_FALSE(parts.SetParts("response", "status", "text"));
  EXPECT_FALSE(whole.Add("user_agent", true, 1, 1.0));
  EXPECT_FALSE(parts.AddParts("user_agent", "", true, 1, 1.0));
  EXPECT_EQ(parts.elements(), whole.elements());
}

}  // namespace
}  // namespace ziggy::internal
