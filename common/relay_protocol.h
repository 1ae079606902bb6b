// The relay protocol between forwarders (DEALER) and the collector
// (ROUTER). See forwarder/RELAY.md for the whole story.
//
// A batch is two frames: a BSON header and the payload, the events' BSON
// documents back to back (zstd-compressed when the header says so). The
// header:
//   {forwarder: id, token: secret, first: int64, end: int64, acked: int64,
//    count: int32, compression: "none" | "zstd",
//    size: int64 (uncompressed payload bytes)}
// `token` is the forwarder's secret (16-64 hex chars, made once and never
// shown): the collector binds an id to the first token it sees with it and
// refuses batches for that id with any other, so a peer that read an id
// from STATUS cannot move that forwarder's position.
// Events carry the forwarder's spool indexes first..end-1 (some may be
// missing, lost to spool damage); `acked` is the forwarder's own
// acknowledged mark, all below it already acknowledged by some collector.
// {ping: true} asks for {pong: true}.
//
// The collector answers each batch with one BSON frame:
//   {ack: end, forwarder: id}  every index below end is durably written;
//   {resend: expected}         start again at this index;
//   {error: "...", reason: r}  refused; r is "token" when the forwarder
//                              id is bound to another token (RELAY.md),
//                              "" for a malformed batch.

#ifndef ZIGGY_COMMON_RELAY_PROTOCOL_H_
#define ZIGGY_COMMON_RELAY_PROTOCOL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ziggy {

// Largest uncompressed batch either side accepts: forwarders aim at 1 MiB
// and may go over by one event, which is at most 16 MiB (BSON's own limit).
inline constexpr size_t kMaxRelayBatchBytes = 32 << 20;
// Batches a collector queues per forwarder connection: its window.
inline constexpr int kRelayQueueBatches = 8;

struct RelayHeader {
  bool ping = false;
  std::string forwarder;  // 1-64 bytes of [A-Za-z0-9_-]
  std::string token;      // 16-64 hex chars
  int64_t first = 0;
  int64_t end = 0;
  int64_t acked = 0;
  int32_t count = 0;
  bool zstd = false;
  int64_t size = 0;
};

std::string EncodeRelayHeader(const RelayHeader& header);
// kInvalidArgument for anything that is not a sound header.
absl::StatusOr<RelayHeader> ParseRelayHeader(absl::string_view bytes);

// Makes *payload the batch's events: decompresses into *storage when the
// header says zstd. kInvalidArgument when the payload does not match.
absl::Status DecompressPayload(const RelayHeader& header,
                               absl::string_view* payload,
                               std::string* storage);
// zstd at `level` into *out.
absl::Status CompressPayload(absl::string_view events, int level,
                             std::string* out);

struct RelayReply {
  enum class Kind { kAck, kResend, kError, kPong } kind;
  int64_t index = 0;  // ack: end; resend: expected
  std::string forwarder;
  std::string error;
  std::string reason;  // of an error: "token" or ""
};

std::string RelayAckReply(absl::string_view forwarder, int64_t end);
std::string RelayResend(int64_t expected);
inline constexpr absl::string_view kRefusedToken = "token";
std::string RelayError(absl::string_view message,
                       absl::string_view reason = "");
std::string RelayPong();
absl::StatusOr<RelayReply> ParseRelayReply(absl::string_view bytes);

// For a daemon's main(), before any thread starts: keeps buffers up to
// kMaxRelayBatchBytes in malloc's heap rather than in mappings of their own
// (glibc maps blocks above 128 KiB-32 MiB, adjusting as it goes), and the
// heap's free top unreturned up to 64 MiB. A relay batch's ~0.6-1 MiB
// buffers (ZeroMQ's receive buffer in ziggyd, the payload in the forwarder)
// are otherwise mapped, page-faulted and zero-filled page by page, and
// unmapped, for every batch.
void KeepRelayBuffersInHeap();

}  // namespace ziggy

#endif  // ZIGGY_COMMON_RELAY_PROTOCOL_H_
