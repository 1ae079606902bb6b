// The NATS test harness and the JetStream features Ziggy relies on, against
// the real nats-server: a stream with deduplication by Nats-Msg-Id, a
// durable pull consumer, and messages kept across a restart on the same
// port.

#include "tests/nats_server.h"

#include <nats/nats.h>

#include <memory>
#include <string>

#include "common/nats_stream.h"
#include "gtest/gtest.h"

namespace ziggy::testing {
namespace {

struct Connection {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  ~Connection() {
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
};

void Connect(const std::string& url, Connection* c) {
  ASSERT_EQ(natsConnection_ConnectTo(&c->nc, url.c_str()), NATS_OK);
  ASSERT_EQ(natsConnection_JetStream(&c->js, c->nc, nullptr), NATS_OK);
}

void Publish(jsCtx* js, const char* id, const std::string& data,
             bool* duplicate) {
  jsPubOptions options;
  jsPubOptions_Init(&options);
  options.MsgId = id;
  jsPubAck* ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  ASSERT_EQ(
      js_Publish(&ack, js, "t.a", data.data(), data.size(), &options, &code),
      NATS_OK)
      << code;
  *duplicate = ack->Duplicate;
  jsPubAck_Destroy(ack);
}

TEST(NatsServerTest, JetStreamDeduplicatesAndKeepsMessagesAcrossARestart) {
  auto server = NatsServer::Start(TempDir("nats"));
  ASSERT_TRUE(server.ok()) << server.status();
  {
    Connection c;
    Connect((*server)->url(), &c);
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = "T";
    const char* subjects[] = {"t.>"};
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    jsStreamInfo* info = nullptr;
    ASSERT_EQ(js_AddStream(&info, c.js, &config, nullptr, nullptr), NATS_OK);
    jsStreamInfo_Destroy(info);
    bool duplicate = true;
    Publish(c.js, "a:0", "one", &duplicate);
    EXPECT_FALSE(duplicate);
    Publish(c.js, "a:0", "one again", &duplicate);
    EXPECT_TRUE(duplicate);
  }
  (*server)->Kill();
  ASSERT_TRUE((*server)->Restart().ok()) << (*server)->Log();

  Connection c;
  Connect((*server)->url(), &c);
  natsSubscription* sub = nullptr;
  ASSERT_EQ(
      js_PullSubscribe(&sub, c.js, "t.>", "workers", nullptr, nullptr, nullptr),
      NATS_OK);
  natsMsgList list{};
  ASSERT_EQ(natsSubscription_Fetch(&list, sub, 10, 5000, nullptr), NATS_OK);
  ASSERT_EQ(list.Count, 1);
  EXPECT_EQ(std::string(natsMsg_GetData(list.Msgs[0]),
                        natsMsg_GetDataLength(list.Msgs[0])),
            "one");
  EXPECT_EQ(natsMsg_AckSync(list.Msgs[0], nullptr, nullptr), NATS_OK);
  natsMsgList_Destroy(&list);
  natsSubscription_Destroy(sub);
}

TEST(NatsServerTest, ReadmeClusterOfThreeTakesAStreamOfThreeReplicas) {
  const std::string certs = TempDir("certs");
  ASSERT_TRUE(MakeTestCertificates(certs));
  auto cluster = NatsServer::StartReadmeCluster(certs);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  NatsStreamOptions options;
  for (const auto& server : *cluster) options.servers.push_back(server->url());
  options.tls_ca = certs + "/ca.pem";
  options.replicas = 3;
  auto connection = NatsConnection::Connect(options, "test");
  ASSERT_TRUE(connection.ok()) << connection.status();
  // The servers elect a leader within seconds of meeting.
  absl::Status made;
  EXPECT_TRUE(WaitFor([&] {
    made = (*connection)->EnsureStream(options);
    return made.ok();
  })) << made
      << (*cluster)[0]->Log();
  jsStreamInfo* info = nullptr;
  ASSERT_EQ(
      js_GetStreamInfo(&info, (*connection)->js(), "ZIGGY", nullptr, nullptr),
      NATS_OK);
  EXPECT_EQ(info->Config->Replicas, 3);
  ASSERT_NE(info->Cluster, nullptr);
  EXPECT_EQ(info->Cluster->ReplicasLen, 2);  // besides the leader
  jsStreamInfo_Destroy(info);
}

}  // namespace
}  // namespace ziggy::testing
