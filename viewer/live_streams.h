// LiveStreams: the live streams of several daemons (ziggyview -H a -H b, a
// pool of collectors), followed at once and interleaved as events arrive.
//
// Each daemon is followed by its own StreamSubscriber on a thread of its
// own, so a daemon that is slow to answer (a down one takes its
// control_timeout at every rediscovery) never holds up the others' events.
// The threads hand events to the caller through a bounded queue; when it is
// full they wait, and ZeroMQ's own queue (then its high-water mark) takes
// the rest, as with one subscriber that reads slowly.
//
//   LiveStreams streams(per_daemon_options);
//   for (const std::string& error : streams.Connect()) Report(error);
//   while (running) {
//     if (streams.Next(&bson, absl::Milliseconds(100))) Print(bson);
//     for (const std::string& note : streams.TakeNotes()) Report(note);
//   }
//
// Thread-safety: Connect, Next and TakeNotes from one thread at a time; the
// following threads are the class's own and end in the destructor.

#ifndef ZIGGY_VIEWER_LIVE_STREAMS_H_
#define ZIGGY_VIEWER_LIVE_STREAMS_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/reader/stream.h"

namespace ziggy {

class LiveStreams {
 public:
  // One StreamOptions per daemon. At most `max_queued` events wait for
  // Next().
  explicit LiveStreams(std::vector<StreamOptions> daemons,
                       size_t max_queued = 10000);
  ~LiveStreams();  // stops and joins the threads

  LiveStreams(const LiveStreams&) = delete;
  LiveStreams& operator=(const LiveStreams&) = delete;

  // Connects to every daemon at once (each within its control_timeout)
  // and starts following those that answered. Returns one error message
  // per daemon that did not (StreamSubscriber::Connect's, naming it);
  // those are not followed. REQUIRES: called once.
  std::vector<std::string> Connect();

  // Daemons being followed (after Connect).
  size_t following() const { return followers_.size(); }

  // Waits up to `timeout` for the next event from any daemon, in the order
  // they arrived: its BSON into *bson. False on timeout.
  bool Next(std::string* bson, absl::Duration timeout);

  // Lines about the streams since the last call, e.g. a daemon whose
  // stream has been out of reach for control_timeout ("<why>; still
  // trying"), once per outage.
  std::vector<std::string> TakeNotes();

 private:
  struct Follower;
  void Follow(Follower* follower);
  void Push(std::string bson);
  void Note(std::string line);

  std::vector<StreamOptions> daemons_;
  const size_t max_queued_;
  std::vector<std::unique_ptr<Follower>> followers_;
  std::atomic<bool> stopping_{false};
  absl::Mutex mu_;
  std::deque<std::string> events_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> notes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ziggy

#endif  // ZIGGY_VIEWER_LIVE_STREAMS_H_
