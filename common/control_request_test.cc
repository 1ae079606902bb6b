// "Seed" in test names: the original Python Ziggy, whose wire and file
// formats we keep; its ziggyctl and ziggyview must still be answered.

#include "common/control_request.h"

#include "client/format/event.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

TEST(ControlRequestTest, BsonRequest) {
  const std::string bytes = EncodeDocument(
      Value(Value::Map{{"command", "status"}, {"verbose", true}}));
  absl::StatusOr<ControlRequest> request = ParseControlRequest(bytes);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->command, "STATUS");
  EXPECT_TRUE(request->args.Find("verbose")->AsBool());
}

TEST(ControlRequestTest, SeedToolsCmdKey) {
  // Exactly what the original Python ziggyctl sends: {cmd: "STATUS"}.
  const std::string bytes =
      EncodeDocument(Value(Value::Map{{"cmd", "STATUS"}}));
  absl::StatusOr<ControlRequest> request = ParseControlRequest(bytes);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->command, "STATUS");
  EXPECT_EQ(ParseControlRequest(
                EncodeDocument(Value(Value::Map{{"cmd", "sock_stream"}})))
                ->command,
            "SOCK_STREAM");
}

TEST(ControlRequestTest, SeedStyleText) {
  EXPECT_EQ(ParseControlRequest("SHUTDOWN")->command, "SHUTDOWN");
  EXPECT_EQ(ParseControlRequest("status\n")->command, "STATUS");
}

TEST(ControlRequestTest, Garbage) {
  EXPECT_FALSE(ParseControlRequest("").ok());
  EXPECT_FALSE(ParseControlRequest("two words").ok());
  EXPECT_FALSE(ParseControlRequest(std::string("\x05\0\0\0\0", 5)).ok());
  EXPECT_FALSE(
      ParseControlRequest(EncodeDocument(Value(Value::Map{{"command", 5}})))
          .ok());
  absl::StatusOr<Value> reply = DecodeDocument(ErrorReply("nope"));
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->Find("error")->AsString(), "nope");
}

}  // namespace
}  // namespace ziggy
