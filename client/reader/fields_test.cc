#include "client/reader/fields.h"

#include <string>

#include "client/format/bson_validate.h"
#include "client/format/event.h"
#include "client/reader/json.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

std::string TestEvent() {
  Event e;
  e.id = "abc";
  e.type = "request";
  e.host = "web-1";
  e.end = 2.5;
  e.body = Value(Value::Map{
      {"path", "/x"},
      {"response", Value(Value::Map{{"status", 200}, {"bytes", 512}})},
      {"codes", Value::MakeList({200, 304})},
      {"request_time", 0.25}});
  return EncodeEvent(e);
}

// The JSON of `bson` with only `fields`; fails the test when the list does
// not parse or the result is not a valid document.
std::string Project(const std::string& fields,
                    const std::string& bson = TestEvent()) {
  absl::StatusOr<FieldSelection> selection = FieldSelection::Parse(fields);
  EXPECT_TRUE(selection.ok()) << selection.status();
  if (!selection.ok()) return "";
  std::string projected = "kept:";
  selection->Project(bson, &projected);
  EXPECT_EQ(projected.substr(0, 5), "kept:");
  std::string json;
  EXPECT_TRUE(AppendJson(projected.substr(5), &json).ok());
  return json;
}

TEST(FieldSelectionTest, KeepsTheStructureOfNestedPaths) {
  EXPECT_EQ(Project("type,body.response.status"),
            R"({"type":"request","body":{"response":{"status":200}}})");
}

TEST(FieldSelectionTest, EventOrderWhateverTheListOrder) {
  EXPECT_EQ(Project("body.request_time, end ,type , id"),
            R"({"id":"abc","type":"request","end":2.5,)"
            R"("body":{"request_time":0.25}})");
}

TEST(FieldSelectionTest, MissingPathsAreLeftOut) {
  EXPECT_EQ(Project("type,nope,body.nope,body.path.x,host.x"),
            R"({"type":"request"})");
  EXPECT_EQ(Project("nope"), "{}");
  EXPECT_EQ(Project("body.response.nope"), "{}");
}

TEST(FieldSelectionTest, ADocumentPathKeepsItAll) {
  EXPECT_EQ(Project("body.response"),
            R"({"body":{"response":{"status":200,"bytes":512}}})");
  // An enclosing path wins, in either order.
  EXPECT_EQ(Project("body.response.status,body.response"),
            R"({"body":{"response":{"status":200,"bytes":512}}})");
  EXPECT_EQ(Project("body.response,body.response.status"),
            R"({"body":{"response":{"status":200,"bytes":512}}})");
}

TEST(FieldSelectionTest, ArraysByIndexStayArrays) {
  EXPECT_EQ(Project("body.codes"), R"({"body":{"codes":[200,304]}})");
  EXPECT_EQ(Project("body.codes.1"), R"({"body":{"codes":[304]}})");
}

TEST(FieldSelectionTest, BadListsAreErrors) {
  for (const char* list : {"", "a,,b", "a,", " , a", "a..b", ".a", "a."}) {
    const absl::StatusOr<FieldSelection> s = FieldSelection::Parse(list);
    EXPECT_FALSE(s.ok()) << list;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(FieldSelection::Parse("a,..b").status().message(),
            "empty key in '..b'");
  EXPECT_EQ(FieldSelection::Parse("a,,b").status().message(),
            "empty field name in 'a,,b'");
}

TEST(FieldSelectionTest, DamagedBytesAreNotReadPast) {
  const absl::StatusOr<FieldSelection> s =
      FieldSelection::Parse("type,body.response.status,body.codes");
  ASSERT_TRUE(s.ok());
  const std::string event = TestEvent();
  for (size_t n = 0; n <= event.size(); ++n) {
    std::string out;
    s->Project(event.substr(0, n), &out);
    std::string why;
    EXPECT_TRUE(ValidateDocument(out, kMaxDepth, &why)) << n << ": " << why;
  }
}

}  // namespace
}  // namespace ziggy
