// "Seed" here is the original Python Ziggy, whose wire and file formats we
// keep. Its tools and ours, both ways: requests built exactly as the Python
// ziggyctl and ziggyview build them, answered by the real ziggyd and
// ziggy-forwarder; and our ziggyctl and ziggyview against a Python-era
// daemon, whose STATUS has only last, lag and events.

#include <bson/bson.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/net/endpoint.h"
#include "gtest/gtest.h"
#include "tests/process.h"
#include "tests/ziggyd.h"
#include "zmq.hpp"

namespace ziggy::testing {
namespace {

std::string BsonBytes(const bson_t* doc) {
  return std::string(reinterpret_cast<const char*>(bson_get_data(doc)),
                     doc->len);
}

// What the Python tools put on the wire: bson.dumps({'cmd': command}).
std::string SeedRequest(const char* command) {
  bson_t doc = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&doc, "cmd", command);
  std::string bytes = BsonBytes(&doc);
  bson_destroy(&doc);
  return bytes;
}

// One REQ/REP exchange, decoded with libbson (not our decoder).
bson_t* SeedCall(const std::string& control, const char* command) {
  zmq::context_t context;
  zmq::socket_t req(context, zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.set(zmq::sockopt::rcvtimeo, 5000);
  req.connect("tcp://" + control);
  req.send(zmq::buffer(SeedRequest(command)));
  zmq::message_t reply;
  if (!req.recv(reply)) return nullptr;
  return bson_new_from_data(reply.data<uint8_t>(), reply.size());
}

bool HasKey(const bson_t* doc, const char* key) {
  bson_iter_t it;
  return doc != nullptr && bson_iter_init_find(&it, doc, key);
}

int64_t IntField(const bson_t* doc, const char* key) {
  bson_iter_t it;
  if (doc == nullptr || !bson_iter_init_find(&it, doc, key)) return -1;
  return bson_iter_as_int64(&it);
}

void ExpectSeedToolsServed(Ziggyd& daemon) {
  bson_t* status = SeedCall(daemon.control(), "STATUS");
  ASSERT_NE(status, nullptr);
  EXPECT_FALSE(HasKey(status, "error")) << bson_as_json(status, nullptr);
  for (const char* field : {"last", "lag", "events", "hosts"}) {
    EXPECT_TRUE(HasKey(status, field)) << field;
  }
  bson_destroy(status);
  bson_t* stream = SeedCall(daemon.control(), "SOCK_STREAM");
  EXPECT_EQ(IntField(stream, "port"), EndpointPort("tcp://" + daemon.stream()));
  bson_destroy(stream);
  bson_t* shutdown = SeedCall(daemon.control(), "SHUTDOWN");
  EXPECT_TRUE(HasKey(shutdown, "ok"));
  bson_destroy(shutdown);
  EXPECT_EQ(daemon.process().Wait(), 0);
}

TEST(SeedTest, ZiggydAnswersTheSeedToolsRequests) {
  auto ziggyd = Ziggyd::Start(TempDir("logs"));
  ASSERT_NE(ziggyd, nullptr);
  ExpectSeedToolsServed(*ziggyd);
}

TEST(SeedTest, ForwarderAnswersTheSeedToolsRequests) {
  auto forwarder = Ziggyd::StartForwarder(
      TempDir("spool"), absl::StrCat("127.0.0.1:", UnusedPort()));
  ASSERT_NE(forwarder, nullptr);
  ExpectSeedToolsServed(*forwarder);
}

// A Python-era ziggyd: answers {cmd: STATUS} with its three fields and
// {cmd: SOCK_STREAM} with its stream port, where it publishes [type, bson]
// events; anything else (such as a request keyed `command`) gets {error}.
class SeedDaemon {
 public:
  SeedDaemon()
      : control_(context_, zmq::socket_type::rep),
        stream_(context_, zmq::socket_type::pub) {
    control_.bind("tcp://127.0.0.1:*");
    stream_.bind("tcp://127.0.0.1:*");
    thread_ = std::thread([this] { Run(); });
  }
  ~SeedDaemon() {
    stop_.store(true);
    thread_.join();
  }
  std::string control() const {
    return control_.get(zmq::sockopt::last_endpoint).substr(6);
  }

 private:
  void Run() {
    const std::string event = ForeignEvent("request", 1, 1);
    while (!stop_.load()) {
      zmq::pollitem_t item{control_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      if (item.revents & ZMQ_POLLIN) Answer();
      stream_.send(zmq::str_buffer("request"), zmq::send_flags::sndmore);
      stream_.send(zmq::buffer(event));
    }
  }

  void Answer() {
    zmq::message_t request;
    if (!control_.recv(request)) return;
    bson_t* doc = bson_new_from_data(request.data<uint8_t>(), request.size());
    bson_iter_t it;
    const std::string cmd = doc != nullptr &&
                                    bson_iter_init_find(&it, doc, "cmd") &&
                                    BSON_ITER_HOLDS_UTF8(&it)
                                ? bson_iter_utf8(&it, nullptr)
                                : "";
    if (doc != nullptr) bson_destroy(doc);
    bson_t reply = BSON_INITIALIZER;
    if (cmd == "STATUS") {
      const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
      bson_t events, request_type;
      BSON_APPEND_DOUBLE(&reply, "last", now - 2);
      BSON_APPEND_DOUBLE(&reply, "lag", 0.25);
      BSON_APPEND_DOCUMENT_BEGIN(&reply, "events", &events);
      BSON_APPEND_DOCUMENT_BEGIN(&events, "seed.request", &request_type);
      BSON_APPEND_DOUBLE(&request_type, "last", now - 2);
      bson_append_document_end(&events, &request_type);
      bson_append_document_end(&reply, &events);
    } else if (cmd == "SOCK_STREAM") {
      BSON_APPEND_INT32(&reply, "port",
                        EndpointPort(stream_.get(zmq::sockopt::last_endpoint)));
    } else {
      BSON_APPEND_UTF8(&reply, "error", "unknown command");
    }
    control_.send(zmq::buffer(BsonBytes(&reply)));
    bson_destroy(&reply);
  }

  zmq::context_t context_;
  zmq::socket_t control_, stream_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(SeedTest, ZiggyctlStatusReadsASeedEraDaemon) {
  SeedDaemon seed;
  std::string out, err;
  ASSERT_EQ(
      RunCommand({RunfilesPath("ctl/ziggyctl"), "-H", seed.control(), "status"},
                 &out, &err),
      0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, "lag 0.250s")) << out;
  EXPECT_TRUE(absl::StrContains(out, "seed.request")) << out;
  // Only what the Python ziggyd reports: no invented zeros.
  EXPECT_FALSE(absl::StrContains(out, "received")) << out;
  EXPECT_FALSE(absl::StrContains(out, "pid")) << out;
}

TEST(SeedTest, ZiggyviewFollowsASeedEraDaemonLive) {
  SeedDaemon seed;
  auto viewer = Subprocess::Start(
      {RunfilesPath("viewer/ziggyview"), "-H", seed.control()});
  ASSERT_NE(viewer, nullptr);
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(viewer->Stdout(), "\"type\":\"request\"");
  })) << viewer->Stderr();
  viewer->Signal(SIGINT);
  EXPECT_EQ(viewer->Wait(), 0) << viewer->Stderr();
}

}  // namespace
}  // namespace ziggy::testing
