#include "common/http_server.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <deque>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "httplib.h"

namespace ziggy {
namespace {

// "host:port" -> host (without IPv6 brackets; "*" -> "0.0.0.0") and port.
absl::Status SplitAddress(absl::string_view address, std::string* host,
                          int* port) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), port) || *port < 0 ||
      *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", address, "' is not host:port"));
  }
  absl::string_view h = address.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  }
  *host = h == "*" ? "0.0.0.0" : std::string(h);
  return absl::OkStatus();
}

// cpp-httplib's ThreadPool queues accepted connections without limit; this
// one makes the accepting thread wait when max_waiting are queued.
class BoundedTaskQueue : public httplib::TaskQueue {
 public:
  BoundedTaskQueue(int threads, size_t max_waiting)
      : max_waiting_(std::max<size_t>(max_waiting, 1)) {
    for (int i = 0; i < std::max(threads, 1); ++i) {
      threads_.emplace_back([this] { Work(); });
    }
  }

  void enqueue(std::function<void()> fn) override {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](BoundedTaskQueue* q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu_) {
          return q->jobs_.size() < q->max_waiting_;
        },
        this));
    jobs_.push_back(std::move(fn));
  }

  // Runs what is queued (each job closes its socket), then joins.
  void shutdown() override {
    {
      absl::MutexLock lock(&mu_);
      shutdown_ = true;
    }
    for (std::thread& t : threads_) t.join();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> job;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](BoundedTaskQueue* q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu_) {
              return !q->jobs_.empty() || q->shutdown_;
            },
            this));
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  const size_t max_waiting_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// A connection's socket as cpp-httplib reads and writes it, with the
// bounds of HttpServerOptions; every wait also ends when `stop_fd` is
// readable.
class BoundedStream : public httplib::Stream {
 public:
  BoundedStream(int sock, const HttpServerOptions& options, int stop_fd)
      : sock_(sock),
        options_(options),
        stop_fd_(stop_fd),
        deadline_(absl::Now() + options.connection_deadline) {}

  bool is_readable() const override {
    return buffered_ < buffer_.size() || Wait(POLLIN);
  }
  bool is_writable() const override { return Wait(POLLOUT); }

  ssize_t read(char* ptr, size_t size) override {
    if (buffered_ == buffer_.size() && !Fill()) return -1;
    const size_t n = std::min(size, buffer_.size() - buffered_);
    std::copy_n(buffer_.data() + buffered_, n, ptr);
    buffered_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!Wait(POLLOUT)) return -1;
    return send(sock_, ptr, size, MSG_NOSIGNAL);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    Address(getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    Address(getsockname, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  // Reads what the socket has, within the byte budget; false at the end of
  // the budget, of the connection or of the time.
  bool Fill() {
    const size_t left = options_.max_request_bytes - received_;
    if (left == 0 || !Wait(POLLIN)) return false;
    buffer_.resize(std::min<size_t>(left, 4096));
    const ssize_t n = recv(sock_, &buffer_[0], buffer_.size(), 0);
    if (n <= 0) {
      buffer_.clear();
      buffered_ = 0;
      return false;
    }
    buffer_.resize(static_cast<size_t>(n));
    buffered_ = 0;
    received_ += static_cast<size_t>(n);
    return true;
  }

  // Whether `events` came within io_timeout and before the deadline.
  bool Wait(short events) const {
    const absl::Duration left =
        std::min(options_.io_timeout, deadline_ - absl::Now());
    if (left <= absl::ZeroDuration()) return false;
    pollfd fds[2] = {{sock_, events, 0}, {stop_fd_, POLLIN, 0}};
    int ready;
    do {
      ready = poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(left)));
    } while (ready < 0 && errno == EINTR);
    return ready > 0 && fds[1].revents == 0 && (fds[0].revents & events);
  }

  using AddressOf = int (*)(int, sockaddr*, socklen_t*);
  void Address(AddressOf get, std::string& ip, int& port) const {
    sockaddr_storage address = {};
    socklen_t length = sizeof address;
    char text[INET6_ADDRSTRLEN] = {};
    port = 0;
    if (get(sock_, reinterpret_cast<sockaddr*>(&address), &length) != 0) return;
    if (address.ss_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
      inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
      port = ntohs(v4->sin_port);
    } else if (address.ss_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
      inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
      port = ntohs(v6->sin6_port);
    }
    ip = text;
  }

  const int sock_;
  const HttpServerOptions& options_;
  const int stop_fd_;
  const absl::Time deadline_;
  std::string buffer_;
  size_t buffered_ = 0;  // of buffer_, already read
  size_t received_ = 0;
};

// cpp-httplib's server, each connection served through a BoundedStream.
class BoundedHttplibServer : public httplib::Server {
 public:
  BoundedHttplibServer(const HttpServerOptions& options, int stop_fd)
      : options_(options), stop_fd_(stop_fd) {
    new_task_queue = [this] {
      return new BoundedTaskQueue(options_.threads, options_.max_waiting);
    };
    // cpp-httplib's default adds SO_REUSEPORT, with which a second daemon
    // would share a port in use instead of failing to bind it.
    set_socket_options([](socket_t sock) {
      const int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    BoundedStream stream(sock, options_, stop_fd_);
    bool closed = false;
    const bool ok =
        process_request(stream, /*close_connection=*/true, closed, nullptr);
    shutdown(sock, SHUT_RDWR);
    close(sock);
    return ok;
  }

  const HttpServerOptions& options_;
  const int stop_fd_;
};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options,
       std::map<std::string, RequestHandler> handlers)
      : options_(std::move(options)),
        handlers_(std::move(handlers)),
        stop_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        server_(options_, stop_fd_) {}

  ~Impl() {
    if (thread_.joinable()) {
      const uint64_t one = 1;
      ssize_t ignored = ::write(stop_fd_, &one, sizeof one);
      (void)ignored;
      server_.stop();
      thread_.join();
    }
    if (stop_fd_ >= 0) close(stop_fd_);
  }

  absl::Status Start(absl::string_view address) {
    if (stop_fd_ < 0) return absl::InternalError("eventfd failed");
    std::string host;
    if (absl::Status s = SplitAddress(address, &host, &port_); !s.ok()) {
      return s;
    }
    Route();
    if (port_ == 0) {
      port_ = server_.bind_to_any_port(host);
    } else if (!server_.bind_to_port(host, port_)) {
      port_ = -1;
    }
    if (port_ <= 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen for HTTP on ", address));
    }
    const bool v6 = host.find(':') != std::string::npos;
    url_ =
        absl::StrCat("http://", v6 ? "[" : "", host, v6 ? "]" : "", ":", port_);
    Listen();
    return absl::OkStatus();
  }

  int port() const { return port_; }
  const std::string& url() const { return url_; }

 private:
  // 404 and 405 before routing, so that every method gets them; GET and
  // HEAD of a served path go on to their handler.
  void Route() {
    server_.set_pre_routing_handler(
        [this](const httplib::Request& request, httplib::Response& response) {
          if (handlers_.count(request.path) == 0) {
            response.status = 404;
            response.set_content("not found\n", "text/plain; charset=utf-8");
            return httplib::Server::HandlerResponse::Handled;
          }
          if (request.method != "GET" && request.method != "HEAD") {
            response.status = 405;
            response.set_header("Allow", "GET, HEAD");
            response.set_content("method not allowed\n",
                                 "text/plain; charset=utf-8");
            return httplib::Server::HandlerResponse::Handled;
          }
          return httplib::Server::HandlerResponse::Unhandled;
        });
    for (const auto& [path, handler] : handlers_) {
      server_.Get(Pattern(path),
                  [&handler = handler](const httplib::Request& request,
                                       httplib::Response& response) {
                    HttpRequest query;
                    // A multimap: emplace keeps the first of a repeated key.
                    for (const auto& [key, value] : request.params) {
                      query.params.emplace(key, value);
                    }
                    HttpResponse answer = handler(query);
                    response.status = answer.status;
                    response.set_content(std::move(answer.body),
                                         answer.content_type.c_str());
                  });
    }
  }

  // cpp-httplib matches paths as regular expressions.
  static std::string Pattern(const std::string& path) {
    std::string pattern;
    for (const char c : path) {
      if (absl::string_view(".^$|()[]{}*+?\\").find(c) !=
          absl::string_view::npos) {
        pattern += '\\';
      }
      pattern += c;
    }
    return pattern;
  }

  // Serves on a thread of its own; returns once it accepts (stop() before
  // that would be lost: cpp-httplib's stop() only stops a running server).
  void Listen() {
    thread_ = std::thread([this] {
      server_.listen_after_bind();
      listen_returned_ = true;
    });
    while (!server_.is_running() && !listen_returned_) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }

  const HttpServerOptions options_;
  const std::map<std::string, RequestHandler> handlers_;
  const int stop_fd_;
  BoundedHttplibServer server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  int port_ = 0;
  std::string url_;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    absl::string_view address, std::map<std::string, Handler> handlers,
    HttpServerOptions options) {
  std::map<std::string, RequestHandler> adapted;
  for (auto& [path, handler] : handlers) {
    adapted.emplace(path, [handler = std::move(handler)](const HttpRequest&) {
      return handler();
    });
  }
  return StartWithQueries(address, std::move(adapted), std::move(options));
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::StartWithQueries(
    absl::string_view address, std::map<std::string, RequestHandler> handlers,
    HttpServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handlers));
  if (absl::Status s = impl->Start(address); !s.ok()) return s;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;
int HttpServer::port() const { return impl_->port(); }
const std::string& HttpServer::url() const { return impl_->url(); }

}  // namespace ziggy
