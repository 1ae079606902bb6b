// RelayState: what makes relayed events land exactly once, across crashes.
//
// Forwarders number their events (a forwarder id and a per-forwarder index)
// and resend until acknowledged. The collector acknowledges a batch only
// after a checkpoint made it durable, in this order:
//   1. the batch's events are written to their files,
//   2. every file written since the last checkpoint is fdatasync()ed,
//   3. a snapshot {forwarder: next index, file: length} is written over
//      the older of two slot files, <root>/.relay-state.0 and .1, and
//      fdatasync()ed,
//   4. the acknowledgement is sent.
// A slot holds the snapshot (BSON, with `seq`, counting snapshots) and then
// a checksum of it; bytes after that are left from a longer snapshot. The
// slots are written in place, alternately, and kept open: a checkpoint is
// one pwrite() and one fdatasync() of blocks the file already has (no new
// file, rename or directory sync per checkpoint). A write torn by a crash
// spoils only its own slot (its checksum fails), so the other one, the
// last checkpoint, is what recovery takes: the sound slot with the higher
// `seq`. <root>/.relay-state (one snapshot replaced by rename(), written
// before the slots) is read when no slot is sound, and deleted once one is.
// After a crash, Recover() truncates every file in the snapshot back to its
// checkpointed length: whatever was written after the last checkpoint was
// never acknowledged, so forwarders will resend it, and rolling it back is
// what keeps it from landing twice. (Events from the plain collect port
// written in that window go too, which is why the writer also checkpoints
// every flush tick in which it wrote anything.) A
// file opened after a checkpoint enters the snapshot before anything is
// written to it.
//
// Thread-safety: the writer thread only, after Recover().

#ifndef ZIGGY_COLLECTOR_RELAY_STATE_H_
#define ZIGGY_COLLECTOR_RELAY_STATE_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/format/value.h"
#include "collector/stats.h"

namespace ziggy {

// An acknowledgement owed to a forwarder once its batch is durable.
struct RelayAck {
  std::string identity;   // the forwarder's ZeroMQ routing id
  std::string forwarder;  // its forwarder id
  int64_t end;            // every index below this is written
  std::string token;      // the token its id is bound to
};

// What a checkpoint records of one forwarder.
struct ForwarderMark {
  int64_t next = 0;   // every index below it is written
  std::string token;  // empty in snapshots older than tokens: bound anew
};

class RelayState {
 public:
  static constexpr const char* kFileName = ".relay-state";  // before slots
  static constexpr const char* kSlotNames[2] = {".relay-state.0",
                                                ".relay-state.1"};

  // The last snapshot written under `root`: the sound slot with the higher
  // seq, or else kFileName; kNotFound when there is none.
  static absl::StatusOr<Value> ReadSnapshot(const std::string& root);
  // The bytes of a slot holding `snapshot` (for tests).
  static std::string SlotBytes(absl::string_view snapshot);

  // Reads the last snapshot if there is one and rolls files back to their
  // checkpointed lengths.
  static absl::StatusOr<std::unique_ptr<RelayState>> Recover(
      const std::string& root, CollectorStats* stats);
  ~RelayState();  // closes the slots
  RelayState(const RelayState&) = delete;
  RelayState& operator=(const RelayState&) = delete;

  // Next expected index and token per forwarder, as recovered (for the
  // receive thread).
  const absl::flat_hash_map<std::string, ForwarderMark>& forwarders() const {
    return forwarders_;
  }

  // The receive thread forgot these forwarders (ForwarderTable): later
  // snapshots leave them out.
  void Forget(const std::vector<std::string>& ids);

  // Relay checkpoints are on once a forwarder was seen (now or before).
  bool active() const { return active_; }

  // A file was opened at `size`: recorded durably before it is written.
  void FileOpened(const std::string& path, off_t size);

  // A file was closed at `size` (synced): the next Commit records it (a
  // snapshot a FileOpened writes before then keeps its checkpointed
  // length: the acks for what it was closed with are not committed yet).
  void FileClosed(const std::string& path, off_t size);

  // The events of batches owing these acks are appended to their files.
  void AddAcks(std::vector<RelayAck> acks);
  bool has_pending_acks() const { return !pending_.empty(); }

  // Records `lengths` (every open file, flushed and synced) and the pending
  // acks' indexes in a snapshot; on success moves the acks to *acked.
  absl::Status Commit(const std::vector<std::pair<std::string, off_t>>& lengths,
                      std::vector<RelayAck>* acked);

 private:
  RelayState(std::string root, CollectorStats* stats)
      : root_(std::move(root)), stats_(stats) {}
  using Lengths = absl::flat_hash_map<std::string, off_t>;
  absl::Status WriteSnapshot(const Lengths& files);
  // Writes `bytes` over slot next_slot_ and syncs it.
  absl::Status WriteSlot(const std::string& bytes);
  // Opens both slots (creating them durably) on the first write.
  absl::Status OpenSlots();
  // Takes the forwarders and file lengths of a recovered snapshot.
  absl::Status Restore(const Value& snapshot);
  std::string Relative(const std::string& path) const;

  const std::string root_;
  CollectorStats* const stats_;
  bool active_ = false;
  int slot_fds_[2] = {-1, -1};
  int next_slot_ = 0;   // never the slot of the last snapshot written
  int64_t seq_ = 1;     // of the next snapshot
  bool legacy_ = true;  // kFileName may exist: deleted after a slot write
  absl::flat_hash_map<std::string, ForwarderMark> forwarders_;
  Lengths lengths_;  // relative path -> size, as the next Commit records
  // The file lengths of the last snapshot written: what a crash rolls back
  // to. Between Commits only FileOpened adds to it.
  Lengths snapshot_lengths_;
  // Files open now. A closed file's final length is recorded by the next
  // snapshot and then forgotten, so snapshots stay as small as the set of
  // open files however long the collector runs.
  absl::flat_hash_set<std::string> open_;
  std::vector<RelayAck> pending_;
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_RELAY_STATE_H_
