#include "collector/relay_state.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "common/durable_file.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

std::string Root(const std::string& name) {
  const std::string root = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  mkdir(root.c_str(), 0755);
  return root;
}

off_t Size(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

Value Snapshot(const std::string& root) {
  return *DecodeDocument(ReadFileOrEmpty(root + "/" + RelayState::kFileName));
}

TEST(RelayStateTest, NothingToRecoverWithoutForwarders) {
  CollectorStats stats;
  auto state = RelayState::Recover(Root("empty"), &stats);
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE((*state)->active());
  EXPECT_TRUE((*state)->forwarders().empty());
}

// Writes 10 bytes to `file` and checkpoints them with forwarder "fwd"
// acknowledged up to 42; returns the state that did (relay active), or
// null after a test failure.
std::unique_ptr<RelayState> CheckpointTenBytes(const std::string& root,
                                               const std::string& file,
                                               CollectorStats* stats) {
  std::ofstream(file, std::ios::binary) << "0123456789";
  auto state = RelayState::Recover(root, stats);
  if (!state.ok()) {
    ADD_FAILURE() << state.status();
    return nullptr;
  }
  (*state)->FileOpened(file, 10);
  (*state)->AddAcks({{"identity", "fwd", 42, ""}});
  std::vector<RelayAck> acked;
  EXPECT_TRUE((*state)->Commit({{file, 10}}, &acked).ok());
  EXPECT_EQ(acked.size(), 1u);
  if (!acked.empty()) {
    EXPECT_EQ(acked[0].end, 42);
  }
  EXPECT_FALSE((*state)->has_pending_acks());
  return *std::move(state);
}

TEST(RelayStateTest, RollsBackWhatWasWrittenAfterTheLastCheckpoint) {
  const std::string root = Root("rollback");
  const std::string file = root + "/a.log";
  CollectorStats stats;
  ASSERT_NE(CheckpointTenBytes(root, file, &stats), nullptr);
  // Written after the checkpoint, never acknowledged; then a crash.
  std::ofstream(file, std::ios::binary | std::ios::app) << "unacked";
  auto state = RelayState::Recover(root, &stats);
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE((*state)->active());
  EXPECT_EQ((*state)->forwarders().at("fwd").next, 42);
  EXPECT_EQ(Size(file), 10);
  EXPECT_EQ(stats.rolled_back_bytes.load(), 7u);
}

// A file closed (evicted, rotated) with events no checkpoint covers yet,
// then another file opened, which writes a snapshot before the next
// checkpoint: that snapshot must keep the closed file's checkpointed
// length, or a crash would keep events their forwarder will resend.
TEST(RelayStateTest, AFileClosedBeforeItsCheckpointStaysRolledBack) {
  const std::string root = Root("closed");
  const std::string file = root + "/a.log";
  CollectorStats stats;
  std::unique_ptr<RelayState> state = CheckpointTenBytes(root, file, &stats);
  ASSERT_NE(state, nullptr);
  std::ofstream(file, std::ios::binary | std::ios::app) << "unacked";
  state->FileClosed(file, 17);
  state->FileOpened(root + "/b.log", 0);
  // A crash before the checkpoint that would have acknowledged them.
  auto recovered = RelayState::Recover(root, &stats);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ((*recovered)->forwarders().at("fwd").next, 42);
  EXPECT_EQ(Size(file), 10);
}

// Once checkpointed, a closed file keeps its whole length, and reopening it
// (before or after that checkpoint) never cuts what was acknowledged.
TEST(RelayStateTest, AClosedFileIsCheckpointedWhole) {
  const std::string root = Root("closed_whole");
  const std::string file = root + "/a.log";
  CollectorStats stats;
  std::unique_ptr<RelayState> state = CheckpointTenBytes(root, file, &stats);
  ASSERT_NE(state, nullptr);
  std::ofstream(file, std::ios::binary | std::ios::app) << "acked";
  state->FileClosed(file, 15);
  state->FileOpened(file, 15);  // reopened before the checkpoint
  state->AddAcks({{"identity", "fwd", 50, ""}});
  std::vector<RelayAck> acked;
  ASSERT_TRUE(state->Commit({}, &acked).ok());
  auto recovered = RelayState::Recover(root, &stats);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ((*recovered)->forwarders().at("fwd").next, 50);
  EXPECT_EQ(Size(file), 15);
}

// A file reopened (after an idle close whose sync failed, a repair, an
// eviction) may hold events no checkpoint covers: reopening it must not
// record them as checkpointed.
TEST(RelayStateTest, ReopeningAFileNeverRaisesItsCheckpointedLength) {
  const std::string root = Root("reopen");
  const std::string file = root + "/a.log";
  CollectorStats stats;
  {
    std::unique_ptr<RelayState> state = CheckpointTenBytes(root, file, &stats);
    ASSERT_NE(state, nullptr);
    std::ofstream(file, std::ios::binary | std::ios::app) << "unacked";
    state->FileOpened(file, 17);  // writes a snapshot: relay is active
  }
  auto state = RelayState::Recover(root, &stats);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ((*state)->forwarders().at("fwd").next, 42);
  EXPECT_EQ(Size(file), 10);
}

TEST(RelayStateTest, ClosedFilesLeaveTheSnapshotAfterOneCheckpoint) {
  const std::string root = Root("prune");
  CollectorStats stats;
  auto state = RelayState::Recover(root, &stats);
  ASSERT_TRUE(state.ok());
  (*state)->AddAcks({{"identity", "fwd", 1, ""}});
  (*state)->FileOpened(root + "/open.log", 0);
  (*state)->FileOpened(root + "/closed.log", 0);
  (*state)->FileClosed(root + "/closed.log", 5);
  std::vector<RelayAck> acked;
  ASSERT_TRUE((*state)->Commit({{root + "/open.log", 3}}, &acked).ok());
  Value snapshot = Snapshot(root);
  const Value* files = snapshot.Get("files");
  ASSERT_NE(files, nullptr);
  EXPECT_EQ(files->Get("closed.log")->AsInt(), 5);
  EXPECT_EQ(files->Get("open.log")->AsInt(), 3);
  (*state)->AddAcks({{"identity", "fwd", 2, ""}});
  ASSERT_TRUE((*state)->Commit({{root + "/open.log", 4}}, &acked).ok());
  snapshot = Snapshot(root);
  files = snapshot.Get("files");
  EXPECT_EQ(files->Get("closed.log"), nullptr);
  EXPECT_EQ(files->Get("open.log")->AsInt(), 4);
}

// Before any forwarder, files that come and go leave nothing behind: the
// first snapshot holds only the files open then.
TEST(RelayStateTest, FilesClosedBeforeAnyForwarderAreForgotten) {
  const std::string root = Root("inactive");
  CollectorStats stats;
  auto state = RelayState::Recover(root, &stats);
  ASSERT_TRUE(state.ok());
  for (int i = 0; i < 3; ++i) {
    const std::string file = absl::StrCat(root, "/gone-", i, ".log");
    (*state)->FileOpened(file, 0);
    (*state)->FileClosed(file, 7);
  }
  (*state)->FileOpened(root + "/kept.log", 2);
  (*state)->AddAcks({{"identity", "fwd", 1, ""}});
  (*state)->FileOpened(root + "/new.log", 0);  // writes a snapshot
  Value snapshot = Snapshot(root);
  const Value* files = snapshot.Get("files");
  ASSERT_NE(files, nullptr);
  ASSERT_EQ(files->kind(), Value::Kind::kMap);
  EXPECT_EQ(files->AsMap().size(), 2u) << snapshot.DebugString();
  EXPECT_EQ(files->Get("kept.log")->AsInt(), 2);
  EXPECT_EQ(files->Get("new.log")->AsInt(), 0);
}

TEST(RelayStateTest, KeepsEachForwardersTokenAndForgetsWhatItIsTold) {
  const std::string root = Root("tokens");
  CollectorStats stats;
  {
    auto state = RelayState::Recover(root, &stats);
    ASSERT_TRUE(state.ok());
    (*state)->AddAcks(
        {{"identity", "a", 7, "00112233445566778899aabbccddeeff"},
         {"identity", "b", 9, "ffeeddccbbaa99887766554433221100"}});
    std::vector<RelayAck> acked;
    ASSERT_TRUE((*state)->Commit({}, &acked).ok());
    (*state)->Forget({"b"});
    ASSERT_TRUE((*state)->Commit({}, &acked).ok());
  }
  auto state = RelayState::Recover(root, &stats);
  ASSERT_TRUE(state.ok());
  ASSERT_EQ((*state)->forwarders().size(), 1u);
  EXPECT_EQ((*state)->forwarders().at("a").next, 7);
  EXPECT_EQ((*state)->forwarders().at("a").token,
            "00112233445566778899aabbccddeeff");
}

// A checkpoint that cannot be written leaves the marks as they were: the
// snapshot a newly opened file writes next holds the old lengths, and with
// the new marks beside them a crash would roll the events back while the
// forwarder's resend of them was taken for duplicates.
TEST(RelayStateTest, AFailedCheckpointLeavesTheMarksForTheNextSnapshot) {
  const std::string root = Root("failed_checkpoint");
  const std::string file = root + "/a.log";
  CollectorStats stats;
  std::unique_ptr<RelayState> state = CheckpointTenBytes(root, file, &stats);
  ASSERT_NE(state, nullptr);
  std::ofstream(file, std::ios::binary | std::ios::app) << "abcdefghij";
  // The snapshot's temporary name is a directory: its write fails.
  const std::string tmp =
      absl::StrCat(root, "/", RelayState::kFileName, ".tmp");
  ASSERT_EQ(mkdir(tmp.c_str(), 0755), 0);
  state->AddAcks({{"identity", "fwd", 50, ""}, {"identity", "new", 7, ""}});
  std::vector<RelayAck> acked;
  EXPECT_FALSE(state->Commit({{file, 20}}, &acked).ok());
  EXPECT_TRUE(acked.empty());
  EXPECT_TRUE(state->has_pending_acks());
  EXPECT_EQ(state->forwarders().at("fwd").next, 42);
  EXPECT_EQ(state->forwarders().count("new"), 0u);

  ASSERT_EQ(rmdir(tmp.c_str()), 0);  // the disk takes writes again
  state->FileOpened(root + "/b.log", 0);
  state.reset();  // a crash
  auto after = RelayState::Recover(root, &stats);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(Size(file), 10);  // rolled back to the last checkpoint
  EXPECT_EQ((*after)->forwarders().at("fwd").next, 42);  // resent: kept
  EXPECT_EQ((*after)->forwarders().count("new"), 0u);
}

TEST(RelayStateTest, ReadsSnapshotsFromBeforeTokens) {
  const std::string root = Root("old");
  ASSERT_TRUE(
      ReplaceFileDurably(root, RelayState::kFileName,
                         EncodeDocument(Value(Value::Map{
                             {"forwarders", Value(Value::Map{{"old", 12}})},
                             {"files", Value::MakeMap()}})))
          .ok());
  CollectorStats stats;
  auto state = RelayState::Recover(root, &stats);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ((*state)->forwarders().at("old").next, 12);
  EXPECT_EQ((*state)->forwarders().at("old").token, "");
}

// A NATS ack (nats_sequence > 0) moves no forwarder's mark; a checkpoint
// records it, with its reply subject, until NATS confirms it (as often as
// it was acked) with its ack timer's latest start, and a restart recovers
// it for a re-ack.
TEST(RelayStateTest, RecordsNatsAcksUntilConfirmedAndRecoversThem) {
  const std::string root = Root("nats");
  const std::string file = root + "/a.log";
  CollectorStats stats;
  std::unique_ptr<RelayState> state = CheckpointTenBytes(root, file, &stats);
  ASSERT_NE(state, nullptr);
  state->AddAcks({{"$JS.ACK.a", "fwd", 99, "", 7},
                  {"$JS.ACK.b", "other", 5, "", 8, 1000.5, "other:0-5"},
                  {"$JS.ACK.c", "other", 5, "", 8, 1001, "other:0-5"}});
  std::vector<RelayAck> acked;
  ASSERT_TRUE(state->Commit({{file, 10}}, &acked).ok());
  EXPECT_EQ(acked.size(), 3u);
  EXPECT_EQ(state->forwarders().at("fwd").next, 42);
  EXPECT_EQ(state->forwarders().count("other"), 0u);
  EXPECT_EQ(state->nats_unconfirmed(), 2u);
  const Value snapshot = Snapshot(root);
  const Value* acks = snapshot.Find("nats.acks");
  ASSERT_NE(acks, nullptr);
  EXPECT_EQ(acks->AsList().size(), 2u);
  EXPECT_NE(snapshot.Find("nats.time"), nullptr);

  // 7 confirmed, 8 once of twice: the next snapshot keeps 8 alone, with
  // the in-progress signal NATS answered since.
  state->NatsAckTimerRestarted(8, 1500);
  state->NatsAckTimerRestarted(9, 1500);  // owes no ack: nothing recorded
  state->NatsAckConfirmed(7);
  state->NatsAckConfirmed(8);
  ASSERT_TRUE(state->Commit({{file, 10}}, &acked).ok());
  EXPECT_EQ(state->nats_unconfirmed(), 1u);
  state.reset();  // a crash
  auto after = RelayState::Recover(root, &stats);
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ((*after)->recovered_nats_acks().size(), 1u);
  EXPECT_EQ((*after)->recovered_nats_acks()[0].sequence, 8u);
  EXPECT_EQ((*after)->recovered_nats_acks()[0].reply, "$JS.ACK.c");
  EXPECT_EQ((*after)->recovered_nats_acks()[0].timer_start, 1500);
  EXPECT_EQ((*after)->recovered_nats_acks()[0].batch, "other:0-5");
  EXPECT_GT((*after)->recovered_nats_time(), 0);
  EXPECT_EQ((*after)->forwarders().at("fwd").next, 42);
  // Recovered acks stay in snapshots until confirmed.
  EXPECT_EQ((*after)->nats_unconfirmed(), 1u);
  (*after)->NatsAckConfirmed(8);
  ASSERT_TRUE((*after)->Commit({}, &acked).ok());
  EXPECT_EQ(Snapshot(root).Get("nats"), nullptr);
}

TEST(RelayStateTest, AFailedCheckpointRecordsNoNatsAck) {
  const std::string root = Root("nats_failed");
  const std::string file = root + "/a.log";
  CollectorStats stats;
  std::unique_ptr<RelayState> state = CheckpointTenBytes(root, file, &stats);
  ASSERT_NE(state, nullptr);
  const std::string tmp =
      absl::StrCat(root, "/", RelayState::kFileName, ".tmp");
  ASSERT_EQ(mkdir(tmp.c_str(), 0755), 0);
  state->AddAcks({{"$JS.ACK.a", "fwd", 99, "", 7}});
  std::vector<RelayAck> acked;
  EXPECT_FALSE(state->Commit({{file, 10}}, &acked).ok());
  EXPECT_TRUE(acked.empty());
  EXPECT_EQ(state->nats_unconfirmed(), 0u);
  ASSERT_EQ(rmdir(tmp.c_str()), 0);
  ASSERT_TRUE(state->Commit({{file, 10}}, &acked).ok());
  EXPECT_EQ(acked.size(), 1u);
  EXPECT_EQ(state->nats_unconfirmed(), 1u);
}

TEST(RelayStateTest, SnapshotsWithoutNatsAcksOrWithBrokenOnesLoad) {
  const std::string root = Root("nats_broken");
  ASSERT_TRUE(
      ReplaceFileDurably(
          root, RelayState::kFileName,
          EncodeDocument(Value(Value::Map{
              {"forwarders", Value::MakeMap()},
              {"files", Value::MakeMap()},
              {"nats",
               Value(Value::Map{
                   {"time", "yesterday"},
                   {"acks",
                    Value::MakeList(
                        {Value(1), Value(Value::Map{{"seq", -3}}),
                         Value(Value::Map{{"seq", 4}, {"reply", "r"}})})}})}})))
          .ok());
  CollectorStats stats;
  auto state = RelayState::Recover(root, &stats);
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ((*state)->recovered_nats_acks().size(), 1u);
  EXPECT_EQ((*state)->recovered_nats_acks()[0].sequence, 4u);
  EXPECT_EQ((*state)->recovered_nats_time(), 0);
  // The snapshots of before have none.
  const std::string old_root = Root("nats_none");
  ASSERT_TRUE(ReplaceFileDurably(old_root, RelayState::kFileName,
                                 EncodeDocument(Value(Value::Map{
                                     {"forwarders", Value::MakeMap()},
                                     {"files", Value::MakeMap()}})))
                  .ok());
  auto old = RelayState::Recover(old_root, &stats);
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE((*old)->recovered_nats_acks().empty());
  EXPECT_EQ((*old)->nats_unconfirmed(), 0u);
}

// The storage lifecycle asks Names() before it compresses or removes a
// file: a file is named while a snapshot on disk could roll it back, and
// no longer once a snapshot without it replaced that one.
TEST(RelayStateTest, NamesTheFilesTheSnapshotOnDiskHolds) {
  CollectorStats stats;
  const std::string root = Root("names");
  const std::string file = root + "/20231114/t-20231114.log";
  mkdir((root + "/20231114").c_str(), 0755);
  std::unique_ptr<RelayState> state = CheckpointTenBytes(root, file, &stats);
  ASSERT_NE(state, nullptr);
  EXPECT_TRUE(state->Names(file));
  EXPECT_FALSE(state->Names(root + "/20231114/other-20231114.log"));
  state->FileClosed(file, 10);
  std::vector<RelayAck> acked;
  ASSERT_TRUE(state->Commit({}, &acked).ok());  // records its final length
  EXPECT_TRUE(state->Names(file));
  ASSERT_TRUE(state->Commit({}, &acked).ok());  // and then leaves it out
  EXPECT_FALSE(state->Names(file));
}

// A file the snapshot names that is gone (removed by retention, or
// compressed to .zst by an older run) is no reason to fail recovery.
TEST(RelayStateTest, RecoveryWithANamedFileGone) {
  CollectorStats stats;
  const std::string root = Root("named_gone");
  const std::string file = root + "/t.log";
  ASSERT_NE(CheckpointTenBytes(root, file, &stats), nullptr);
  ASSERT_EQ(std::rename(file.c_str(), (file + ".zst").c_str()), 0);
  auto state = RelayState::Recover(root, &stats);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_TRUE((*state)->Names(file));  // until a snapshot leaves it out
  EXPECT_EQ(Size(file + ".zst"), 10);
  EXPECT_EQ(Size(file), -1);
}

}  // namespace
}  // namespace ziggy
