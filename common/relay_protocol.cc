#include "common/relay_protocol.h"

#include <malloc.h>
#include <zstd.h>

#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/format/event.h"

namespace ziggy {
namespace {

bool ValidForwarderId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (const char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

bool ValidToken(absl::string_view token) {
  if (token.size() < 16 || token.size() > 64) return false;
  for (const char c : token) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool GetInt(const Value& doc, absl::string_view key, int64_t* out) {
  const Value* v = doc.Get(key);
  if (v == nullptr || v->kind() != Value::Kind::kInt) return false;
  *out = v->AsInt();
  return true;
}

}  // namespace

std::string EncodeRelayHeader(const RelayHeader& h) {
  if (h.ping) return EncodeDocument(Value(Value::Map{{"ping", true}}));
  return EncodeDocument(Value(Value::Map{
      {"forwarder", h.forwarder},
      {"token", h.token},
      {"first", h.first},
      {"end", h.end},
      {"acked", h.acked},
      {"count", h.count},
      {"compression", h.zstd ? "zstd" : "none"},
      {"size", h.size},
  }));
}

absl::StatusOr<RelayHeader> ParseRelayHeader(absl::string_view bytes) {
  absl::StatusOr<Value> doc = DecodeDocument(bytes);
  if (!doc.ok()) return absl::InvalidArgumentError("relay header is not BSON");
  RelayHeader h;
  if (const Value* ping = doc->Get("ping");
      ping != nullptr && ping->kind() == Value::Kind::kBool && ping->AsBool()) {
    h.ping = true;
    return h;
  }
  const Value* id = doc->Get("forwarder");
  if (id == nullptr || id->kind() != Value::Kind::kString ||
      !ValidForwarderId(id->AsString())) {
    return absl::InvalidArgumentError("relay header: bad 'forwarder'");
  }
  h.forwarder = id->AsString();
  const Value* token = doc->Get("token");
  if (token == nullptr || token->kind() != Value::Kind::kString ||
      !ValidToken(token->AsString())) {
    return absl::InvalidArgumentError(
        "relay header: 'token' must be 16-64 hex chars");
  }
  h.token = token->AsString();
  int64_t count = 0;
  if (!GetInt(*doc, "first", &h.first) || !GetInt(*doc, "end", &h.end) ||
      !GetInt(*doc, "acked", &h.acked) || !GetInt(*doc, "count", &count) ||
      !GetInt(*doc, "size", &h.size)) {
    return absl::InvalidArgumentError(
        "relay header: first, end, acked, count and size must be integers");
  }
  // `count` must fit RelayHeader's int32: truncated, a hostile count could
  // wrap around to one that matches the payload.
  if (h.first < 0 || h.end < h.first || h.acked < 0 || count < 0 ||
      count > h.end - h.first || count > std::numeric_limits<int32_t>::max() ||
      h.size < 0 || static_cast<uint64_t>(h.size) > kMaxRelayBatchBytes) {
    return absl::InvalidArgumentError("relay header: inconsistent numbers");
  }
  h.count = static_cast<int32_t>(count);
  const Value* compression = doc->Get("compression");
  if (compression == nullptr || compression->kind() != Value::Kind::kString ||
      (compression->AsString() != "none" &&
       compression->AsString() != "zstd")) {
    return absl::InvalidArgumentError(
        "relay header: compression must be \"none\" or \"zstd\"");
  }
  h.zstd = compression->AsString() == "zstd";
  return h;
}

absl::Status DecompressPayload(const RelayHeader& header,
                               absl::string_view* payload,
                               std::string* storage) {
  if (!header.zstd) {
    if (static_cast<int64_t>(payload->size()) != header.size) {
      return absl::InvalidArgumentError(
          absl::StrCat("payload has ", payload->size(), " bytes, header says ",
                       header.size));
    }
    return absl::OkStatus();
  }
  storage->resize(static_cast<size_t>(header.size));
  const size_t n = ZSTD_decompress(storage->data(), storage->size(),
                                   payload->data(), payload->size());
  if (ZSTD_isError(n) || static_cast<int64_t>(n) != header.size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "zstd payload does not decompress to ", header.size, " bytes",
        ZSTD_isError(n) ? absl::StrCat(": ", ZSTD_getErrorName(n)) : ""));
  }
  *payload = *storage;
  return absl::OkStatus();
}

absl::Status CompressPayload(absl::string_view events, int level,
                             std::string* out) {
  out->resize(ZSTD_compressBound(events.size()));
  const size_t n = ZSTD_compress(out->data(), out->size(), events.data(),
                                 events.size(), level);
  if (ZSTD_isError(n)) {
    return absl::InternalError(absl::StrCat("zstd: ", ZSTD_getErrorName(n)));
  }
  out->resize(n);
  return absl::OkStatus();
}

std::string RelayAckReply(absl::string_view forwarder, int64_t end) {
  return EncodeDocument(
      Value(Value::Map{{"ack", end}, {"forwarder", std::string(forwarder)}}));
}

std::string RelayResend(int64_t expected) {
  return EncodeDocument(Value(Value::Map{{"resend", expected}}));
}

std::string RelayError(absl::string_view message, absl::string_view reason) {
  return EncodeDocument(Value(Value::Map{{"error", std::string(message)},
                                         {"reason", std::string(reason)}}));
}

std::string RelayPong() {
  return EncodeDocument(Value(Value::Map{{"pong", true}}));
}

absl::StatusOr<RelayReply> ParseRelayReply(absl::string_view bytes) {
  absl::StatusOr<Value> doc = DecodeDocument(bytes);
  if (!doc.ok()) return absl::InvalidArgumentError("relay reply is not BSON");
  RelayReply r;
  if (GetInt(*doc, "ack", &r.index)) {
    r.kind = RelayReply::Kind::kAck;
    if (const Value* f = doc->Get("forwarder");
        f != nullptr && f->kind() == Value::Kind::kString) {
      r.forwarder = f->AsString();
    }
    return r;
  }
  if (GetInt(*doc, "resend", &r.index)) {
    r.kind = RelayReply::Kind::kResend;
    return r;
  }
  if (doc->Get("pong") != nullptr) {
    r.kind = RelayReply::Kind::kPong;
    return r;
  }
  const Value* error = doc->Get("error");
  r.kind = RelayReply::Kind::kError;
  r.error = error != nullptr && error->kind() == Value::Kind::kString
                ? error->AsString()
                : "unreadable reply";
  if (const Value* reason = doc->Get("reason");
      reason != nullptr && reason->kind() == Value::Kind::kString) {
    r.reason = reason->AsString();
  }
  return r;
}

void KeepRelayBuffersInHeap() {
  // Fixed thresholds also stop glibc's own adjustment of them.
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMaxRelayBatchBytes));
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

}  // namespace ziggy
