// HttpServer over real TCP: routes, 404 and 405, and the bounds a hostile
// client meets (request size, connection deadline, a full queue).

#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace ziggy {
namespace {

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options = {},
                                        std::atomic<int>* calls = nullptr) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      "127.0.0.1:0",
      {{"/metrics",
        [calls] {
          if (calls != nullptr) ++*calls;
          return HttpResponse{200, "text/plain; version=0.0.4", "x 1\n"};
        }}},
      options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// A raw TCP connection to the server.
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address),
            0);
  return fd;
}

// Whether the server closes `fd` (EOF or reset) within `timeout`, reading
// and discarding what it sends.
bool ClosedWithin(int fd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  char buffer[4096];
  while (absl::Now() < deadline) {
    pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return true;
  }
  return false;
}

TEST(HttpServerTest, ServesGetAndHead) {
  std::unique_ptr<HttpServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->url(),
            "http://127.0.0.1:" + std::to_string(server->port()));
  httplib::Client client("127.0.0.1", server->port());
  httplib::Result got = client.Get("/metrics");
  ASSERT_TRUE(got) << httplib::to_string(got.error());
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "x 1\n");
  EXPECT_EQ(got->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_EQ(got->get_header_value("Connection"), "close");
  httplib::Result head = client.Head("/metrics");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->body, "");
}

TEST(HttpServerTest, OtherPathsAre404AndOtherMethods405) {
  std::unique_ptr<HttpServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  for (const char* path : {"/", "/metrics/", "/metricsx", "/Metrics"}) {
    httplib::Result got = client.Get(path);
    ASSERT_TRUE(got) << path;
    EXPECT_EQ(got->status, 404) << path;
  }
  httplib::Result post = client.Post("/metrics", "a=1", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
  httplib::Result del = client.Delete("/metrics");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);
  httplib::Result post_elsewhere = client.Post("/x", "a=1", "text/plain");
  ASSERT_TRUE(post_elsewhere);
  EXPECT_EQ(post_elsewhere->status, 404);
}

TEST(HttpServerTest, PathsMatchLiterally) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      "127.0.0.1:0", {{"/a_b.txt", [] {
                         return HttpResponse{200, "text/plain", "ok"};
                       }}});
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  httplib::Result exact = client.Get("/a_b.txt");
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->status, 200);
  httplib::Result any = client.Get("/a_bXtxt");
  ASSERT_TRUE(any);
  EXPECT_EQ(any->status, 404);
}

TEST(HttpServerTest, RequestHandlersGetTheDecodedQueryParameters) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::StartWithQueries(
          "127.0.0.1:0", {{"/api", [](const HttpRequest& request) {
                             std::string body;
                             for (const auto& [key, value] : request.params) {
                               body += key + "=" + value + ";";
                             }
                             return HttpResponse{200, "text/plain", body};
                           }}});
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  httplib::Result got =
      client.Get("/api?where=status%20%3E%3D%20500&a=1&a=2&empty=");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "a=1;empty=;where=status >= 500;");
}

TEST(HttpServerTest, AnOversizedRequestEndsItsConnection) {
  HttpServerOptions options;
  options.io_timeout = absl::Seconds(60);
  options.connection_deadline = absl::Seconds(60);
  std::atomic<int> calls{0};
  std::unique_ptr<HttpServer> server = StartServer(options, &calls);
  ASSERT_NE(server, nullptr);
  const int fd = Connect(server->port());
  // Endless headers: cpp-httplib alone keeps every one of them.
  std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
  while (request.size() < 4 * options.max_request_bytes) {
    request += "X-Filler: " + std::string(1000, 'a') + "\r\n";
  }
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  EXPECT_TRUE(ClosedWithin(fd, absl::Seconds(10)));
  close(fd);
  EXPECT_EQ(calls, 0);
  // The server still serves.
  httplib::Client client("127.0.0.1", server->port());
  httplib::Result got = client.Get("/metrics");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
}

TEST(HttpServerTest, IdleConnectionsEndAtTheDeadlineAndDoNotBlockOthers) {
  HttpServerOptions options;
  options.threads = 2;
  options.max_waiting = 2;
  options.io_timeout = absl::Seconds(60);  // only the deadline ends them
  options.connection_deadline = absl::Milliseconds(500);
  std::unique_ptr<HttpServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  // More silent connections than threads and queue together.
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(Connect(server->port()));
  httplib::Client client("127.0.0.1", server->port());
  client.set_connection_timeout(30);
  client.set_read_timeout(30);
  const absl::Time start = absl::Now();
  httplib::Result got = client.Get("/metrics");
  ASSERT_TRUE(got) << httplib::to_string(got.error());
  EXPECT_EQ(got->status, 200);
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  for (const int fd : idle) {
    EXPECT_TRUE(ClosedWithin(fd, absl::Seconds(20)));
    close(fd);
  }
}

TEST(HttpServerTest, StopsPromptlyWithAConnectionOpen) {
  HttpServerOptions options;
  options.io_timeout = absl::Seconds(60);
  options.connection_deadline = absl::Seconds(60);
  std::unique_ptr<HttpServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int fd = Connect(server->port());
  send(fd, "GET /met", 8, MSG_NOSIGNAL);
  absl::SleepFor(absl::Milliseconds(100));  // let a thread take it
  const absl::Time start = absl::Now();
  server.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  close(fd);
}

TEST(HttpServerTest, RefusesBadAddresses) {
  for (const char* address :
       {"nohost", "127.0.0.1:port", "127.0.0.1:70000", ":80"}) {
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start(address, {});
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument)
        << address;
  }
  std::unique_ptr<HttpServer> taken = StartServer();
  ASSERT_NE(taken, nullptr);
  absl::StatusOr<std::unique_ptr<HttpServer>> again =
      HttpServer::Start("127.0.0.1:" + std::to_string(taken->port()), {});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ziggy
