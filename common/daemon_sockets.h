// DaemonSockets: what every ziggy daemon serves — a control port (REP), a
// collect port (PULL, one event per message), a live stream (XPUB, [type,
// bson] frames sent only while someone subscribes) — plus a wake-up fd for
// Stop(), and the handling the daemons share.
//
// Thread-safety: Wake() and status_snapshots().Get() from any thread;
// everything else from the daemon's receive thread, which owns the sockets.

#ifndef ZIGGY_COMMON_DAEMON_SOCKETS_H_
#define ZIGGY_COMMON_DAEMON_SOCKETS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/format/value.h"
#include "client/net/socket.h"
#include "common/clock.h"
#include "common/control_request.h"
#include "common/intake.h"
#include "common/status_snapshots.h"
#include "common/zap_handler.h"
#include "zmq.hpp"

namespace ziggy {

// What a daemon's sockets may hold in memory, in bytes. ZeroMQ bounds its
// queues in messages, so each budget becomes a message count: the budget
// divided by the largest message the socket takes (at least 16).
struct QueueLimits {
  // Events waiting in ZeroMQ per sending connection (the collect port's
  // receive queue); beyond it ZeroMQ stops reading that connection and
  // the sender's own queue fills (backpressure; disk never drops).
  size_t collect_bytes = size_t{1} << 30;
  // Stream messages waiting per subscriber; a subscriber that falls this
  // far behind loses stream messages (only it; ZeroMQ does not say how
  // many), never the disk.
  size_t stream_bytes = 16 << 20;
  // Events larger than this are written but not published on the stream.
  size_t max_stream_event_bytes = 64 << 10;
};

// Bytes of slack a collect message may have over max_event_bytes and still
// be taken (to be counted as oversized); ZeroMQ cuts a connection sending
// larger frames.
inline constexpr size_t kOversizeSlackBytes = 64 << 10;

struct DaemonAddresses {
  std::string control;  // host:port, port 0 = any
  std::string collect;
  // Empty: any free port on the control port's interface (as the original
  // Python ziggyd bound it), so whoever can reach the control port can
  // follow the stream.
  std::string stream;
  QueueLimits limits;
  // Unset: plain text. Set: every port is a CurveZMQ server with this key
  // (the collect port stays plain with plain_collect), a ZapHandler in the
  // context decides who may connect and watches the CurveZMQ ports'
  // handshakes, commands that change state answer admin keys only (with
  // curve->clients.admins), and STATUS gains auth {accepted, refused,
  // failed_handshakes, refused_admin, reloads, reload_failures}.
  absl::optional<CurveServerOptions> curve;
};

// Largest control request, and largest stream subscription (a type
// prefix), a daemon accepts; a peer sending more is disconnected.
inline constexpr int64_t kMaxControlRequestBytes = 64 << 10;
inline constexpr int64_t kMaxSubscriptionBytes = 4 << 10;

// A byte budget as a ZeroMQ high-water mark (which counts messages) for
// messages of up to `largest` bytes: from 16 to 100,000.
int MessagesIn(size_t budget, size_t largest);

// Raises the soft limit on open files to the hard limit (daemons hold a
// socket per peer and a file per type).
void RaiseFileLimit();

// File descriptors this process has open; -1 if unknown.
int64_t OpenFileDescriptors();

// The stream's address when none is given: the host of `control` (host:port)
// with port 0, e.g. "*:3513" -> "*:0", "[::1]:3513" -> "[::1]:0".
std::string DefaultStreamAddress(absl::string_view control);

// {port: N} for a bound endpoint.
std::string PortReply(const std::string& endpoint);

// The daemons register what is particular to them (control commands,
// STATUS sections, extra ports, drop reasons) and DaemonSockets dispatches
// requests and assembles STATUS, in this order: daemon, host, pid, uptime,
// fds {open, limit}, the intake's fields (dropped: its reasons, then those
// added by AddDropReasons), published, stream_dropped {too_large},
// stream_subscribers, ports {control, collect, stream, then AddPort's},
// then every AddStatusSection / AddStatusFields part in the order added.
//
// Commands served without registration: STATUS, SHUTDOWN ({ok: true}; Serve
// returns true from then on) and SOCK_<PORT> ({port: N}) for each port;
// any other command not added gets {error: "unknown command 'NAME'"}.
//
// With CurveZMQ and an admin list (--curve-admin), a command that changes
// state (SHUTDOWN, and every added command not marked kReadOnly) answers
// only a client whose key (the request's User-Id) is an admin key; others
// get {error: "NAME needs an admin key (--curve-admin)"}, counted in STATUS
// auth.refused_admin.
//
// Example (the forwarder's, abridged):
//   sockets.AddCommand("FLUSH", [&](const ControlRequest&) { return Sync(); });
//   sockets.AddDropReasons([&](Value::Map* dropped) {
//     dropped->emplace_back("spool_full", spool->refused_full());
//   });
//   sockets.AddStatusSection("spool", [&](Value::Map* spool) { ... });
class DaemonSockets {
 public:
  // Receipt times (STATUS's last and lag) come from `clock`.
  DaemonSockets(absl::string_view daemon_name, size_t max_event_bytes,
                Clock* clock = Clock::Real());
  ~DaemonSockets();

  absl::Status Bind(const DaemonAddresses& addresses);

  zmq::context_t& context() { return context_; }

  // A control command's reply: a BSON document (ErrorReply for a refusal).
  using Command = std::function<std::string(const ControlRequest&)>;
  // Whether a command changes the daemon's state (only admin keys may use
  // it, with --curve-admin) or only reads it.
  enum class Access { kChangesState, kReadOnly };
  // Appends fields to a STATUS map (a section's, or the top level).
  using FillStatus = std::function<void(Value::Map* map)>;

  // Registration, from the owning thread before serving. A command name is
  // upper case and served once: adding one twice is a bug (CHECK). A
  // command changes state unless marked kReadOnly, so one added without a
  // thought is kept from non-admin keys.
  void AddCommand(const std::string& name, Command command,
                  Access access = Access::kChangesState);
  // STATUS ports.<name> and the command SOCK_<NAME> ({port: N}) for
  // `endpoint` (empty when the port is off: EndpointPort("")).
  void AddPort(absl::string_view name, std::string endpoint);
  // The daemon's own reasons in STATUS dropped, after the intake's.
  void AddDropReasons(FillStatus fill);
  // STATUS {name: {...fill...}} after the parts added before.
  void AddStatusSection(std::string name, FillStatus fill);
  // Top-level STATUS fields from `fill`, after the parts added before.
  void AddStatusFields(FillStatus fill);

  // Poll items: control, stream, wake and, with `collect`, the collect port.
  std::vector<zmq::pollitem_t> PollItems(bool collect);
  // After zmq::poll on PollItems(): serves control requests and
  // subscriptions, and receives from the collect port when it is ready,
  // calling `on_event(doc)` for every good event (one ReceiveBurst).
  // Also takes STATUS for status_snapshots() when a reader waits.
  // Returns true once Wake() was called or SHUTDOWN served.
  using OnEvent =
      std::function<void(absl::string_view doc, const EventFields& fields)>;
  bool Serve(const std::vector<zmq::pollitem_t>& items,
             const OnEvent& on_event);
  // Takes what waits on the collect port now (at most kMaxBurst messages
  // and about kMaxBurstBytes), each message's events split and checked by
  // EventIntake::AcceptMessage; returns how many messages it took.
  int ReceiveBurst(const OnEvent& on_event);

  // Sends [type, doc] to the stream's subscribers, if any. An event too
  // large for the stream is not published (STATUS stream_dropped.too_large);
  // a subscriber with no room left loses it, the others get it.
  void Publish(absl::string_view type, absl::string_view doc);
  // Makes Serve() return true (the daemon stops); returns at once.
  void Wake();

  // STATUS for other threads (--metrics): Get() wakes the receive thread,
  // whose Serve() assembles Status() for it.
  StatusSnapshots& status_snapshots() { return snapshots_; }

  EventIntake& intake() { return intake_; }
  // The ZAP handler, for the daemon's own CurveZMQ ports' WatchHandshakes;
  // null without CurveZMQ.
  ZapHandler* zap_handler() { return zap_.get(); }
  // Re-reads --curve-allow and --curve-admin (SIGHUP): see ZapHandler's
  // ReloadFrom(); a directory that cannot be read is logged and the lists
  // stay. Does nothing without CurveZMQ. Thread-safe.
  void ReloadCurveKeys();
  // The whole STATUS reply, assembled as the class comment says.
  Value::Map Status() const;

  const std::string& control_endpoint() const { return control_endpoint_; }
  const std::string& collect_endpoint() const { return collect_endpoint_; }
  const std::string& stream_endpoint() const { return stream_endpoint_; }

 private:
  // A registered STATUS part: a section when `section` is set, else
  // top-level fields.
  struct StatusPart {
    std::string section;
    FillStatus fill;
  };

  void AddBuiltinCommands();
  // With addresses.curve: the ZAP handler, STATUS auth, server options.
  absl::Status StartCurve(const DaemonAddresses& addresses);
  void MakeSockets(const DaemonAddresses& addresses);
  // Puts the ZAP handler's socket monitor on the CurveZMQ ports.
  absl::Status WatchHandshakes(const DaemonAddresses& addresses);
  // Makes the receive thread's poll return (the wake fd readable).
  void Nudge();
  void HandleControl();
  // The reply to `request` from the client whose user id is `user_id`.
  std::string Execute(const ControlRequest& request,
                      const std::string& user_id);
  void HandleSubscriptions();
  // daemon, host, pid, uptime, fds.
  void AppendIdentity(Value::Map* status) const;
  // published, stream_dropped, stream_subscribers.
  void AppendStream(Value::Map* status) const;
  Value::Map Ports() const;

  static constexpr int kMaxBurst = 4096;
  static constexpr size_t kMaxBurstBytes = 8 << 20;

  const std::string daemon_name_;
  const size_t max_event_bytes_;
  Clock* const clock_;
  const absl::Time started_;
  zmq::context_t context_;
  std::unique_ptr<ZapHandler> zap_;    // with curve; stops before context_
  std::string allow_dir_, admin_dir_;  // with curve, for ReloadCurveKeys
  zmq::socket_t control_;
  zmq::socket_t collect_;
  zmq::socket_t stream_;
  const int wake_fd_;
  std::atomic<bool> wake_requested_{false};  // Wake(), not a snapshot's
  StatusSnapshots snapshots_;
  std::string control_endpoint_, collect_endpoint_, stream_endpoint_;
  EventIntake intake_;
  bool in_multipart_ = false;
  bool shutdown_requested_ = false;
  int subscribers_ = 0;
  uint64_t published_ = 0;
  size_t max_stream_event_bytes_ = 0;
  uint64_t stream_too_large_ = 0;
  uint64_t refused_admin_ = 0;

  // What the daemon registered.
  struct Registered {
    Command command;
    Access access;
  };
  absl::flat_hash_map<std::string, Registered> commands_;
  std::vector<std::pair<std::string, std::string>> ports_;  // name, endpoint
  std::vector<FillStatus> drop_reasons_;
  std::vector<StatusPart> status_parts_;
};

}  // namespace ziggy

#endif  // ZIGGY_COMMON_DAEMON_SOCKETS_H_
