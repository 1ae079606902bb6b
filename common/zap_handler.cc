#include "common/zap_handler.h"

#include <pthread.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"

namespace ziggy {
namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";
constexpr absl::Duration kLogInterval = absl::Seconds(10);
constexpr size_t kMaxLoggedAddresses = 4096;

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

absl::StatusOr<std::vector<CurvePublicKey>> LoadAllowed(
    const std::string& dir) {
  absl::StatusOr<PublicKeyDirectory> loaded = LoadPublicKeyDirectory(dir);
  if (!loaded.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--curve-allow=", dir, ": ", loaded.status().message()));
  }
  for (const SkippedKeyFile& skipped : loaded->skipped) {
    LOG(WARNING) << "--curve-allow: skipping " << skipped.path << ": "
                 << skipped.reason;
  }
  std::vector<CurvePublicKey> keys;
  for (const PublicKeyFile& file : loaded->keys) keys.push_back(file.key);
  LOG(INFO) << "--curve-allow: " << keys.size() << " client keys from " << dir;
  return keys;
}

}  // namespace

absl::StatusOr<absl::optional<CurveServerOptions>> LoadCurveServerOptions(
    const std::string& key_path, const std::string& allow_dir,
    bool plain_collect) {
  if (key_path.empty()) {
    if (!allow_dir.empty() || plain_collect) {
      return absl::InvalidArgumentError(
          "--curve-allow and --plain-collect need --curve-key");
    }
    return absl::nullopt;
  }
  absl::StatusOr<CurveKeyPair> key = LoadSecretKey(key_path);
  if (!key.ok()) {
    return absl::Status(key.status().code(),
                        absl::StrCat("--curve-key: ", key.status().message()));
  }
  CurveServerOptions options{*std::move(key), absl::nullopt, plain_collect};
  if (!allow_dir.empty()) {
    absl::StatusOr<std::vector<CurvePublicKey>> allowed =
        LoadAllowed(allow_dir);
    if (!allowed.ok()) return allowed.status();
    options.allowed = *std::move(allowed);
  } else {
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

absl::StatusOr<std::unique_ptr<ZapHandler>> ZapHandler::Start(
    zmq::context_t& context,
    absl::optional<std::vector<CurvePublicKey>> allowed) {
  zmq::socket_t socket(context, zmq::socket_type::rep);
  socket.set(zmq::sockopt::linger, 0);
  try {
    socket.bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot bind ", kZapEndpoint, ": ", e.what()));
  }
  return std::unique_ptr<ZapHandler>(
      new ZapHandler(std::move(socket), std::move(allowed)));
}

ZapHandler::ZapHandler(zmq::socket_t socket,
                       absl::optional<std::vector<CurvePublicKey>> allowed)
    : socket_(std::move(socket)), allow_all_(!allowed.has_value()) {
  if (allowed) {
    for (const CurvePublicKey& key : *allowed) allowed_.insert(key.z85());
  }
  thread_ = std::thread([this] { Serve(); });
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  thread_.join();
}

void ZapHandler::Serve() {
  pthread_setname_np(pthread_self(), "ziggy-zap");
  while (!stop_) {
    zmq::pollitem_t item = {socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(100));
    if (!(item.revents & ZMQ_POLLIN)) continue;
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
  socket_.close();
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
  if (mechanism == "CURVE" && request.size() == 7 && Allowed(request[6])) {
    ++accepted_;
    return {"1.0", id, "200", "OK", "", ""};
  }
  ++refused_;
  LogRefusal(request[3]);
  return {"1.0", id, "400", "key not allowed", "", ""};
}

bool ZapHandler::Allowed(const std::string& binary_key) const {
  return allow_all_ || allowed_.contains(KeyZ85(binary_key));
}

void ZapHandler::LogRefusal(const std::string& address) {
  const absl::Time now = absl::Now();
  auto it = last_logged_.find(address);
  if (it != last_logged_.end() && now - it->second < kLogInterval) return;
  if (last_logged_.size() >= kMaxLoggedAddresses) last_logged_.clear();
  last_logged_[address] = now;
  LOG(WARNING) << "CurveZMQ: refused a client from " << address
               << ": its key is not in --curve-allow (" << refused_.load()
               << " refused so far)";
}

}  // namespace ziggy
