#include "common/zap_handler.h"

#include <pthread.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";
constexpr absl::Duration kLogInterval = absl::Seconds(10);
constexpr size_t kMaxLoggedAddresses = 4096;
// Handshakes that fail before ZAP is asked. (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
// is a ZAP refusal, already counted as refused.)
constexpr int kFailedHandshakeEvents =
    ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;

// The 32-byte key of a ZAP request's CURVE credential as Z85 ("" if not).
std::string KeyZ85(const std::string& binary) {
  if (binary.size() != 32) return "";
  char z85[41];
  if (zmq_z85_encode(z85, reinterpret_cast<const uint8_t*>(binary.data()),
                     binary.size()) == nullptr) {
    return "";
  }
  return std::string(z85, 40);
}

// The keys of the *.pub files in `dir`, given as --`flag`.
absl::StatusOr<std::vector<CurvePublicKey>> LoadKeyDirectory(
    absl::string_view flag, const std::string& dir) {
  absl::StatusOr<PublicKeyDirectory> loaded = LoadPublicKeyDirectory(dir);
  if (!loaded.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", dir, ": ", loaded.status().message()));
  }
  for (const SkippedKeyFile& skipped : loaded->skipped) {
    LOG(WARNING) << "--" << flag << ": skipping " << skipped.path << ": "
                 << skipped.reason;
  }
  std::vector<CurvePublicKey> keys;
  for (const PublicKeyFile& file : loaded->keys) keys.push_back(file.key);
  LOG(INFO) << "--" << flag << ": " << keys.size() << " client keys from "
            << dir;
  return keys;
}

// The Z85 keys of `keys` and, when given, of `more`.
absl::flat_hash_set<std::string> KeySet(
    const std::vector<CurvePublicKey>& keys,
    const absl::optional<std::vector<CurvePublicKey>>& more = absl::nullopt) {
  absl::flat_hash_set<std::string> set;
  for (const CurvePublicKey& key : keys) set.insert(key.z85());
  if (more) {
    for (const CurvePublicKey& key : *more) set.insert(key.z85());
  }
  return set;
}

}  // namespace

absl::StatusOr<CurveKeyLists> LoadCurveKeyLists(const std::string& allow_dir,
                                                const std::string& admin_dir) {
  CurveKeyLists lists;
  if (!allow_dir.empty()) {
    absl::StatusOr<std::vector<CurvePublicKey>> allowed =
        LoadKeyDirectory("curve-allow", allow_dir);
    if (!allowed.ok()) return allowed.status();
    lists.allowed = *std::move(allowed);
  }
  if (!admin_dir.empty()) {
    absl::StatusOr<std::vector<CurvePublicKey>> admins =
        LoadKeyDirectory("curve-admin", admin_dir);
    if (!admins.ok()) return admins.status();
    lists.admins = *std::move(admins);
  }
  return lists;
}

absl::StatusOr<absl::optional<CurveServerOptions>> LoadCurveServerOptions(
    const std::string& key_path, const std::string& allow_dir,
    const std::string& admin_dir, bool plain_collect) {
  if (key_path.empty()) {
    if (!allow_dir.empty() || !admin_dir.empty() || plain_collect) {
      return absl::InvalidArgumentError(
          "--curve-allow, --curve-admin and --plain-collect need --curve-key");
    }
    return absl::nullopt;
  }
  absl::StatusOr<CurveKeyPair> key = LoadSecretKey(key_path);
  if (!key.ok()) {
    return absl::Status(key.status().code(),
                        absl::StrCat("--curve-key: ", key.status().message()));
  }
  absl::StatusOr<CurveKeyLists> clients =
      LoadCurveKeyLists(allow_dir, admin_dir);
  if (!clients.ok()) return clients.status();
  CurveServerOptions options{*std::move(key), *std::move(clients),
                             plain_collect, allow_dir, admin_dir};
  if (!options.clients.allowed) {
    LOG(INFO) << "CurveZMQ without --curve-allow: any client that knows the "
                 "server key may connect";
  }
  LOG(INFO) << "CurveZMQ server key " << options.key.public_key().z85();
  if (plain_collect) {
    LOG(INFO) << "--plain-collect: the collect port takes plain text (for the "
                 "original Python clients); the other ports are CurveZMQ";
  }
  return options;
}

std::string CurveUserId(const zmq::message_t& message) {
  // zmq_msg_gets() fails (EINVAL) when the connection has no user id.
  const char* user_id = zmq_msg_gets(message.handle(), "User-Id");
  return user_id == nullptr ? "" : user_id;
}

absl::StatusOr<std::unique_ptr<ZapHandler>> ZapHandler::Start(
    zmq::context_t& context, CurveKeyLists keys) {
  zmq::socket_t socket(context, zmq::socket_type::rep);
  socket.set(zmq::sockopt::linger, 0);
  try {
    socket.bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot bind ", kZapEndpoint, ": ", e.what()));
  }
  return std::unique_ptr<ZapHandler>(
      new ZapHandler(context, std::move(socket), std::move(keys)));
}

ZapHandler::ZapHandler(zmq::context_t& context, zmq::socket_t socket,
                       CurveKeyLists keys)
    : context_(context), socket_(std::move(socket)) {
  SetKeys(std::move(keys));
  thread_ = std::thread([this] { Serve(); });
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  thread_.join();
}

void ZapHandler::SetKeys(CurveKeyLists keys) {
  absl::MutexLock lock(&mu_);
  allow_all_ = !keys.allowed.has_value();
  allowed_.clear();
  if (keys.allowed) allowed_ = KeySet(*keys.allowed, keys.admins);
  all_admins_ = !keys.admins.has_value();
  admins_.clear();
  if (keys.admins) admins_ = KeySet(*keys.admins);
}

void ZapHandler::Reload(CurveKeyLists keys) {
  SetKeys(std::move(keys));
  ++reloads_;
  absl::MutexLock lock(&mu_);
  LOG(INFO) << "CurveZMQ keys reloaded: "
            << (allow_all_ ? std::string("any client key")
                           : absl::StrCat(allowed_.size(), " client keys"))
            << " may connect, "
            << (all_admins_ ? std::string("each")
                            : absl::StrCat(admins_.size(), " of them"))
            << " may change state; connections already made stay";
}

absl::Status ZapHandler::ReloadFrom(const std::string& allow_dir,
                                    const std::string& admin_dir) {
  absl::StatusOr<CurveKeyLists> keys = LoadCurveKeyLists(allow_dir, admin_dir);
  if (!keys.ok()) {
    ++reload_failures_;
    return keys.status();
  }
  Reload(*std::move(keys));
  return absl::OkStatus();
}

bool ZapHandler::IsAdmin(absl::string_view user_id) const {
  absl::MutexLock lock(&mu_);
  return all_admins_ || admins_.contains(user_id);
}

absl::Status ZapHandler::WatchHandshakes(zmq::socket_t& socket,
                                         absl::string_view port) {
  int n;
  {
    absl::MutexLock lock(&mu_);
    n = watch_count_++;
  }
  const std::string endpoint = absl::StrCat("inproc://ziggy-handshakes-", n);
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(),
                         kFailedHandshakeEvents) != 0) {
    return absl::InternalError(absl::StrCat("cannot watch the ", port,
                                            " port: ", zmq_strerror(errno)));
  }
  zmq::socket_t monitor(context_, zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect(endpoint);
  // The ZAP thread takes it over; the mutex is the memory barrier ZeroMQ
  // asks for when a socket changes threads.
  absl::MutexLock lock(&mu_);
  new_watches_.push_back(Watch{std::move(monitor), std::string(port)});
  return absl::OkStatus();
}

void ZapHandler::Serve() {
  pthread_setname_np(pthread_self(), "ziggy-zap");
  while (!stop_) {
    AdoptWatches();
    std::vector<zmq::pollitem_t> items = {{socket_.handle(), 0, ZMQ_POLLIN, 0}};
    for (Watch& watch : watches_) {
      items.push_back({watch.monitor.handle(), 0, ZMQ_POLLIN, 0});
    }
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
    if (items[0].revents & ZMQ_POLLIN) ServeZap();
    for (size_t i = 0; i < watches_.size(); ++i) {
      if (items[i + 1].revents & ZMQ_POLLIN) ServeWatch(watches_[i]);
    }
  }
  socket_.close();
  for (Watch& watch : watches_) watch.monitor.close();
}

void ZapHandler::AdoptWatches() {
  absl::MutexLock lock(&mu_);
  for (Watch& watch : new_watches_) watches_.push_back(std::move(watch));
  new_watches_.clear();
}

void ZapHandler::ServeZap() {
  std::vector<std::string> request;
  zmq::message_t frame;
  do {
    if (!socket_.recv(frame, zmq::recv_flags::dontwait)) break;
    request.push_back(frame.to_string());
  } while (frame.more());
  const std::vector<std::string> reply = Answer(request);
  for (size_t i = 0; i < reply.size(); ++i) {
    socket_.send(zmq::buffer(reply[i]), i + 1 < reply.size()
                                            ? zmq::send_flags::sndmore
                                            : zmq::send_flags::none);
  }
}

// A monitor event is two frames: u16 event, u32 value; then the endpoint.
void ZapHandler::ServeWatch(Watch& watch) {
  zmq::message_t event, endpoint;
  while (watch.monitor.recv(event, zmq::recv_flags::dontwait)) {
    if (event.more()) (void)watch.monitor.recv(endpoint);
    uint16_t id = 0;
    if (event.size() >= sizeof id) memcpy(&id, event.data(), sizeof id);
    if ((id & kFailedHandshakeEvents) == 0) continue;
    const uint64_t failed = ++failed_handshakes_;
    const absl::Time now = absl::Now();
    if (now - watch.last_logged < kLogInterval) continue;
    watch.last_logged = now;
    LOG(WARNING) << "CurveZMQ: a handshake on the " << watch.port
                 << " port failed (a plain-text client, or one with another "
                    "server key); "
                 << failed << " failed handshakes so far";
  }
}

// Request: version, request id, domain, address, routing id, mechanism,
// credentials. Reply: version, request id, status, text, user id, metadata.
std::vector<std::string> ZapHandler::Answer(
    const std::vector<std::string>& request) {
  const std::string id = request.size() > 1 ? request[1] : "";
  if (request.size() < 6 || request[0] != "1.0") {
    return {"1.0", id, "500", "malformed ZAP request", "", ""};
  }
  const std::string& mechanism = request[5];
  if (mechanism == "NULL") return {"1.0", id, "200", "OK", "", ""};
  if (mechanism == "CURVE" && request.size() == 7) {
    const std::string key = KeyZ85(request[6]);
    if (!key.empty() && Allowed(key)) {
      ++accepted_;
      return {"1.0", id, "200", "OK", key, ""};
    }
  }
  ++refused_;
  LogRefusal(request[3]);
  return {"1.0", id, "400", "key not allowed", "", ""};
}

bool ZapHandler::Allowed(const std::string& z85) const {
  absl::MutexLock lock(&mu_);
  return allow_all_ || allowed_.contains(z85);
}

void ZapHandler::LogRefusal(const std::string& address) {
  const absl::Time now = absl::Now();
  auto it = last_logged_.find(address);
  if (it != last_logged_.end() && now - it->second < kLogInterval) return;
  if (last_logged_.size() >= kMaxLoggedAddresses) last_logged_.clear();
  last_logged_[address] = now;
  LOG(WARNING) << "CurveZMQ: refused a client from " << address
               << ": its key is not in --curve-allow or --curve-admin ("
               << refused_.load() << " refused so far)";
}

}  // namespace ziggy
