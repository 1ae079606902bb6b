// NatsUpstream: the forwarder's spool published to a NATS JetStream stream
// (`ziggy-forwarder --upstream=nats://host:4222[,...]`), the counterpart of
// RelayClient for collectors' relay ports. See forwarder/RELAY.md, "NATS
// JetStream upstream", and common/nats_stream.h for the stream and the
// message format.
//
// On a thread of its own it reads batches from the spool's acknowledged mark
// (as the relay does: --relay-batch-events, --relay-batch-bytes capped so
// that header + payload fit the server's max_payload, zstd when smaller) and
// publishes one message per batch to `<subject>.<forwarder id>` with
// `Nats-Msg-Id: <id>:<first>` and ExpectLastSubjectSeq = the stream
// sequence of its previous batch. One batch is in flight: the JetStream
// PubAck is the acknowledgement, and only then does the spool's mark move.
//
// The chain: on start, on a reconnect, and after any doubt (a timeout, a
// publish error, a PubAck flagged Duplicate, a wrong-last-sequence error)
// it reads its subject's last message back (js_GetLastMsg): found, the
// spool's mark moves to that batch's `end` (never back) and the next
// publish expects its sequence; not found (never published, or expired by
// max age), it goes on from the spool's mark expecting nothing. What lies
// between is read from the spool again. Errors back off (jittered, 100 ms
// doubling to 5 s); while NATS is unreachable the spool keeps accepting.
// Failover between servers is libnats' (NatsConnection).
//
// Thread-safety: all public methods, from any thread.

#ifndef ZIGGY_FORWARDER_NATS_UPSTREAM_H_
#define ZIGGY_FORWARDER_NATS_UPSTREAM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/format/value.h"
#include "common/nats_stream.h"
#include "forwarder/spool.h"
#include "forwarder/upstream_link.h"

namespace ziggy {

class NatsPublisher;

struct NatsUpstreamOptions {
  // stream.servers: the NATS servers; the rest names the stream (and, when
  // this forwarder creates it, its limits).
  NatsStreamOptions stream;
  size_t batch_events = 2000;    // --relay-batch-events
  size_t batch_bytes = 1 << 20;  // --relay-batch-bytes (and max_payload)
  bool zstd = false;             // --compress=zstd
  int zstd_level = 1;
  // A publish or a read-back unanswered this long is a doubt (--ack-timeout).
  absl::Duration timeout = absl::Seconds(5);
  // Status() is refreshed at most this often.
  absl::Duration status_interval = absl::Milliseconds(100);
};

class NatsUpstream : public UpstreamLink {
 public:
  // REQUIRES: spool outlives it.
  NatsUpstream(Spool* spool, NatsUpstreamOptions options);
  ~NatsUpstream() override;  // Stop()

  // SetUpstreams(): new NATS servers ("nats://host:port"); the connection
  // is made again to them, and the chain read back.
  // Status(): {mode: "nats", current, servers, server, connected, stream,
  //  subject, upstreams: {url: {state, batches, acks, timeouts, refusals,
  //  refused}}, in_flight, acked, sent_batches, retransmitted,
  //  resend_requests, compression, batches, acks, events, resyncs,
  //  duplicates, wrong_last, timeouts, errors, last_error, oversized,
  //  last_sequence}.

 private:
  void Run() override;

  Spool* const spool_;
  const NatsUpstreamOptions options_;
};

}  // namespace ziggy

#endif  // ZIGGY_FORWARDER_NATS_UPSTREAM_H_
