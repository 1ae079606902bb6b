#include "client/reader/grouper.h"

#include "gtest/gtest.h"

namespace ziggy {
namespace {

class GrouperTest : public ::testing::Test {
 protected:
  EventGrouper Make(size_t max_open) {
    return EventGrouper(max_open,
                        [this](const EventGroup& g) { groups_.push_back(g); });
  }
  std::vector<EventGroup> groups_;
};

TEST_F(GrouperTest, TheParentClosesItsGroup) {
  EventGrouper grouper = Make(10);
  grouper.Add("a", "request.sql", "sql1");
  grouper.Add("b", "request.sql", "sqlB");
  grouper.Add("a", "request.sql.row", "row1");
  EXPECT_TRUE(groups_.empty());
  grouper.Add("a", "request", "reqA");
  ASSERT_EQ(groups_.size(), 1u);
  EXPECT_EQ(groups_[0].id, "a");
  EXPECT_EQ(groups_[0].parent, "reqA");
  EXPECT_EQ(groups_[0].children, (std::vector<std::string>{"sql1", "row1"}));
  EXPECT_EQ(grouper.open_groups(), 1u);
  grouper.Add("c", "lonely", "lonelyC");  // a parent with no sub-events
  ASSERT_EQ(groups_.size(), 2u);
  EXPECT_TRUE(groups_[1].children.empty());
  grouper.Finish();  // b never saw its parent
  ASSERT_EQ(groups_.size(), 3u);
  EXPECT_EQ(groups_[2].id, "b");
  EXPECT_EQ(groups_[2].parent, "");
  EXPECT_EQ(grouper.open_groups(), 0u);
}

TEST_F(GrouperTest, OldestGroupIsEvictedBeyondMaxOpen) {
  EventGrouper grouper = Make(2);
  grouper.Add("1", "r.s", "s1");
  grouper.Add("2", "r.s", "s2");
  grouper.Add("3", "r.s", "s3");  // evicts 1
  ASSERT_EQ(groups_.size(), 1u);
  EXPECT_EQ(groups_[0].id, "1");
  EXPECT_EQ(groups_[0].parent, "");
  EXPECT_EQ(grouper.evicted(), 1u);
  grouper.Add("1", "r", "late parent");  // its group is gone: emitted alone
  ASSERT_EQ(groups_.size(), 2u);
  EXPECT_TRUE(groups_[1].children.empty());
  grouper.Add("2", "r", "p2");
  EXPECT_EQ(groups_[2].children, std::vector<std::string>{"s2"});
}

}  // namespace
}  // namespace ziggy
