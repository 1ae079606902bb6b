#include "tests/ziggyd.h"

#include <bson/bson.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <numeric>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/net/endpoint.h"
#include "client/reader/control.h"
#include "client/reader/reader.h"
#include "gtest/gtest.h"

namespace ziggy::testing {
namespace {

// "control=tcp://127.0.0.1:41234" in `log` -> "127.0.0.1:41234".
std::string FindAddress(const std::string& log, absl::string_view name) {
  const std::string key = absl::StrCat(name, "=tcp://");
  const size_t at = log.find(key);
  if (at == std::string::npos) return "";
  const size_t start = at + key.size();
  const size_t end = log.find_first_of(" \n", start);
  return log.substr(start, end - start);
}

bool HasFlag(const std::vector<std::string>& flags, absl::string_view name) {
  return std::any_of(flags.begin(), flags.end(), [&](const std::string& f) {
    return absl::StartsWith(f, absl::StrCat("--", name, "="));
  });
}

}  // namespace

std::unique_ptr<Ziggyd> Ziggyd::Launch(std::vector<std::string> argv,
                                       const std::vector<std::string>& flags,
                                       const std::vector<const char*>& ports) {
  for (const char* name : ports) {
    if (!HasFlag(flags, name)) {
      argv.push_back(absl::StrCat("--", name, "=127.0.0.1:0"));
    }
  }
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto daemon = std::make_unique<Ziggyd>();
  daemon->process_ = Subprocess::Start(argv);
  if (daemon->process_ == nullptr) return nullptr;
  Ziggyd* d = daemon.get();
  bool up = false;
  WaitFor(
      [d, &up] {
        const bool exited = !d->process_->running();
        const std::string log = d->process_->Stderr();
        if (log.find("listening:") == std::string::npos) return exited;
        d->control_ = FindAddress(log, "control");
        d->collect_ = FindAddress(log, "collect");
        d->stream_ = FindAddress(log, "stream");
        d->relay_ = FindAddress(log, "relay");
        up = !exited;
        return true;
      },
      absl::Seconds(20), absl::Milliseconds(5));
  if (!up || !d->process_->running()) {
    std::cerr << argv[0] << " did not start:\n" << d->process_->Stderr();
    return nullptr;
  }
  return daemon;
}

RelayPeer::RelayPeer(const std::string& relay,
                     absl::optional<CurveSocketOptions> curve) {
  SocketOptions options;
  options.send_high_water_mark = 0;
  options.receive_timeout_ms = 10000;
  options.curve = std::move(curve);
  socket_ = MakeSocket(context_, zmq::socket_type::dealer, options);
  socket_.connect("tcp://" + relay);
}

void RelayPeer::Send(const RelayHeader& header, const std::string& payload) {
  socket_.send(zmq::buffer(EncodeRelayHeader(header)),
               zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(payload));
}

void RelayPeer::SendFrames(const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    socket_.send(zmq::buffer(frames[i]), i + 1 < frames.size()
                                             ? zmq::send_flags::sndmore
                                             : zmq::send_flags::none);
  }
}

Value RelayPeer::Reply() {
  zmq::message_t reply;
  if (!socket_.recv(reply)) return Value::MakeMap();
  absl::StatusOr<Value> doc =
      DecodeDocument(absl::string_view(reply.data<char>(), reply.size()));
  return doc.ok() ? *doc : Value::MakeMap();
}

std::unique_ptr<Ziggyd> Ziggyd::Start(const std::string& log_path,
                                      std::vector<std::string> flags) {
  if (!HasFlag(flags, "log-path")) flags.push_back("--log-path=" + log_path);
  auto daemon = Launch({RunfilesPath("collector/ziggyd")}, flags,
                       {"control", "collect", "stream", "relay"});
  if (daemon != nullptr) daemon->log_path_ = log_path;
  return daemon;
}

std::unique_ptr<Ziggyd> Ziggyd::StartForwarder(const std::string& spool_path,
                                               const std::string& upstream,
                                               std::vector<std::string> flags) {
  flags.push_back("--spool-path=" + spool_path);
  flags.push_back("--upstream=" + upstream);
  return Launch({RunfilesPath("forwarder/ziggy-forwarder")}, flags,
                {"control", "collect", "stream"});
}

absl::StatusOr<Value> Ziggyd::Call(absl::string_view command,
                                   const Value::Map& args) {
  ControlOptions options;
  options.timeout = absl::Seconds(5);
  options.curve = control_curve_;
  return CallControl(control_, command, args, options);
}

Value Ziggyd::Status() {
  absl::StatusOr<Value> status = Call("STATUS");
  return status.ok() ? *status : Value::MakeMap();
}

double Ziggyd::StatusNumber(absl::string_view path) {
  const Value status = Status();
  const Value* v = status.Find(path);
  if (v == nullptr) return 0;
  if (v->kind() == Value::Kind::kInt) return static_cast<double>(v->AsInt());
  if (v->kind() == Value::Kind::kDouble) return v->AsDouble();
  return 0;
}

std::string Ziggyd::StatusBytes() {
  zmq::context_t context;
  zmq::socket_t control(context, zmq::socket_type::req);
  control.set(zmq::sockopt::rcvtimeo, 5000);
  control.set(zmq::sockopt::linger, 0);
  control.connect("tcp://" + control_);
  control.send(
      zmq::buffer(EncodeDocument(Value(Value::Map{{"command", "STATUS"}}))));
  zmq::message_t reply;
  if (!control.recv(reply)) return "";
  return reply.to_string();
}

bool Ziggyd::WaitWritten(uint64_t count, absl::Duration timeout) {
  return WaitFor([&] { return StatusNumber("written") >= count; }, timeout);
}

Sender::Sender(const std::string& collect)
    : socket_(context_, zmq::socket_type::push) {
  socket_.set(zmq::sockopt::linger, 5000);
  socket_.connect("tcp://" + collect);
}

void Sender::Send(absl::string_view bytes) {
  socket_.send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::none);
}

void Sender::SendMultipart(const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    socket_.send(zmq::buffer(frames[i]), i + 1 < frames.size()
                                             ? zmq::send_flags::sndmore
                                             : zmq::send_flags::none);
  }
}

void SendMalformedMix(Sender& sender, const std::function<void()>& send_good) {
  sender.Send("not bson at all");
  send_good();
  const std::string whole = ForeignEvent("good", 2, 0);
  sender.Send(whole.substr(0, whole.size() - 3));  // truncated
  send_good();
  std::string bad_length = whole;
  bad_length[0] = '\x7f';
  sender.Send(bad_length);
  send_good();
  sender.Send(ForeignEvent("", 3, 0));  // empty type
  send_good();
  bson_t no_type;
  bson_init(&no_type);
  BSON_APPEND_INT32(&no_type, "type", 5);
  sender.Send(std::string(
      reinterpret_cast<const char*>(bson_get_data(&no_type)), no_type.len));
  bson_destroy(&no_type);
  send_good();
  sender.Send(ForeignEvent(std::string(5000, 'O'), 4, 0));  // oversized
  send_good();
  sender.SendMultipart({whole, whole});
  send_good();
  // Batches: trailing bytes drop the whole message; with whole documents,
  // each is judged alone (an empty type, an oversized one).
  sender.Send(absl::StrCat(whole, whole, std::string("\x05\x00", 2)));
  send_good();
  sender.Send(absl::StrCat(ForeignEvent("", 3, 1),
                           ForeignEvent(std::string(5000, 'O'), 4, 1)));
  send_good();
}

void SendInvalidUtf8(Sender& sender, const std::function<void()>& send_good) {
  // A surrogate in a string value, an overlong key, a bad type and a host
  // cut mid-sequence, a four-byte sequence cut short at the end.
  sender.Send(ForeignEvent("utf8", 1, 0, "test-host", "text", "v\xED\xA0\x80"));
  send_good();
  sender.Send(ForeignEvent("utf8", 1, 1, "test-host", "k\xC0\xAF", "v"));
  send_good();
  sender.Send(ForeignEvent("bad\xFF", 1, 2, "h\xE2\x82"));
  send_good();
  sender.Send(ForeignEvent("utf8", 1, 3, "test-host", "text", "\xF0\x9F\x98"));
  send_good();
}

std::string ForeignEvent(absl::string_view type, int64_t sender, int64_t seq,
                         absl::string_view host, const std::string& text_key,
                         absl::string_view text) {
  bson_t doc, body;
  bson_init(&doc);
  bson_append_utf8(&doc, "id", -1, "0123456789abcdef0123456789abcdef", -1);
  bson_append_utf8(&doc, "type", -1, type.data(),
                   static_cast<int>(type.size()));
  bson_append_utf8(&doc, "host", -1, host.data(),
                   static_cast<int>(host.size()));
  BSON_APPEND_INT32(&doc, "pid", 1);
  BSON_APPEND_DOUBLE(&doc, "start", 1.0);
  BSON_APPEND_DOUBLE(&doc, "end", 2.0);
  BSON_APPEND_DOCUMENT_BEGIN(&doc, "body", &body);
  BSON_APPEND_INT64(&body, "sender", sender);
  BSON_APPEND_INT64(&body, "seq", seq);
  if (!text_key.empty()) {
    bson_append_utf8(&body, text_key.c_str(), -1, text.data(),
                     static_cast<int>(text.size()));
  }
  bson_append_document_end(&doc, &body);
  std::string bytes(reinterpret_cast<const char*>(bson_get_data(&doc)),
                    doc.len);
  bson_destroy(&doc);
  return bytes;
}

std::vector<std::string> ListFiles(const std::string& root) {
  std::vector<std::string> files;
  std::function<void(const std::string&)> walk = [&](const std::string& rel) {
    const std::string dir = rel.empty() ? root : root + "/" + rel;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return;
    while (dirent* entry = readdir(d)) {
      const std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      const std::string child = rel.empty() ? name : rel + "/" + name;
      struct stat st;
      if (lstat((root + "/" + child).c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        walk(child);
      } else {
        files.push_back(child);
      }
    }
    closedir(d);
  };
  walk("");
  std::sort(files.begin(), files.end());
  return files;
}

void LimitFileSize(pid_t pid, uint64_t bytes) {
  struct rlimit limit;
  ASSERT_EQ(prlimit(pid, RLIMIT_FSIZE, nullptr, &limit), 0);
  limit.rlim_cur = bytes == 0 ? limit.rlim_max : bytes;
  ASSERT_EQ(prlimit(pid, RLIMIT_FSIZE, &limit, nullptr), 0);
}

int UnusedPort() {
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::router);
  socket.set(zmq::sockopt::linger, 0);
  socket.bind("tcp://127.0.0.1:*");
  const std::string endpoint = socket.get(zmq::sockopt::last_endpoint);
  socket.close();
  context.close();  // waits until the listener is really gone
  return EndpointPort(endpoint);
}

std::multiset<std::pair<int64_t, int64_t>> ReadSequences(
    const std::string& log_path) {
  std::multiset<std::pair<int64_t, int64_t>> seen;
  for (const std::string& file : ListFiles(log_path)) {
    if (file.find(".log") == std::string::npos || file[0] == '.') continue;
    for (const Event& e : ReadEvents(log_path + "/" + file)) {
      const Value* sender = e.body.Find("sender");
      const Value* seq = e.body.Find("seq");
      if (sender != nullptr && seq != nullptr) {
        seen.insert({sender->AsInt(), seq->AsInt()});
      }
    }
  }
  return seen;
}

void SendSeedAndBatched(const std::string& collect, int senders,
                        int per_sender) {
  std::vector<std::thread> threads;
  for (int sender = 0; sender < senders; ++sender) {
    threads.emplace_back([&collect, sender, per_sender] {
      Sender socket(collect);
      const bool batching = sender % 2 == 1;
      std::string message;
      size_t events = 0, target = 1, messages = 0;
      bool broken_sent = false;
      for (int seq = 0; seq < per_sender; ++seq) {
        message += ForeignEvent("mixed", sender, seq);
        if (++events < target && seq + 1 < per_sender) continue;
        socket.Send(message);
        message.clear();
        events = 0;
        if (!batching) continue;
        target = 1 + ++messages % 7;
        if (!broken_sent && seq >= per_sender / 2) {
          const std::string lost = ForeignEvent("mixed", sender, -1);
          socket.Send(absl::StrCat(lost, lost.substr(0, lost.size() - 1)));
          broken_sent = true;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

void ExpectSeedAndBatched(const std::string& log_path, int senders,
                          int per_sender) {
  std::vector<std::vector<int64_t>> seqs(static_cast<size_t>(senders));
  for (const std::string& file : ListFiles(log_path)) {
    if (!absl::StrContains(file, "/mixed-")) continue;
    for (const Event& e : ReadEvents(log_path + "/" + file)) {
      const int64_t sender = e.body.Find("sender")->AsInt();
      ASSERT_TRUE(sender >= 0 && sender < senders) << sender;
      seqs[static_cast<size_t>(sender)].push_back(e.body.Find("seq")->AsInt());
    }
  }
  std::vector<int64_t> all(static_cast<size_t>(per_sender));
  std::iota(all.begin(), all.end(), 0);
  for (int sender = 0; sender < senders; ++sender) {
    EXPECT_EQ(seqs[static_cast<size_t>(sender)], all) << "sender " << sender;
  }
}

std::vector<std::string> ReadDocuments(const std::string& path,
                                       std::string* damage) {
  std::vector<std::string> docs;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return docs;
  DocumentReader reader(fd);
  absl::string_view doc;
  while (reader.Next(&doc)) docs.emplace_back(doc);
  close(fd);
  if (damage != nullptr)
    *damage = reader.status().ok() ? "" : reader.status().ToString();
  return docs;
}

std::vector<Event> ReadEvents(const std::string& path, std::string* damage) {
  std::vector<Event> events;
  for (const std::string& doc : ReadDocuments(path, damage)) {
    absl::StatusOr<Event> event = DecodeEvent(doc);
    if (event.ok()) events.push_back(*std::move(event));
  }
  return events;
}

}  // namespace ziggy::testing
