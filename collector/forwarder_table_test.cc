#include "collector/forwarder_table.h"

#include "gtest/gtest.h"

namespace ziggy {
namespace {

TEST(ForwarderTableTest, ForgetsTheLeastRecentlyHeardWhenFull) {
  ForwarderTable table(2);
  std::string forgotten;
  table.Add("a", "ta", &forgotten).next = 10;
  table.Add("b", "tb", &forgotten);
  EXPECT_EQ(forgotten, "");
  table.Touch(*table.Find("a"), 5.0);  // b is now the least recent
  ForwarderTable::Entry& c = table.Add("c", "tc", &forgotten);
  EXPECT_EQ(forgotten, "b");
  EXPECT_EQ(c.token, "tc");
  EXPECT_EQ(table.Find("b"), nullptr);
  ASSERT_NE(table.Find("a"), nullptr);
  EXPECT_EQ(table.Find("a")->next, 10);
  EXPECT_EQ(table.Find("a")->last, 5.0);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.forgotten(), 1u);
  std::vector<std::string> recent;
  table.ForEachRecent(
      5, [&](const ForwarderTable::Entry& e) { recent.push_back(e.id); });
  EXPECT_EQ(recent, (std::vector<std::string>{"c", "a"}));
}

TEST(ForwarderTableTest, StaysBoundedUnderAFloodOfIds) {
  ForwarderTable table(1000);
  std::string forgotten;
  for (int i = 0; i < 100000; ++i) {
    table.Add(std::to_string(i), "t", &forgotten);
  }
  EXPECT_EQ(table.size(), 1000u);
  EXPECT_EQ(table.forgotten(), 99000u);
  EXPECT_NE(table.Find("99999"), nullptr);
  EXPECT_EQ(table.Find("0"), nullptr);
}

}  // namespace
}  // namespace ziggy
