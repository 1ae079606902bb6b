#include "collector/event_writer.h"

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "common/clock.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

std::string Doc(int i) {
  Event e;
  e.type = "t";
  e.body = Value(Value::Map{{"i", i}, {"pad", std::string(200, 'x')}});
  return EncodeEvent(e);
}

// Adds events to *batch until it is full; returns how many.
int FillBatch(EventBatch* batch) {
  int added = 0;
  while (!batch->full()) {
    const std::string doc = Doc(added++);
    // The type's text follows the key "type\0" and its int32 length.
    const size_t type_at = doc.find(std::string("type\0", 5)) + 5 + 4;
    batch->Add(doc, type_at, 1);
  }
  return added;
}

TEST(EventBatchTest, FullAtFullBytes) {
  EventBatch batch;
  const int added = FillBatch(&batch);
  EXPECT_GE(batch.bytes(), EventBatch::kFullBytes);
  EXPECT_LT(batch.bytes() - Doc(added - 1).size(), EventBatch::kFullBytes);
  batch.Clear();
  EXPECT_FALSE(batch.full());
}

// The receive thread fills a batch until full() and submits it: the writer
// must recycle such a batch, buffer and all, or every burst would allocate
// (and fault in) its buffers afresh.
TEST(EventWriterTest, RecyclesAFullBatchWithItsBuffer) {
  StoreOptions options;
  options.root = absl::StrCat(std::getenv("TEST_TMPDIR"), "/recycle");
  CollectorStats stats;
  EventWriter writer(options, &stats, Clock::Real(), absl::Seconds(1));
  std::unique_ptr<EventBatch> batch = writer.NewBatch();
  const int added = FillBatch(batch.get());
  const EventBatch* const filled = batch.get();
  const size_t capacity = batch->capacity();
  writer.Submit(std::move(batch));
  ASSERT_TRUE(writer.Flush(absl::Seconds(30)));
  EXPECT_EQ(stats.written.load(), static_cast<uint64_t>(added));
  std::unique_ptr<EventBatch> again = writer.NewBatch();
  EXPECT_EQ(again.get(), filled);
  EXPECT_EQ(again->capacity(), capacity);
  EXPECT_EQ(again->size(), 0u);
}

// UnwrittenSince(): a batch counts from NewBatch() (which stamps it with
// the clock) until it is written, even once the clock moved days on; with
// nothing pending it is the clock's Now().
TEST(EventWriterTest, UnwrittenSinceCoversABatchFromNewBatchOn) {
  StoreOptions options;
  options.root = absl::StrCat(std::getenv("TEST_TMPDIR"), "/unwritten");
  CollectorStats stats;
  const absl::Time start = absl::FromUnixSeconds(1699999000);
  ManualClock clock(start);
  EventWriter writer(options, &stats, &clock, absl::Milliseconds(10));
  EXPECT_EQ(writer.UnwrittenSince(), start);
  std::unique_ptr<EventBatch> batch = writer.NewBatch();
  EXPECT_EQ(batch->received, start);
  clock.Advance(absl::Hours(48));
  EXPECT_EQ(writer.UnwrittenSince(), start);  // being filled
  FillBatch(batch.get());
  writer.Submit(std::move(batch));
  writer.FillingDone();
  // Queued, being written or waiting for its file: still counted; or
  // already appended (the writer thread may be that quick): the clock.
  const absl::Time since = writer.UnwrittenSince();
  EXPECT_TRUE(since <= start || since == clock.Now()) << since;
  ASSERT_TRUE(writer.Flush(absl::Seconds(30)));
  EXPECT_EQ(writer.UnwrittenSince(), clock.Now());
  // A batch given out and dropped counts until FillingDone().
  writer.NewBatch();
  clock.Advance(absl::Hours(1));
  EXPECT_EQ(writer.UnwrittenSince(), start + absl::Hours(48));
  writer.FillingDone();
  EXPECT_EQ(writer.UnwrittenSince(), clock.Now());
}

}  // namespace
}  // namespace ziggy
