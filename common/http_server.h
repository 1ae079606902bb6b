// HttpServer: a small read-only HTTP server (cpp-httplib, Debian's
// libcpp-httplib) for the daemons' --metrics and ziggyview --serve: GET (and
// HEAD) on a few fixed paths (handlers may read the query parameters), 404 for
// any other path, 405 (Allow: GET, HEAD) for any other method on a served path.
//
// Bounded so that a hostile client cannot grow memory or hold the daemon:
// `threads` requests are served at once, at most `max_waiting` accepted
// connections wait for a thread (beyond that the server stops accepting
// and the kernel's listen backlog holds the rest), one request per
// connection (Connection: close), a request larger than max_request_bytes
// (request line, headers and body together) ends its connection, and every
// connection ends by connection_deadline, whatever it sends, with each read
// and write also bounded by io_timeout. cpp-httplib keeps every header it
// reads, with no limit of its own: hence the byte bound, counted in a Stream
// of our own (process_and_close_socket is cpp-httplib's extension point,
// as its SSLServer uses it).
//
// Thread-safety: handlers run on the server's threads, several at once;
// the object's methods from the thread that started it.

#ifndef ZIGGY_COMMON_HTTP_SERVER_H_
#define ZIGGY_COMMON_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ziggy {

struct HttpServerOptions {
  int threads = 2;         // requests served at once
  size_t max_waiting = 8;  // accepted connections waiting for a thread
  size_t max_request_bytes = 16 << 10;
  absl::Duration io_timeout = absl::Seconds(2);           // per read/write
  absl::Duration connection_deadline = absl::Seconds(5);  // whole connection
};

// What a handler sees of a request: its query parameters, decoded
// ("/api/series?type=request&field=body.request_time"). A parameter given
// twice keeps its first value.
struct HttpRequest {
  std::map<std::string, std::string> params;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  // Answers a GET of its path (HEAD gets the same headers, no body).
  using Handler = std::function<HttpResponse()>;
  // The same, given the request's query parameters (the dashboard's API).
  using RequestHandler = std::function<HttpResponse(const HttpRequest&)>;

  // Binds `address` (host:port, IPv6 in brackets; port 0 picks a free one;
  // host "*" is every interface) and serves `handlers` (path -> handler) on
  // a thread of its own. kInvalidArgument for a malformed address,
  // kUnavailable when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      absl::string_view address, std::map<std::string, Handler> handlers,
      HttpServerOptions options = {});
  // As above, for handlers that read the query parameters.
  static absl::StatusOr<std::unique_ptr<HttpServer>> StartWithQueries(
      absl::string_view address, std::map<std::string, RequestHandler> handlers,
      HttpServerOptions options = {});
  // Stops accepting, ends the connections (those in progress within
  // io_timeout) and joins the threads.
  ~HttpServer();

  // The bound port.
  int port() const;
  // "http://host:port", the port bound.
  const std::string& url() const;

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ziggy

#endif  // ZIGGY_COMMON_HTTP_SERVER_H_
