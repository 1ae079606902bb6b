#include "common/nats_stream.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/format/bson_writer.h"

namespace ziggy {
namespace {

constexpr absl::string_view kScheme = "nats://";
constexpr absl::string_view kTlsScheme = "tls://";

bool HasNatsScheme(absl::string_view url) {
  return absl::StartsWith(url, kScheme) || absl::StartsWith(url, kTlsScheme);
}

// "host:port" of a URL, without scheme and user information.
absl::string_view HostPort(absl::string_view url) {
  url.remove_prefix(url.find("://") + 3);
  size_t at = url.rfind('@');
  if (at != absl::string_view::npos) url.remove_prefix(at + 1);
  return url;
}

bool Loopback(absl::string_view host_port) {
  absl::string_view host = host_port.substr(0, host_port.rfind(':'));
  return host == "localhost" || host == "[::1]" || host == "::1" ||
         absl::StartsWith(host, "127.");
}

int64_t Nanoseconds(absl::Duration d) { return absl::ToInt64Nanoseconds(d); }

// Given to libnats so that a first connect that fails returns at once and
// goes on in the background (without a callback it would block).
void OnConnected(natsConnection*, void*) {}

bool ValidToken(absl::string_view token) {
  if (token.empty()) return false;
  for (char c : token) {
    if (c == '*' || c == '>' || c == ' ' || c == '\t' || c == '.' ||
        c <= 0x20 || c == 0x7f) {
      return false;
    }
  }
  return true;
}

// The server's URL without a trailing path: "nats://host:port".
absl::Status CheckServer(absl::string_view url) {
  absl::string_view rest = HostPort(url);
  size_t colon = rest.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad NATS server \"", RedactNatsUrl(url),
                     "\": expected nats://host:port or tls://host:port"));
  }
  return absl::OkStatus();
}

// The last error libnats recorded, for a failed option.
absl::Status LastNatsError(natsStatus s, absl::string_view what) {
  const char* text = nats_GetLastError(nullptr);
  return absl::InvalidArgumentError(absl::StrCat(
      what, ": ", text != nullptr && *text ? text : natsStatus_GetText(s)));
}

// The TLS files are readable, and cert and key come together with a CA.
absl::Status CheckTlsFiles(const NatsStreamOptions& options) {
  const std::pair<const char*, const std::string*> files[] = {
      {"nats-tls-ca", &options.tls_ca},
      {"nats-tls-cert", &options.tls_cert},
      {"nats-tls-key", &options.tls_key}};
  for (const auto& [flag, path] : files) {
    if (!path->empty() && access(path->c_str(), R_OK) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, "=", *path, ": cannot read: ", std::strerror(errno)));
    }
  }
  if (options.tls_cert.empty() != options.tls_key.empty() ||
      (!options.tls_cert.empty() && options.tls_ca.empty())) {
    return absl::InvalidArgumentError(
        "--nats-tls-cert and --nats-tls-key go together, with --nats-tls-ca");
  }
  return absl::OkStatus();
}

// TLS settings (NatsStreamOptions::tls_*) on `opts`.
absl::Status SetTls(const NatsStreamOptions& options, natsOptions* opts) {
  if (options.tls_ca.empty()) {
    if (!options.tls_cert.empty() || !options.tls_key.empty()) {
      return absl::InvalidArgumentError(
          "--nats-tls-cert and --nats-tls-key need --nats-tls-ca");
    }
    return absl::OkStatus();
  }
  natsStatus s = natsOptions_SetSecure(opts, true);
  if (s == NATS_OK) {
    s = natsOptions_LoadCATrustedCertificates(opts, options.tls_ca.c_str());
  }
  if (s != NATS_OK) return LastNatsError(s, "--nats-tls-ca " + options.tls_ca);
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--nats-tls-cert and --nats-tls-key go together");
  }
  if (options.tls_cert.empty()) return absl::OkStatus();
  s = natsOptions_LoadCertificatesChain(opts, options.tls_cert.c_str(),
                                        options.tls_key.c_str());
  if (s != NATS_OK) return LastNatsError(s, "--nats-tls-cert/--nats-tls-key");
  return absl::OkStatus();
}

// libnats options for `servers`: retried first connect, endless reconnects.
absl::StatusOr<natsOptions*> MakeOptions(const NatsStreamOptions& options,
                                         const std::string& name,
                                         natsConnectionHandler on_reconnected,
                                         void* closure) {
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  std::vector<const char*> urls;
  for (const std::string& url : options.servers) urls.push_back(url.c_str());
  if (s == NATS_OK) {
    s = natsOptions_SetServers(opts, urls.data(),
                               static_cast<int>(urls.size()));
  }
  if (s == NATS_OK) s = natsOptions_SetName(opts, name.c_str());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 2000);
  // Batches are up to a few MiB: what piles up while reconnecting.
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, 64 << 20);
  if (s == NATS_OK) {
    s = natsOptions_SetRetryOnFailedConnect(opts, true, OnConnected, nullptr);
  }
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectedCB(opts, on_reconnected, closure);
  }
  if (s != NATS_OK) {
    natsOptions_Destroy(opts);
    return NatsError(s, "NATS options");
  }
  absl::Status tls = SetTls(options, opts);
  if (!tls.ok()) {
    natsOptions_Destroy(opts);
    return tls;
  }
  return opts;
}

}  // namespace

absl::StatusOr<bool> IsNatsList(absl::string_view list) {
  bool any_nats = false, any_other = false;
  for (absl::string_view entry :
       absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    (HasNatsScheme(absl::StripAsciiWhitespace(entry)) ? any_nats : any_other) =
        true;
  }
  if (any_nats && any_other) {
    std::vector<std::string> entries = absl::StrSplit(list, ',');
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", RedactNatsUrls(entries),
        "\" mixes NATS servers (nats://, tls://) and relay ports (host:port): "
        "a daemon relays to one kind of upstream"));
  }
  return any_nats;
}

absl::StatusOr<std::vector<std::string>> ParseNatsServers(
    absl::string_view list) {
  std::vector<std::string> servers;
  for (absl::string_view entry : absl::StrSplit(list, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (!HasNatsScheme(entry)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad NATS server \"", RedactNatsUrl(entry),
                       "\": expected nats://host:port or tls://host:port"));
    }
    absl::Status checked = CheckServer(entry);
    if (!checked.ok()) return checked;
    servers.emplace_back(entry);
  }
  return servers;
}

std::string RedactNatsUrl(absl::string_view url) {
  size_t scheme = url.find("://");
  size_t at = url.rfind('@');
  if (scheme == absl::string_view::npos || at == absl::string_view::npos ||
      at < scheme) {
    return std::string(url);
  }
  return absl::StrCat(url.substr(0, scheme + 3), "***@", url.substr(at + 1));
}

std::string RedactNatsUrls(const std::vector<std::string>& urls) {
  std::string out;
  for (const std::string& url : urls) {
    absl::StrAppend(&out, out.empty() ? "" : ",", RedactNatsUrl(url));
  }
  return out;
}

absl::Status CheckNatsExposure(const NatsStreamOptions& options,
                               bool insecure) {
  if (insecure || !options.tls_ca.empty()) return absl::OkStatus();
  for (const std::string& url : options.servers) {
    if (absl::StartsWith(url, kScheme) && !Loopback(HostPort(url))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "refusing to send events in plain text to NATS server ",
          RedactNatsUrl(url),
          " off this host: use TLS (--nats-tls-ca), or --insecure"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateNatsStreamOptions(const NatsStreamOptions& options) {
  const std::string& stream = options.stream;
  if (stream.empty() ||
      stream.find_first_of(" \t.*>/\\") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad NATS stream name \"", stream,
                     "\": no spaces, dots, '*', '>', '/' or '\\'"));
  }
  for (absl::string_view token : absl::StrSplit(options.subject, '.')) {
    if (!ValidToken(token)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad NATS subject prefix \"", options.subject,
                       "\": dot-separated tokens without wildcards or spaces"));
    }
  }
  if (options.replicas < 1 || options.replicas > 5) {
    return absl::InvalidArgumentError("NATS replicas must be 1 to 5");
  }
  if (options.max_age < absl::ZeroDuration() || options.max_bytes < 0) {
    return absl::InvalidArgumentError(
        "NATS max age and max bytes must not be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> ParseNatsDuration(absl::string_view flag,
                                                 absl::string_view value,
                                                 bool zero_ok) {
  absl::Duration duration;
  if (!absl::ParseDuration(value, &duration) ||
      duration == absl::InfiniteDuration() || duration < absl::ZeroDuration() ||
      (!zero_ok && duration == absl::ZeroDuration())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", value, ": expected a ", zero_ok ? "" : "positive ",
        "duration such as 30s, 5m or 24h"));
  }
  return duration;
}

absl::StatusOr<NatsStreamOptions> NatsStreamOptionsFromFlags(
    const NatsStreamFlags& flags) {
  NatsStreamOptions options;
  absl::StatusOr<std::vector<std::string>> servers =
      ParseNatsServers(flags.servers);
  if (!servers.ok()) return servers.status();
  options.servers = *std::move(servers);
  options.stream = flags.stream;
  options.subject = flags.subject;
  if (flags.replicas < 1 || flags.replicas > 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--nats-replicas=", flags.replicas, ": must be from 1 to 5"));
  }
  options.replicas = static_cast<int>(flags.replicas);
  absl::StatusOr<absl::Duration> max_age =
      ParseNatsDuration("nats-max-age", flags.max_age, /*zero_ok=*/true);
  if (!max_age.ok()) return max_age.status();
  options.max_age = *max_age;
  if (flags.max_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--nats-max-bytes=", flags.max_bytes,
                     ": must be 0 (unlimited) or more"));
  }
  options.max_bytes = flags.max_bytes;
  if (absl::Status s = ValidateNatsStreamOptions(options); !s.ok()) return s;
  options.tls_ca = flags.tls_ca;
  options.tls_cert = flags.tls_cert;
  options.tls_key = flags.tls_key;
  if (absl::Status s = CheckTlsFiles(options); !s.ok()) return s;
  if (absl::Status s = CheckNatsExposure(options, flags.insecure); !s.ok()) {
    return s;
  }
  return options;
}

std::string BatchSubject(const NatsStreamOptions& options,
                         absl::string_view forwarder) {
  return absl::StrCat(options.subject, ".", forwarder);
}

std::string BatchMsgId(absl::string_view forwarder, int64_t first) {
  return absl::StrCat(forwarder, ":", first);
}

void AppendBatchMessage(const RelayHeader& header, absl::string_view payload,
                        std::string* out) {
  out->append(EncodeRelayHeader(header));
  out->append(payload.data(), payload.size());
}

absl::StatusOr<BatchMessage> ParseBatchMessage(absl::string_view data) {
  uint32_t length = 0;
  if (data.size() >= 4) std::memcpy(&length, data.data(), 4);  // little-endian
  if (data.size() < 5 || length < 5 || length > data.size()) {
    return absl::InvalidArgumentError("message is not a relay batch");
  }
  absl::StatusOr<RelayHeader> header = ParseRelayHeader(data.substr(0, length));
  if (!header.ok()) return header.status();
  if (header->ping) {
    return absl::InvalidArgumentError("a ping is not a batch");
  }
  BatchMessage message{*std::move(header), data.substr(length)};
  if (!message.header.zstd &&
      static_cast<int64_t>(message.payload.size()) != message.header.size) {
    return absl::InvalidArgumentError(
        absl::StrCat("payload of ", message.payload.size(),
                     " bytes, header says ", message.header.size));
  }
  return message;
}

absl::Status NatsError(natsStatus status, absl::string_view what) {
  std::string text = absl::StrCat(what, ": ", natsStatus_GetText(status));
  switch (status) {
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NO_SERVER:
    case NATS_NOT_YET_CONNECTED:
    case NATS_TIMEOUT:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_NO_RESPONDERS:
      return absl::UnavailableError(text);
    default:
      return absl::InternalError(text);
  }
}

absl::StatusOr<std::unique_ptr<NatsConnection>> NatsConnection::Connect(
    const NatsStreamOptions& options, absl::string_view name) {
  if (options.servers.empty()) {
    return absl::InvalidArgumentError("no NATS server given");
  }
  std::unique_ptr<NatsConnection> connection(new NatsConnection());
  absl::StatusOr<natsOptions*> opts =
      MakeOptions(options, std::string(name), &OnReconnected, connection.get());
  if (!opts.ok()) return opts.status();
  natsStatus s = natsConnection_Connect(&connection->connection_, *opts);
  natsOptions_Destroy(*opts);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
    return NatsError(s, "connecting to NATS");
  }
  s = natsConnection_JetStream(&connection->js_, connection->connection_,
                               nullptr);
  if (s != NATS_OK) return NatsError(s, "JetStream context");
  return connection;
}

void NatsConnection::OnReconnected(natsConnection*, void* self) {
  static_cast<NatsConnection*>(self)->reconnects_.fetch_add(1);
}

NatsConnection::~NatsConnection() {
  jsCtx_Destroy(js_);
  if (connection_ != nullptr) {
    natsConnection_Close(connection_);
    natsConnection_Destroy(connection_);
  }
}

bool NatsConnection::connected() const {
  return natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED;
}

std::string NatsConnection::server() const {
  char url[256];
  if (natsConnection_GetConnectedUrl(connection_, url, sizeof(url)) !=
      NATS_OK) {
    return "";
  }
  return RedactNatsUrl(url);
}

int64_t NatsConnection::max_payload() const {
  return natsConnection_GetMaxPayload(connection_);
}

absl::Status NatsConnection::EnsureStream(const NatsStreamOptions& options,
                                          absl::Duration wait) {
  if (!connected()) return absl::UnavailableError("not connected to NATS");
  jsOptions opts;
  jsOptions_Init(&opts);
  opts.Wait = absl::ToInt64Milliseconds(wait);
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s =
      js_GetStreamInfo(&info, js_, options.stream.c_str(), &opts, &code);
  if (s == NATS_OK) {
    std::string wanted = options.subject + ".>";
    bool covered = false;
    for (int i = 0; i < info->Config->SubjectsLen; ++i) {
      absl::string_view subject = info->Config->Subjects[i];
      covered |= subject == wanted || subject == ">";
    }
    jsStreamInfo_Destroy(info);
    if (covered) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "NATS stream ", options.stream, " exists without subject ", wanted));
  }
  if (code != JSStreamNotFoundErr) {
    return NatsError(s, absl::StrCat("NATS stream ", options.stream));
  }
  std::string subject = options.subject + ".>";
  const char* subjects[] = {subject.c_str()};
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = options.stream.c_str();
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Retention = js_LimitsPolicy;
  config.Replicas = options.replicas;
  config.MaxAge = Nanoseconds(options.max_age);
  config.MaxBytes = options.max_bytes > 0 ? options.max_bytes : -1;
  config.Duplicates = Nanoseconds(options.duplicate_window);
  s = js_AddStream(&info, js_, &config, &opts, &code);
  jsStreamInfo_Destroy(info);
  // Another daemon may have made it since we looked.
  if (s == NATS_OK || code == JSStreamNameExistErr) return absl::OkStatus();
  return NatsError(s, absl::StrCat("creating NATS stream ", options.stream));
}

}  // namespace ziggy
