#include "ctl/ctl.h"

#include <sstream>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

TEST(CtlTest, FormatStatusShowsCountersTypesAndHosts) {
  const Value status(Value::Map{
      {"daemon", "ziggyd"},
      {"host", "web-1"},
      {"pid", 42},
      {"uptime", 3725.0},
      {"last", 1000.0},
      {"lag", 0.25},
      {"received", int64_t{1234567}},
      {"events",
       Value(Value::Map{
           {"request", Value(Value::Map{{"last", 999.0}, {"count", 7}})},
           {"evil\n\x1b[31m",
            Value(Value::Map{{"last", 990.0}, {"count", 1}})}})},
      {"hosts", Value(Value::Map{{"web-1", Value(Value::Map{{"last", 1000.0},
                                                            {"count", 8}})}})},
      {"dropped", Value(Value::Map{{"malformed", 2}, {"no_type", 0}})},
      {"repaired", Value(Value::Map{{"utf8", 3}})},
  });
  const std::string text = FormatStatus(status, 1002.0);
  EXPECT_NE(text.find("ziggyd on web-1 (pid 42), up 1h02m"), std::string::npos)
      << text;
  EXPECT_NE(text.find("1,234,567 events"), std::string::npos) << text;
  EXPECT_NE(text.find("3 with invalid UTF-8 repaired"), std::string::npos)
      << text;
  EXPECT_NE(text.find("lag 0.250s"), std::string::npos) << text;
  EXPECT_NE(text.find("dropped     2 (malformed 2)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("request"), std::string::npos);
  EXPECT_NE(text.find("3.0s ago"), std::string::npos) << text;
  // Hostile names cannot reach the terminal raw.
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("evil\\n\\x1b[31m"), std::string::npos) << text;
  EXPECT_LT(text.find("request"), text.find("evil"));  // most recent first
}

TEST(CtlTest, UsageErrors) {
  std::ostringstream out, err;
  EXPECT_EQ(RunCtl({}, {}, out, err), 1);
  EXPECT_NE(err.str().find("no command"), std::string::npos);
  err.str("");
  EXPECT_EQ(RunCtl({"frobnicate"}, {}, out, err), 1);
  EXPECT_NE(err.str().find("unknown command 'frobnicate'"), std::string::npos);
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace ziggy
