// NatsStream: what the forwarder's NATS upstream and ziggyd's NATS source
// share about the JetStream stream between them (forwarder/RELAY.md,
// "NATS JetStream").
//
// One stream (default `ZIGGY`) holds relay batches under `<subject>.>`; a
// forwarder publishes each batch to `<subject>.<forwarder id>`. A message is
// one batch exactly as the relay port takes it: its data is the relay
// header's BSON (common/relay_protocol.h; self-delimiting) followed by the
// payload, zstd-compressed when the header says so; its `Nats-Msg-Id` is
// `<forwarder id>:<first>`. The stream keeps messages by limits (max age,
// max bytes), not until consumed, so a forwarder can read its own last batch
// back after a crash (the per-subject chain, RELAY.md).
//
// Thread-safety: the free functions are; a NatsConnection is as thread-safe
// as libnats' connection and JetStream context (both are), but Connect and
// destruction belong to one thread.

#ifndef ZIGGY_COMMON_NATS_STREAM_H_
#define ZIGGY_COMMON_NATS_STREAM_H_

#include <nats/nats.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/relay_protocol.h"

namespace ziggy {

struct NatsStreamOptions {
  std::vector<std::string> servers;       // "nats://host:port", in any order
  std::string stream = "ZIGGY";           // --nats-stream
  std::string subject = "ziggy.batches";  // --nats-subject: the prefix
  // Used only when this daemon creates the stream.
  int replicas = 1;                          // --nats-replicas
  absl::Duration max_age = absl::Hours(24);  // --nats-max-age
  int64_t max_bytes = 0;                     // --nats-max-bytes; 0: none
  absl::Duration duplicate_window = absl::Minutes(2);
  // TLS, on for every server once tls_ca is set (tls:// URLs ask for it
  // too): the CA file that signed the servers' certificates
  // (--nats-tls-ca); with tls_cert and tls_key (--nats-tls-cert,
  // --nats-tls-key) this daemon's client certificate, for servers that
  // verify clients. A user and password (or a token) go in the URL,
  // "nats://user:password@host:4222"; RedactNatsUrl() hides them wherever
  // a URL is shown.
  std::string tls_ca, tls_cert, tls_key;
};

// Whether an --upstream / --source list names NATS servers: true when every
// entry starts with "nats://" or "tls://", false when none does;
// kInvalidArgument when the list mixes both kinds.
absl::StatusOr<bool> IsNatsList(absl::string_view list);

// "nats://a:4222,tls://b:4222" -> {"nats://a:4222", "tls://b:4222"};
// kInvalidArgument for an empty list or entry, another scheme, or a missing
// or bad port. User information ("user:password@") is kept.
absl::StatusOr<std::vector<std::string>> ParseNatsServers(
    absl::string_view list);

// The URL with any user information replaced by "***@": what STATUS, logs
// and errors show.
std::string RedactNatsUrl(absl::string_view url);
// A list of URLs (or relay ports, left as they are), each redacted,
// comma-separated.
std::string RedactNatsUrls(const std::vector<std::string>& urls);

// Secure by default, like the daemons' own ports: kFailedPrecondition when a
// server off this host (not localhost, 127.x or ::1) would get events in
// plain text (a nats:// URL without tls_ca) unless `insecure`
// (--insecure) says that is wanted.
absl::Status CheckNatsExposure(const NatsStreamOptions& options, bool insecure);

// kInvalidArgument unless the names are usable: a stream name without
// spaces, dots, `*`, `>`, `/` or `\`; a subject prefix of dot-separated
// tokens without wildcards or spaces; replicas 1-5; max age and bytes not
// negative.
absl::Status ValidateNatsStreamOptions(const NatsStreamOptions& options);

// A duration flag's value ("30s", "24h", "1m30s": absl::ParseDuration),
// positive unless `zero_ok`; kInvalidArgument "--<flag>=<value>: ..." else.
absl::StatusOr<absl::Duration> ParseNatsDuration(absl::string_view flag,
                                                 absl::string_view value,
                                                 bool zero_ok = false);

// The NATS flags both daemons take, with the same names and defaults:
// --nats-stream (ZIGGY), --nats-subject (ziggy.batches), --nats-replicas
// (1), --nats-max-age (24h), --nats-max-bytes (0: unlimited),
// --nats-tls-ca, --nats-tls-cert, --nats-tls-key (empty), and the daemon's
// --insecure.
struct NatsStreamFlags {
  std::string servers;  // --upstream / --source: "nats://host:port,..."
  std::string stream = "ZIGGY";
  std::string subject = "ziggy.batches";
  int64_t replicas = 1;
  std::string max_age = "24h";
  int64_t max_bytes = 0;
  std::string tls_ca, tls_cert, tls_key;
  bool insecure = false;
};
// The flags as options, every value checked (the TLS files readable, and
// CheckNatsExposure); kInvalidArgument or kFailedPrecondition with the
// one-line message a user reads (naming the flag) else.
absl::StatusOr<NatsStreamOptions> NatsStreamOptionsFromFlags(
    const NatsStreamFlags& flags);

// `<subject>.<forwarder>`: where that forwarder's batches go.
std::string BatchSubject(const NatsStreamOptions& options,
                         absl::string_view forwarder);
// `<forwarder>:<first>`.
std::string BatchMsgId(absl::string_view forwarder, int64_t first);

// Appends a message's data (header BSON, then payload) to *out.
void AppendBatchMessage(const RelayHeader& header, absl::string_view payload,
                        std::string* out);

struct BatchMessage {
  RelayHeader header;
  absl::string_view payload;  // into the data given
};
// Splits a message's data; kInvalidArgument when the header is not a sound
// relay header (a ping is not a batch) or the payload's length does not
// fit it (compressed payloads are checked when decompressed).
absl::StatusOr<BatchMessage> ParseBatchMessage(absl::string_view data);

// An error from libnats as a Status: "what: <libnats' text>", kUnavailable
// for connection trouble and timeouts, kInternal otherwise.
absl::Status NatsError(natsStatus status, absl::string_view what);

// A connection to the NATS servers with a JetStream context. It never gives
// up: the first connect is retried in the background (a daemon starts while
// NATS is down) and a lost connection reconnects forever, to any server of
// the list (libnats' failover).
class NatsConnection {
 public:
  // `name` is the client name NATS shows (e.g. "ziggy-forwarder <id>").
  static absl::StatusOr<std::unique_ptr<NatsConnection>> Connect(
      const NatsStreamOptions& options, absl::string_view name);
  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;

  natsConnection* connection() const { return connection_; }
  jsCtx* js() const { return js_; }
  bool connected() const;
  // The URL of the server in use (RedactNatsUrl); empty while disconnected.
  std::string server() const;
  // Largest message the server takes (0 while never connected).
  int64_t max_payload() const;
  // Times the connection was lost and made again (to any server): a
  // server restarted meanwhile may have lost what it confirmed last.
  uint64_t reconnects() const { return reconnects_.load(); }

  // Creates the stream with `options` if it does not exist; an existing one
  // is left as it is (its subjects must cover options.subject, else
  // kFailedPrecondition). Each JetStream request waits up to `wait` for its
  // answer (kUnavailable after it).
  absl::Status EnsureStream(const NatsStreamOptions& options,
                            absl::Duration wait = absl::Seconds(5));

 private:
  NatsConnection() = default;
  static void OnReconnected(natsConnection*, void* self);

  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
  std::atomic<uint64_t> reconnects_{0};
};

}  // namespace ziggy

#endif  // ZIGGY_COMMON_NATS_STREAM_H_
