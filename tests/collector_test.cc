// ziggyd end to end: the built binary, real sockets, real files.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/format/event.h"
#include "client/testing/strict_bson.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/process.h"
#include "tests/ziggyd.h"
#include "zmq_addon.hpp"

namespace ziggy::testing {
namespace {

// 2023-11-14 00:00:00 UTC.
constexpr int64_t kDayStart = 1699920000;
constexpr const char* kDay = "20231114";

std::string FakeTime(int64_t unix_seconds) {
  return absl::StrCat("--fake-time=", unix_seconds);
}

// (sender, seq) of every event in every file under the log path, checking
// that each file holds only its own type.
std::multiset<std::pair<int64_t, int64_t>> ReadAllSequences(
    const std::string& log_path,
    std::map<std::string, int>* per_file = nullptr) {
  std::multiset<std::pair<int64_t, int64_t>> seen;
  for (const std::string& file : ListFiles(log_path)) {
    std::string damage;
    const std::vector<Event> events =
        ReadEvents(log_path + "/" + file, &damage);
    EXPECT_EQ(damage, "") << file;
    for (const Event& e : events) {
      EXPECT_TRUE(absl::StrContains(file, "/" + e.type + "-"))
          << file << " holds " << e.type;
      seen.insert(
          {e.body.Find("sender")->AsInt(), e.body.Find("seq")->AsInt()});
    }
    if (per_file != nullptr)
      (*per_file)[file] = static_cast<int>(events.size());
  }
  return seen;
}

TEST(CollectorTest, ConcurrentSendersLandInTheirTypeFiles) {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(logs, {FakeTime(kDayStart + 3600)});
  ASSERT_NE(ziggyd, nullptr);
  constexpr int kSenders = 4, kEvents = 2500;
  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      Sender sender(ziggyd->collect());
      for (int i = 0; i < kEvents; ++i) {
        const std::string type =
            i % 2 == 0 ? "request" : absl::StrCat("sender", s);
        sender.Send(ForeignEvent(type, s, i, absl::StrCat("host", s)));
      }
    });
  }
  for (auto& t : senders) t.join();
  const uint64_t total = kSenders * kEvents;
  ASSERT_TRUE(ziggyd->WaitWritten(total)) << ziggyd->Status().DebugString();

  std::map<std::string, int> per_file;
  const auto seen = ReadAllSequences(logs, &per_file);
  EXPECT_EQ(seen.size(), total);
  for (int s = 0; s < kSenders; ++s) {
    for (int i = 0; i < kEvents; ++i)
      EXPECT_EQ(seen.count({s, i}), 1u) << s << " " << i;
  }
  EXPECT_EQ(per_file[absl::StrCat(kDay, "/request-", kDay, ".log")], total / 2);
  EXPECT_EQ(per_file[absl::StrCat(kDay, "/sender0-", kDay, ".log")],
            kEvents / 2);
  EXPECT_EQ(per_file.size(), 1u + kSenders);

  const Value status = ziggyd->Status();
  EXPECT_EQ(status.Find("received")->AsInt(), static_cast<int64_t>(total));
  EXPECT_EQ(status.Find("written")->AsInt(), static_cast<int64_t>(total));
  EXPECT_EQ(status.Find("events.request.count")->AsInt(), total / 2);
  EXPECT_EQ(status.Find("events.sender3.count")->AsInt(), kEvents / 2);
  EXPECT_EQ(status.Find("hosts.host2.count")->AsInt(), kEvents);
  EXPECT_DOUBLE_EQ(status.Find("last")->AsDouble(), kDayStart + 3600.0);
  EXPECT_DOUBLE_EQ(status.Find("lag")->AsDouble(), kDayStart + 3600.0 - 2.0);
  EXPECT_EQ(status.Find("dropped.malformed")->AsInt(), 0);
}

TEST(CollectorTest, CreatesTheLogPathAtStart) {
  const std::string logs = TempDir("parent") + "/not/yet/there";
  auto ziggyd = Ziggyd::Start(logs);
  ASSERT_NE(ziggyd, nullptr);
  struct stat st;
  EXPECT_EQ(stat(logs.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST(CollectorTest, EventsFromTheClientLibraryLand) {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(logs, {FakeTime(kDayStart)});
  ASSERT_NE(ziggyd, nullptr);
  Event event;
  event.type = "request";
  event.id = "abc";
  event.body = Value(Value::Map{{"sender", 9}, {"seq", 1}});
  Sender(ziggyd->collect()).Send(EncodeEvent(event));
  ASSERT_TRUE(ziggyd->WaitWritten(1));
  const auto events =
      ReadEvents(absl::StrCat(logs, "/", kDay, "/request-", kDay, ".log"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].id, "abc");
}

TEST(CollectorTest, RotatesByHourBlockAndDay) {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(
      logs, {"--rotate-hours=6", FakeTime(kDayStart + 6 * 3600 - 10)});
  ASSERT_NE(ziggyd, nullptr);
  Sender sender(ziggyd->collect());
  sender.Send(ForeignEvent("r", 0, 0));
  ASSERT_TRUE(ziggyd->WaitWritten(1));
  ASSERT_TRUE(ziggyd->Call("ADVANCE_CLOCK", {{"seconds", 20}}).ok());
  sender.Send(ForeignEvent("r", 0, 1));
  ASSERT_TRUE(ziggyd->WaitWritten(2));
  ASSERT_TRUE(ziggyd->Call("ADVANCE_CLOCK", {{"seconds", 18 * 3600}}).ok());
  sender.Send(ForeignEvent("r", 0, 2));
  ASSERT_TRUE(ziggyd->WaitWritten(3));
  const std::vector<std::string> expected = {
      absl::StrCat(kDay, "/r-", kDay, "-00.log"),
      absl::StrCat(kDay, "/r-", kDay, "-06.log"), "20231115/r-20231115-00.log"};
  EXPECT_EQ(ListFiles(logs), expected);
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto events = ReadEvents(logs + "/" + expected[i]);
    ASSERT_EQ(events.size(), 1u) << expected[i];
    EXPECT_EQ(events[0].body.Find("seq")->AsInt(), static_cast<int64_t>(i));
  }
}

TEST(CollectorTest, ReopensADeletedFile) {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(logs, {FakeTime(kDayStart)});
  ASSERT_NE(ziggyd, nullptr);
  const std::string path = absl::StrCat(logs, "/", kDay, "/t-", kDay, ".log");
  Sender sender(ziggyd->collect());
  sender.Send(ForeignEvent("t", 0, 0));
  ASSERT_TRUE(ziggyd->WaitWritten(1));
  ASSERT_EQ(unlink(path.c_str()), 0);
  // Keep sending until events show up in a new file at the same path.
  int seq = 1;
  ASSERT_TRUE(WaitFor([&] {
    sender.Send(ForeignEvent("t", 0, seq++));
    return !ReadEvents(path).empty();
  }));
  EXPECT_GE(ziggyd->StatusNumber("reopened_files"), 1);
  for (const Event& e : ReadEvents(path))
    EXPECT_GE(e.body.Find("seq")->AsInt(), 1);
}

TEST(CollectorTest, RepairsATornTailBeforeAppending) {
  const std::string logs = TempDir("logs");
  const std::string path = absl::StrCat(logs, "/", kDay, "/t-", kDay, ".log");
  {
    auto ziggyd = Ziggyd::Start(logs, {FakeTime(kDayStart)});
    ASSERT_NE(ziggyd, nullptr);
    Sender sender(ziggyd->collect());
    for (int i = 0; i < 10; ++i) sender.Send(ForeignEvent("t", 0, i));
    ASSERT_TRUE(ziggyd->WaitWritten(10));
    ziggyd->process().Signal(SIGTERM);
    ASSERT_EQ(ziggyd->process().Wait(), 0);
  }
  // The writer "died" 7 bytes into its last record.
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  ASSERT_EQ(truncate(path.c_str(), st.st_size - 7), 0);
  std::string damage;
  EXPECT_EQ(ReadEvents(path, &damage).size(), 9u);
  EXPECT_TRUE(absl::StrContains(damage, "torn tail")) << damage;

  auto ziggyd = Ziggyd::Start(logs, {FakeTime(kDayStart)});
  ASSERT_NE(ziggyd, nullptr);
  Sender sender(ziggyd->collect());
  for (int i = 10; i < 15; ++i) sender.Send(ForeignEvent("t", 0, i));
  ASSERT_TRUE(ziggyd->WaitWritten(5));
  const auto events = ReadEvents(path, &damage);
  EXPECT_EQ(damage, "");
  ASSERT_EQ(events.size(), 14u);
  std::vector<int64_t> seqs;
  for (const Event& e : events) seqs.push_back(e.body.Find("seq")->AsInt());
  EXPECT_EQ(seqs, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12,
                                        13, 14}));
  EXPECT_EQ(ziggyd->StatusNumber("repaired_tails"), 1);
}

TEST(CollectorTest, SetsADamagedFileAsideInsteadOfAppendingToIt) {
  const std::string logs = TempDir("logs");
  const std::string dir = absl::StrCat(logs, "/", kDay);
  const std::string path = absl::StrCat(dir, "/t-", kDay, ".log");
  mkdir(logs.c_str(), 0755);
  mkdir(dir.c_str(), 0755);
  const std::string good = ForeignEvent("t", 0, 0);
  std::ofstream(path, std::ios::binary)
      << good << "garbage in the middle" << good;
  auto ziggyd = Ziggyd::Start(logs, {FakeTime(kDayStart)});
  ASSERT_NE(ziggyd, nullptr);
  Sender(ziggyd->collect()).Send(ForeignEvent("t", 0, 1));
  ASSERT_TRUE(ziggyd->WaitWritten(1));
  const auto files = ListFiles(logs);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_TRUE(absl::StrContains(files[1], ".log.corrupt-")) << files[1];
  EXPECT_EQ(ReadFileOrEmpty(logs + "/" + files[1]).size(),
            2 * good.size() + 21);
  EXPECT_EQ(ReadEvents(path).size(), 1u);
  EXPECT_EQ(ziggyd->StatusNumber("corrupt_files"), 1);
}

// Seed senders (an event a message) and batching senders (several events
// back to back a message) at once: every event written once, in each
// sender's order; a batch whose framing breaks is dropped whole, counted.
TEST(CollectorTest, SeedAndBatchedSendersMix) {
  const std::string logs = TempDir("mix") + "/logs";
  auto ziggyd = Ziggyd::Start(logs, {FakeTime(kDayStart)});
  ASSERT_NE(ziggyd, nullptr);
  constexpr int kSenders = 6, kPerSender = 500;
  SendSeedAndBatched(ziggyd->collect(), kSenders, kPerSender);
  ASSERT_TRUE(ziggyd->WaitWritten(kSenders * kPerSender))
      << ziggyd->Status().DebugString();
  EXPECT_EQ(ziggyd->StatusNumber("received"), kSenders * kPerSender);
  EXPECT_EQ(ziggyd->StatusNumber("dropped.malformed"), kSenders / 2);
  ExpectSeedAndBatched(logs, kSenders, kPerSender);
}

TEST(CollectorTest, HostileTypesAndMalformedFramesAreContained) {
  const std::string root = TempDir("hostile");
  const std::string logs = root + "/logs";
  auto ziggyd =
      Ziggyd::Start(logs, {FakeTime(kDayStart), "--max-event-bytes=4096"});
  ASSERT_NE(ziggyd, nullptr);
  Sender sender(ziggyd->collect());
  const std::vector<std::string> hostile = {
      "../x",     "../../../../etc/ziggy",
      "a/b",      "/abs",
      ".",        "..",
      ".hidden",  std::string(300, 'L'),
      "\xff\xfe", std::string("nul\0byte", 8),
      "%2F",      "spaces and\ttabs\n"};
  int good = 0;
  auto send_good = [&] { sender.Send(ForeignEvent("good", 0, good++)); };
  for (const std::string& type : hostile) {
    sender.Send(ForeignEvent(type, 1, 0));
    send_good();
  }
  SendMalformedMix(sender, send_good);

  const uint64_t expected_written = hostile.size() + good;
  ASSERT_TRUE(ziggyd->WaitWritten(expected_written))
      << ziggyd->Status().DebugString();
  // Nothing outside the log path: the root holds only it.
  EXPECT_EQ(ListFiles(root).size(), ListFiles(logs).size());
  for (const std::string& file : ListFiles(logs)) {
    EXPECT_TRUE(absl::StartsWith(file, absl::StrCat(kDay, "/"))) << file;
    EXPECT_EQ(file.find('/'), file.rfind('/')) << file;  // one level deep
  }
  // Every good event arrived, in order.
  const auto events =
      ReadEvents(absl::StrCat(logs, "/", kDay, "/good-", kDay, ".log"));
  ASSERT_EQ(events.size(), static_cast<size_t>(good));
  for (int i = 0; i < good; ++i)
    EXPECT_EQ(events[i].body.Find("seq")->AsInt(), i);
  // Each hostile type is in a file of its own and keeps its exact type...
  std::set<std::string> types;
  for (const std::string& file : ListFiles(logs)) {
    for (const Event& e : ReadEvents(logs + "/" + file)) {
      if (e.body.Find("sender")->AsInt() == 1) types.insert(e.type);
    }
  }
  // ... but text that is not UTF-8 is repaired (\xFF and \xFE: one U+FFFD
  // each).
  std::set<std::string> expected(hostile.begin(), hostile.end());
  expected.erase("\xff\xfe");
  expected.insert("\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(types, expected);
  for (const auto& [counter, count] : kMalformedMixDrops) {
    EXPECT_EQ(ziggyd->StatusNumber(counter), count) << counter;
  }
  EXPECT_TRUE(ziggyd->process().running());
}

// Text that is not UTF-8 from a foreign client is repaired before it is
// stored: every document of every file, and the STATUS reply naming the
// repaired type and host, pass a strict reader's checks (pymongo would read
// the whole file); the valid events around them are stored byte for byte.
TEST(CollectorTest, InvalidUtf8IsRepairedSoStrictReadersReadEverything) {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(logs, {FakeTime(kDayStart)});
  ASSERT_NE(ziggyd, nullptr);
  Sender sender(ziggyd->collect());
  std::vector<std::string> good;
  auto send_good = [&] {
    good.push_back(ForeignEvent("utf8", 0, static_cast<int64_t>(good.size()),
                                "test-host", "text", "caf\xC3\xA9"));
    sender.Send(good.back());
  };
  send_good();
  SendInvalidUtf8(sender, send_good);
  const size_t total = good.size() + kInvalidUtf8Events;
  ASSERT_TRUE(ziggyd->WaitWritten(total)) << ziggyd->Status().DebugString();

  const std::string r = "\xEF\xBF\xBD";  // U+FFFD
  std::vector<std::string> stored_good;
  std::map<int64_t, Event> repaired;
  size_t stored = 0;
  for (const std::string& file : ListFiles(logs)) {
    for (const std::string& doc : ReadDocuments(logs + "/" + file)) {
      ++stored;
      EXPECT_TRUE(StrictlyValid(doc)) << file << ": " << absl::CEscape(doc);
      absl::StatusOr<Event> event = DecodeEvent(doc);
      ASSERT_TRUE(event.ok()) << event.status();
      if (event->body.Find("sender")->AsInt() == 0) {
        stored_good.push_back(doc);
      } else {
        repaired[event->body.Find("seq")->AsInt()] = *std::move(event);
      }
    }
  }
  EXPECT_EQ(stored, total);
  EXPECT_EQ(stored_good, good);  // untouched, in order
  ASSERT_EQ(repaired.size(), static_cast<size_t>(kInvalidUtf8Events));
  EXPECT_EQ(repaired[0].body.Find("text")->AsString(), "v" + r + r + r);
  EXPECT_NE(repaired[1].body.Get("k" + r + r), nullptr);
  EXPECT_EQ(repaired[2].type, "bad" + r);
  EXPECT_EQ(repaired[2].host, "h" + r);
  EXPECT_EQ(repaired[3].body.Find("text")->AsString(), r);

  const std::string status = ziggyd->StatusBytes();
  EXPECT_TRUE(StrictlyValid(status));
  const absl::StatusOr<Value> decoded = DecodeDocument(status);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  for (const std::string& name : {"events.bad" + r, "hosts.h" + r}) {
    EXPECT_NE(decoded->Find(name), nullptr) << name << decoded->DebugString();
  }
  EXPECT_EQ(ziggyd->StatusNumber("repaired.utf8"), kInvalidUtf8Events);
  EXPECT_EQ(ziggyd->StatusNumber("received"), total);
}

TEST(CollectorTest, SigtermWritesEverythingReceivedAndExitsZero) {
  const std::string logs = TempDir("logs");
  auto ziggyd =
      Ziggyd::Start(logs, {FakeTime(kDayStart), "--flush-interval-ms=60000"});
  ASSERT_NE(ziggyd, nullptr);
  Sender sender(ziggyd->collect());
  constexpr int kEvents = 5000;
  for (int i = 0; i < kEvents; ++i) sender.Send(ForeignEvent("t", 0, i));
  ASSERT_TRUE(
      WaitFor([&] { return ziggyd->StatusNumber("received") >= kEvents; }));
  ziggyd->process().Signal(SIGTERM);
  EXPECT_EQ(ziggyd->process().Wait(), 0) << ziggyd->process().Stderr();
  EXPECT_EQ(ReadAllSequences(logs).size(), static_cast<size_t>(kEvents));
}

TEST(CollectorTest, StreamCarriesTypeAndEvent) {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(logs, {FakeTime(kDayStart)});
  ASSERT_NE(ziggyd, nullptr);
  absl::StatusOr<Value> port = ziggyd->Call("SOCK_STREAM");
  ASSERT_TRUE(port.ok()) << port.status();
  zmq::context_t context;
  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::rcvtimeo, 100);
  sub.set(zmq::sockopt::subscribe, "req");
  sub.connect(absl::StrCat("tcp://127.0.0.1:", port->Find("port")->AsInt()));
  Sender sender(ziggyd->collect());
  std::vector<zmq::message_t> frames;
  ASSERT_TRUE(WaitFor([&] {
    sender.Send(ForeignEvent("other", 0, 0));
    sender.Send(ForeignEvent("request", 0, 1));
    frames.clear();
    return zmq::recv_multipart(sub, std::back_inserter(frames)).has_value();
  }));
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].to_string(), "request");
  absl::StatusOr<Event> event =
      DecodeEvent(absl::string_view(frames[1].data<char>(), frames[1].size()));
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event->type, "request");
}

TEST(CollectorTest, ControlPortAnswersEveryCommand) {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(logs);
  ASSERT_NE(ziggyd, nullptr);
  EXPECT_EQ(
      ziggyd->Call("SOCK_COLLECT")->Find("port")->AsInt(),
      std::stoi(ziggyd->collect().substr(ziggyd->collect().rfind(':') + 1)));
  EXPECT_EQ(ziggyd->Call("NOPE").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(ziggyd->Call("NOPE").status().message(),
                                "unknown command"));
  // ADVANCE_CLOCK exists only with --fake-time.
  EXPECT_FALSE(ziggyd->Call("ADVANCE_CLOCK", {{"seconds", 1}}).ok());
  // Garbage on the control port gets an error reply, and the port still works.
  zmq::context_t context;
  zmq::socket_t req(context, zmq::socket_type::req);
  req.set(zmq::sockopt::rcvtimeo, 5000);
  req.connect("tcp://" + ziggyd->control());
  req.send(zmq::str_buffer("\x01\x02 garbage"));
  zmq::message_t reply;
  ASSERT_TRUE(req.recv(reply));
  EXPECT_TRUE(
      DecodeDocument(absl::string_view(reply.data<char>(), reply.size()))
          ->Get("error"));
  EXPECT_TRUE(ziggyd->Call("STATUS").ok());
  EXPECT_TRUE(ziggyd->Call("SHUTDOWN").ok());
  EXPECT_EQ(ziggyd->process().Wait(), 0);
}

// The stream listens on the control port's interface unless --stream says
// otherwise, so ziggyview -H reaches it from wherever it reaches the
// control port (here 127.0.0.2 stands for another host's view); a stream
// it cannot reach is reported on stderr instead of waited on in silence.
TEST(CollectorTest, StreamListensWhereTheControlPortDoes) {
  auto ziggyd =
      Ziggyd::Start(TempDir("logs"), {"--control=127.0.0.2:0", "--stream="});
  ASSERT_NE(ziggyd, nullptr);
  EXPECT_TRUE(absl::StartsWith(ziggyd->stream(), "127.0.0.2:"))
      << ziggyd->stream();
  auto viewer = Subprocess::Start(
      {RunfilesPath("viewer/ziggyview"), "-H", ziggyd->control()});
  ASSERT_NE(viewer, nullptr);
  Sender sender(ziggyd->collect());
  EXPECT_TRUE(WaitFor([&] {
    sender.Send(ForeignEvent("live", 1, 1));
    return absl::StrContains(viewer->Stdout(), "\"type\":\"live\"");
  })) << viewer->Stderr();
  viewer->Signal(SIGINT);
  EXPECT_EQ(viewer->Wait(), 0);
  EXPECT_EQ(viewer->Stderr(), "");

  auto elsewhere = Ziggyd::Start(
      TempDir("logs2"), {"--control=127.0.0.2:0", "--stream=127.0.0.1:0"});
  ASSERT_NE(elsewhere, nullptr);
  viewer = Subprocess::Start({RunfilesPath("viewer/ziggyview"), "-H",
                              elsewhere->control(), "--timeout=0.5"});
  ASSERT_NE(viewer, nullptr);
  EXPECT_TRUE(WaitFor(
      [&] { return absl::StrContains(viewer->Stderr(), "cannot connect to"); },
      absl::Seconds(10)))
      << viewer->Stderr();
  viewer->Signal(SIGINT);
  EXPECT_EQ(viewer->Wait(), 0);
}

// `ziggyd --forward=host:port`, as the original Python Ziggy had it: every
// accepted event is also
// pushed to another daemon's collect port (best effort), which writes it.
TEST(CollectorTest, ForwardFlagPushesEveryEventToAnotherCollector) {
  auto central = Ziggyd::Start(TempDir("central"));
  ASSERT_NE(central, nullptr);
  auto local =
      Ziggyd::Start(TempDir("local"), {"--forward=" + central->collect()});
  ASSERT_NE(local, nullptr);
  Sender sender(local->collect());
  for (int i = 0; i < 100; ++i) sender.Send(ForeignEvent("request", 3, i));
  ASSERT_TRUE(local->WaitWritten(100));
  ASSERT_TRUE(central->WaitWritten(100));
  const auto seen = ReadAllSequences(central->log_path());
  EXPECT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen.count({3, i}), 1u) << i;
  EXPECT_EQ(local->StatusNumber("forwarded.sent"), 100);
  EXPECT_EQ(local->StatusNumber("forwarded.dropped"), 0);
  std::string out, err;
  EXPECT_EQ(RunCommand({RunfilesPath("collector/ziggyd"), "--forward=nowhere",
                        "--control=127.0.0.1:0", "--collect=127.0.0.1:0",
                        "--relay=", "--log-path=" + TempDir("bad")},
                       &out, &err),
            1);
  EXPECT_TRUE(absl::StrContains(err, "--forward=nowhere")) << err;
}

// STATUS lag is the original Python ziggyd's (receipt minus the last event's
// `end`), which
// one sender's wrong clock throws off; lag_median, over recent events, is
// not moved by it.
TEST(CollectorTest, LagMedianIgnoresOneBadClock) {
  auto ziggyd = Ziggyd::Start(TempDir("logs"), {FakeTime(kDayStart)});
  ASSERT_NE(ziggyd, nullptr);
  Sender sender(ziggyd->collect());
  Event event;
  event.type = "request";
  event.end = kDayStart - 0.5;
  for (int i = 0; i < 20; ++i) sender.Send(EncodeEvent(event));
  event.end = 1.0;  // a sender whose clock reads 1970
  sender.Send(EncodeEvent(event));
  ASSERT_TRUE(ziggyd->WaitWritten(21));
  EXPECT_NEAR(ziggyd->StatusNumber("lag"), kDayStart - 1.0, 1);
  EXPECT_NEAR(ziggyd->StatusNumber("lag_median"), 0.5, 0.01);
}

// A flood of new type names (issue #11): files for new types open off the
// path that writes known types, types beyond --max-types-per-day share one
// overflow file, and every event is kept exactly once.
TEST(CollectorTest, AFloodOfNewTypesNeitherDelaysKnownTypesNorUsesUpFiles) {
  const std::string logs = TempDir("logs");
  constexpr int kLimit = 1000, kNewTypes = 30000;
  auto ziggyd = Ziggyd::Start(
      logs,
      {FakeTime(kDayStart), absl::StrCat("--max-types-per-day=", kLimit)});
  ASSERT_NE(ziggyd, nullptr);
  Sender sender(ziggyd->collect());
  const std::string known =
      absl::StrCat(logs, "/", kDay, "/known-", kDay, ".log");
  sender.Send(ForeignEvent("known", 0, 0));
  ASSERT_TRUE(ziggyd->WaitWritten(1));
  auto flood = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      sender.Send(ForeignEvent(absl::StrCat("flood", i), 1, i));
    }
  };
  // The known type's event queues behind half the flood, and the rest
  // follows it while it is awaited.
  flood(0, kNewTypes / 2);
  sender.Send(ForeignEvent("known", 0, 1));
  const absl::Time sent = absl::Now();
  std::thread rest(flood, kNewTypes / 2, kNewTypes);
  const bool arrived =
      WaitFor([&] { return ReadEvents(known).size() == 2; }, absl::Seconds(3));
  const absl::Duration took = absl::Now() - sent;
  rest.join();
  EXPECT_TRUE(arrived) << "the known type's event took " << took;

  ASSERT_TRUE(ziggyd->WaitWritten(kNewTypes + 2, absl::Seconds(45)))
      << ziggyd->StatusNumber("written") << " written";
  // The known type, kLimit - 1 flood types and the overflow file.
  const std::vector<std::string> files = ListFiles(logs);
  EXPECT_EQ(files.size(), static_cast<size_t>(kLimit + 1));
  const std::string overflow = absl::StrCat(kDay, "/~overflow-", kDay, ".log");
  EXPECT_NE(std::find(files.begin(), files.end(), overflow), files.end());
  const auto seen = ReadSequences(logs);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kNewTypes + 2));
  for (int i = 0; i < kNewTypes; ++i) ASSERT_EQ(seen.count({1, i}), 1u) << i;
  // Overflowed events are whole, with their own types.
  const std::vector<Event> overflowed = ReadEvents(logs + "/" + overflow);
  EXPECT_EQ(overflowed.size(), static_cast<size_t>(kNewTypes - kLimit + 1));
  for (const Event& e : overflowed) {
    ASSERT_EQ(e.type, absl::StrCat("flood", e.body.Find("seq")->AsInt()));
  }
  EXPECT_EQ(ziggyd->StatusNumber("overflowed"), kNewTypes - kLimit + 1);
  EXPECT_EQ(ziggyd->StatusNumber("types_today"), kLimit);
}

TEST(CollectorTest, BadFlagsGiveOneLineAndExitNonZero) {
  std::string out, err;
  EXPECT_EQ(RunCommand({RunfilesPath("collector/ziggyd"), "--rotate-hours=25",
                        "--control=127.0.0.1:0", "--collect=127.0.0.1:0"},
                       &out, &err),
            1);
  EXPECT_TRUE(absl::StrContains(err, "--rotate-hours=25")) << err;
  EXPECT_EQ(RunCommand({RunfilesPath("collector/ziggyd"),
                        "--log-path=/dev/null/x", "--control=127.0.0.1:0",
                        "--collect=127.0.0.1:0", "--relay=127.0.0.1:0"},
                       &out, &err),
            1);
  EXPECT_TRUE(absl::StrContains(err, "--log-path=/dev/null/x")) << err;
  EXPECT_EQ(RunCommand({RunfilesPath("collector/ziggyd"), "--collect=nonsense"},
                       &out, &err),
            1);
  EXPECT_TRUE(absl::StrContains(err, "--collect")) << err;
}

// ---------------------------------------------------------------------------
// ziggyctl against a real ziggyd

TEST(ZiggyctlTest, StatusJsonAndShutdown) {
  const std::string logs = TempDir("logs");
  auto ziggyd = Ziggyd::Start(logs, {FakeTime(kDayStart)});
  ASSERT_NE(ziggyd, nullptr);
  Sender sender(ziggyd->collect());
  for (int i = 0; i < 10; ++i)
    sender.Send(ForeignEvent("request", 0, i, "web-7"));
  ASSERT_TRUE(ziggyd->WaitWritten(10));
  const std::string ctl = RunfilesPath("ctl/ziggyctl");
  std::string out, err;
  ASSERT_EQ(RunCommand({ctl, "-H", ziggyd->control(), "status"}, &out, &err), 0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, "ziggyd on")) << out;
  EXPECT_TRUE(absl::StrContains(out, "received    10 events")) << out;
  EXPECT_TRUE(absl::StrContains(out, "web-7")) << out;
  ASSERT_EQ(RunCommand({ctl, "--host=" + ziggyd->control(), "--json", "status"},
                       &out, &err),
            0)
      << err;
  const nlohmann::json status = nlohmann::json::parse(out);
  EXPECT_EQ(status["received"], 10);
  EXPECT_EQ(status["events"]["request"]["count"], 10);
  ASSERT_EQ(RunCommand({ctl, "-H", ziggyd->control(), "shutdown"}, &out, &err),
            0)
      << err;
  EXPECT_EQ(ziggyd->process().Wait(), 0);
}

TEST(ZiggyctlTest, DeadPortExitsOneQuicklyWithOneLine) {
  const int port = UnusedPort();
  std::string out, err;
  const int code =
      RunCommand({RunfilesPath("ctl/ziggyctl"), "-H",
                  absl::StrCat("127.0.0.1:", port), "--timeout=0.2", "status"},
                 &out, &err, absl::Seconds(10));
  EXPECT_EQ(code, 1);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_TRUE(absl::StrContains(err, "no answer")) << err;
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace ziggy::testing
