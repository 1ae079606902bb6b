// RelayState: what makes relayed events land exactly once, across crashes.
//
// Forwarders number their events (a forwarder id and a per-forwarder index)
// and resend until acknowledged. The collector acknowledges a batch only
// after a checkpoint made it durable, in this order:
//   1. the batch's events are written to their files,
//   2. every file written since the last checkpoint is fdatasync()ed,
//   3. a snapshot {forwarder: next index, file: length} is written to
//      <root>/.relay-state.tmp, fdatasync()ed, renamed over
//      <root>/.relay-state, and the directory fsync()ed,
//   4. the acknowledgement is sent.
// After a crash, Recover() truncates every file in the snapshot back to its
// checkpointed length: whatever was written after the last checkpoint was
// never acknowledged, so forwarders will resend it, and rolling it back is
// what keeps it from landing twice. (Events from the plain collect port
// written in that window go too, which is why the writer also checkpoints
// every flush tick in which it wrote anything.) A
// file opened after a checkpoint enters the snapshot before anything is
// written to it.
//
// Thread-safety: the writer thread only, after Recover(); Names() from any
// thread.

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
#include "absl/synchronization/mutex.h"
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
  static constexpr const char* kFileName = ".relay-state";

  // Reads <root>/.relay-state if there is one and rolls files back to their
  // checkpointed lengths.
  static absl::StatusOr<std::unique_ptr<RelayState>> Recover(
      const std::string& root, CollectorStats* stats);

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
  // acks' indexes in a snapshot; on success moves the acks to *acked. On
  // failure the acks stay pending and the forwarders' marks as the last
  // checkpoint left them (so no later snapshot can carry them early).
  absl::Status Commit(const std::vector<std::pair<std::string, off_t>>& lengths,
                      std::vector<RelayAck>* acked);

  // Whether the snapshot on disk (or one being written) names the file at
  // `path`: a restart could roll it back, so the storage lifecycle must
  // neither compress nor remove it. Thread-safe (one lookup under a lock).
  bool Names(const std::string& path) const;

 private:
  RelayState(std::string root, CollectorStats* stats)
      : root_(std::move(root)), stats_(stats) {}
  using Lengths = absl::flat_hash_map<std::string, off_t>;
  absl::Status WriteSnapshot(const Lengths& files);
  // Names(): `lengths`' files join the named ones; with `replace`, they
  // become the only ones.
  void PublishNames(const Lengths& lengths, bool replace);
  std::string Relative(const std::string& path) const;

  const std::string root_;
  CollectorStats* const stats_;
  bool active_ = false;
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
  mutable absl::Mutex names_mu_;
  absl::flat_hash_set<std::string> names_ ABSL_GUARDED_BY(names_mu_);
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_RELAY_STATE_H_
