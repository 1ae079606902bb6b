#include "common/zap_handler.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "client/net/socket.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

// A CURVE server PULL socket in `context`, bound to a free loopback port.
struct Server {
  Server(zmq::context_t& context, const CurveKeyPair& key) {
    SocketOptions options;
    options.curve = CurveSocketOptions::Server(key);
    options.receive_timeout_ms = 200;
    socket = MakeSocket(context, zmq::socket_type::pull, options);
    socket.bind("tcp://127.0.0.1:*");
    endpoint = socket.get(zmq::sockopt::last_endpoint);
  }
  zmq::socket_t socket;
  std::string endpoint;
};

// A PUSH client with `own` key (plain text without), trusting `server_key`,
// connected to `server`.
class Client {
 public:
  Client(Server& server, const absl::optional<CurveKeyPair>& own,
         const CurvePublicKey& server_key)
      : server_(server) {
    SocketOptions options;
    if (own) options.curve = CurveSocketOptions::Client(*own, server_key);
    options.send_timeout_ms = 100;
    socket_ = MakeSocket(context_, zmq::socket_type::push, options);
    socket_.connect(server.endpoint);
  }
  // Whether this client's hello gets through to the server within the
  // deadline (it is resent until then; what other clients left queued is
  // passed over); *user_id gets the message's User-Id.
  bool Delivers(absl::Duration deadline, std::string* user_id = nullptr) {
    const absl::Time end = absl::Now() + deadline;
    zmq::message_t message;
    while (absl::Now() < end) {
      (void)socket_.send(zmq::buffer(hello_), zmq::send_flags::dontwait);
      if (!server_.socket.recv(message) || message.to_string() != hello_) {
        continue;
      }
      if (user_id != nullptr) *user_id = CurveUserId(message);
      return true;
    }
    return false;
  }

 private:
  static inline int clients_ = 0;
  const std::string hello_ = "hello " + std::to_string(++clients_);
  Server& server_;
  zmq::context_t context_;
  zmq::socket_t socket_;
};

CurveKeyLists Allow(std::vector<CurvePublicKey> allowed) {
  return CurveKeyLists{std::move(allowed), absl::nullopt};
}

// Waits until `value()` reaches `want` (5 s at most).
template <typename F>
bool Reaches(F value, uint64_t want) {
  const absl::Time end = absl::Now() + absl::Seconds(5);
  while (value() < want && absl::Now() < end)
    absl::SleepFor(absl::Milliseconds(5));
  return value() >= want;
}

// A ZapHandler and a CURVE server socket in one context.
class ZapHandlerTest : public ::testing::Test {
 protected:
  void Start(CurveKeyLists keys) {
    absl::StatusOr<std::unique_ptr<ZapHandler>> zap =
        ZapHandler::Start(context_, std::move(keys));
    ASSERT_TRUE(zap.ok()) << zap.status();
    zap_ = *std::move(zap);
    server_ = std::make_unique<Server>(context_, server_key_);
  }

  // Whether a fresh client with `own` key gets through (Client::Delivers).
  bool Delivers(const CurveKeyPair& own, absl::Duration deadline) {
    return Client(*server_, own, trusted()).Delivers(deadline);
  }
  const CurvePublicKey& trusted() const { return server_key_.public_key(); }

  const CurveKeyPair server_key_ = *GenerateKeyPair();
  const CurveKeyPair client_ = *GenerateKeyPair();
  zmq::context_t context_;
  std::unique_ptr<ZapHandler> zap_;  // after the server, before the context
  std::unique_ptr<Server> server_;
};

TEST_F(ZapHandlerTest, AcceptsOnlyListedKeys) {
  Start(Allow({client_.public_key()}));
  ASSERT_TRUE(zap_->WatchHandshakes(server_->socket, "test").ok());
  EXPECT_FALSE(Delivers(*GenerateKeyPair(), absl::Seconds(1)));
  EXPECT_TRUE(Reaches([&] { return zap_->refused(); }, 1));
  EXPECT_EQ(zap_->accepted(), 0u);
  EXPECT_TRUE(Delivers(client_, absl::Seconds(10)));
  EXPECT_EQ(zap_->accepted(), 1u);
  // A key refused is counted once, as refused, not as a failed handshake.
  EXPECT_EQ(zap_->failed_handshakes(), 0u);
}

TEST_F(ZapHandlerTest, WithoutAllowListAcceptsEveryCurveClient) {
  Start(CurveKeyLists{});
  EXPECT_TRUE(Delivers(*GenerateKeyPair(), absl::Seconds(10)));
  EXPECT_EQ(zap_->accepted(), 1u);
  EXPECT_EQ(zap_->refused(), 0u);
}

TEST_F(ZapHandlerTest, OneHandlerPerContext) {
  Start(CurveKeyLists{});
  EXPECT_EQ(ZapHandler::Start(context_, CurveKeyLists{}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(ZapHandlerTest, AcceptedKeyIsTheUserId) {
  Start(Allow({client_.public_key()}));
  std::string user_id;
  EXPECT_TRUE(Client(*server_, client_, trusted())
                  .Delivers(absl::Seconds(10), &user_id));
  EXPECT_EQ(user_id, client_.public_key().z85());
}

// Reload() decides new handshakes; a connection made before stays.
TEST_F(ZapHandlerTest, ReloadReplacesTheAllowList) {
  const CurveKeyPair second = *GenerateKeyPair();
  Start(Allow({client_.public_key()}));
  Client connected(*server_, client_, trusted());
  ASSERT_TRUE(connected.Delivers(absl::Seconds(10)));
  EXPECT_FALSE(Delivers(second, absl::Seconds(1)));
  zap_->Reload(Allow({second.public_key()}));
  EXPECT_EQ(zap_->reloads(), 1u);
  EXPECT_TRUE(Delivers(second, absl::Seconds(10)));
  EXPECT_FALSE(Delivers(client_, absl::Seconds(1)));
  EXPECT_TRUE(connected.Delivers(absl::Seconds(10)));
}

TEST_F(ZapHandlerTest, AdminKeysMayConnectAndOnlyTheyAreAdmins) {
  const CurveKeyPair admin = *GenerateKeyPair();
  Start(CurveKeyLists{std::vector<CurvePublicKey>{client_.public_key()},
                      std::vector<CurvePublicKey>{admin.public_key()}});
  std::string user_id;
  EXPECT_TRUE(
      Client(*server_, admin, trusted()).Delivers(absl::Seconds(10), &user_id));
  EXPECT_TRUE(zap_->IsAdmin(user_id));
  EXPECT_FALSE(zap_->IsAdmin(client_.public_key().z85()));
  EXPECT_FALSE(zap_->IsAdmin(""));
  zap_->Reload(Allow({client_.public_key()}));  // no admin list
  EXPECT_TRUE(zap_->IsAdmin(client_.public_key().z85()));
  EXPECT_FALSE(Delivers(admin, absl::Seconds(1)));
}

TEST_F(ZapHandlerTest, ReloadFromAnUnreadableDirectoryKeepsTheLists) {
  Start(Allow({client_.public_key()}));
  const absl::Status failed =
      zap_->ReloadFrom(std::string(getenv("TEST_TMPDIR")) + "/absent", "");
  EXPECT_EQ(failed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(failed.message()).rfind("--curve-allow=", 0), 0u);
  EXPECT_EQ(zap_->reload_failures(), 1u);
  EXPECT_EQ(zap_->reloads(), 0u);
  EXPECT_TRUE(Delivers(client_, absl::Seconds(10)));
}

TEST_F(ZapHandlerTest, PlainClientIsAFailedHandshake) {
  Start(CurveKeyLists{});
  ASSERT_TRUE(zap_->WatchHandshakes(server_->socket, "test").ok());
  EXPECT_FALSE(
      Client(*server_, absl::nullopt, trusted()).Delivers(absl::Seconds(1)));
  EXPECT_TRUE(Reaches([&] { return zap_->failed_handshakes(); }, 1));
  EXPECT_EQ(zap_->refused(), 0u);
  EXPECT_EQ(zap_->accepted(), 0u);
}

TEST(LoadCurveServerOptionsTest, FlagsNeedTheKey) {
  absl::StatusOr<absl::optional<CurveServerOptions>> none =
      LoadCurveServerOptions("", "", "", false);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(LoadCurveServerOptions("", "/tmp", "", false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadCurveServerOptions("", "", "/tmp", false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadCurveServerOptions("", "", "", true).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LoadCurveServerOptionsTest, LoadsKeyAndAllowList) {
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/load";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  const std::string allow = dir + "/allow";
  ASSERT_EQ(mkdir(allow.c_str(), 0755), 0);
  const CurveKeyPair server = *GenerateKeyPair();
  const CurveKeyPair client = *GenerateKeyPair();
  ASSERT_TRUE(WriteKeyPair(server, dir + "/server.key").ok());
  ASSERT_TRUE(WriteKeyPair(client, allow + "/client.key").ok());
  absl::StatusOr<absl::optional<CurveServerOptions>> loaded =
      LoadCurveServerOptions(dir + "/server.key", allow, "", true);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->key.public_key(), server.public_key());
  const CurveKeyLists& clients = (*loaded)->clients;
  ASSERT_TRUE(clients.allowed.has_value());
  ASSERT_EQ(clients.allowed->size(), 1u);  // client.key is not *.pub
  EXPECT_EQ(clients.allowed->front(), client.public_key());
  EXPECT_FALSE(clients.admins.has_value());
  EXPECT_TRUE((*loaded)->plain_collect);
  EXPECT_EQ((*loaded)->allow_dir, allow);
  absl::Status missing =
      LoadCurveServerOptions(dir + "/absent.key", "", "", false).status();
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(std::string(missing.message()).rfind("--curve-key", 0), 0u);
}

TEST(LoadCurveKeyListsTest, LoadsBothDirectoriesSkippingBadFiles) {
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/lists";
  const std::string allow = dir + "/allow", admin = dir + "/admin";
  for (const std::string& d : {dir, allow, admin}) {
    ASSERT_EQ(mkdir(d.c_str(), 0755), 0) << d;
  }
  const CurveKeyPair client = *GenerateKeyPair();
  const CurveKeyPair boss = *GenerateKeyPair();
  ASSERT_TRUE(WriteKeyPair(client, allow + "/client.key").ok());
  ASSERT_TRUE(WriteKeyPair(boss, admin + "/boss.key").ok());
  FILE* bad = fopen((admin + "/bad.pub").c_str(), "w");
  ASSERT_NE(bad, nullptr);
  fputs("not a key\n", bad);
  fclose(bad);
  absl::StatusOr<CurveKeyLists> lists = LoadCurveKeyLists(allow, admin);
  ASSERT_TRUE(lists.ok()) << lists.status();
  ASSERT_TRUE(lists->allowed.has_value());
  EXPECT_EQ(*lists->allowed, std::vector<CurvePublicKey>{client.public_key()});
  ASSERT_TRUE(lists->admins.has_value());
  EXPECT_EQ(*lists->admins, std::vector<CurvePublicKey>{boss.public_key()});
  absl::StatusOr<CurveKeyLists> none = LoadCurveKeyLists("", "");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->allowed.has_value());
  EXPECT_FALSE(none->admins.has_value());
  EXPECT_EQ(LoadCurveKeyLists(allow, dir + "/absent").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ziggy
