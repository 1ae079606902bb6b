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
#include "client/format/value.h"
#include "collector/stats.h"

namespace ziggy {

// An acknowledgement owed to a forwarder once its batch is durable: to a
// forwarder on the relay port, or to NATS for a message of the NATS source
// (nats_sequence > 0; it moves no forwarder's mark).
struct RelayAck {
  std::string identity;        // the forwarder's ZeroMQ routing id; for NATS,
                               // the message's reply subject
  std::string forwarder;       // its forwarder id
  int64_t end;                 // every index below this is written
  std::string token;           // the token its id is bound to
  uint64_t nats_sequence = 0;  // the NATS message's stream sequence
  // When NATS delivered it (unix seconds): its ack timer started then or
  // later (an in-progress signal restarts it).
  double nats_delivered = 0;
  std::string nats_batch;  // which batch it was (NatsSource's dedup key)
};

// A NATS acknowledgement a checkpoint committed whose receipt NATS has not
// confirmed yet (RelayState::nats_acks()).
struct NatsAckRecord {
  uint64_t sequence;  // stream sequence
  std::string reply;  // the message's reply subject, where the ack goes
  // Its ack timer's start (unix seconds) at the latest known: delivery or
  // the last answered in-progress signal; 0 in snapshots older than it.
  double timer_start = 0;
  std::string batch;  // RelayAck::nats_batch; "" in snapshots older than it
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

  // NATS acks committed by a checkpoint and not confirmed by NATS, as
  // recovered (the snapshot's `nats.acks`; none in older snapshots), and
  // the Unix time of that checkpoint (0: none). ziggyd re-acks them at
  // start.
  const std::vector<NatsAckRecord>& recovered_nats_acks() const {
    return recovered_nats_;
  }
  double recovered_nats_time() const { return recovered_nats_time_; }

  // NATS confirmed the ack for stream sequence `sequence`: later snapshots
  // leave it out (once for each time it was acked). Thread-safe.
  void NatsAckConfirmed(uint64_t sequence);
  // NATS answered an in-progress signal for `sequence` at `time` (unix
  // seconds): its ack timer restarted (recorded if its ack is owed).
  void NatsAckTimerRestarted(uint64_t sequence, double time);
  // The committed NATS acks not confirmed yet. Thread-safe.
  size_t nats_unconfirmed() const;

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
  void RecoverNats(const Value& snapshot);
  // Moves confirmations to nats_ (under nats_mu_).
  void TakeNatsConfirmations() ABSL_EXCLUSIVE_LOCKS_REQUIRED(nats_mu_);
  Value NatsSnapshot() ABSL_EXCLUSIVE_LOCKS_REQUIRED(nats_mu_);
  // Adds `delta` to what is owed for each NATS ack among `acks`.
  void AddNatsAcks(const std::vector<RelayAck>& acks, int delta);
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
  std::vector<NatsAckRecord> recovered_nats_;
  double recovered_nats_time_ = 0;
  // NATS acks committed and not confirmed: sequence -> reply subject and
  // how many times it is owed (a duplicate is acked again).
  struct NatsOwed {
    std::string reply;
    int count = 0;
    double timer_start = 0;  // NatsAckRecord::timer_start
    std::string batch;       // NatsAckRecord::batch
  };
  mutable absl::Mutex nats_mu_;
  absl::flat_hash_map<uint64_t, NatsOwed> nats_ ABSL_GUARDED_BY(nats_mu_);
  std::vector<uint64_t> nats_confirmed_ ABSL_GUARDED_BY(nats_mu_);
  mutable absl::Mutex names_mu_;
  absl::flat_hash_set<std::string> names_ ABSL_GUARDED_BY(names_mu_);
};

}  // namespace ziggy

#endif  // ZIGGY_COLLECTOR_RELAY_STATE_H_
