#include "viewer/viewer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/format/event.h"
#include "client/reader/zstd_testing.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ziggy {
namespace {

using ::nlohmann::json;

std::string Ev(const std::string& type, const std::string& id, int seq,
               const std::string& text = "") {
  Event e;
  e.type = type;
  e.id = id;
  e.body = Value(Value::Map{{"seq", seq}, {"text", text}});
  return EncodeEvent(e);
}

std::string TmpPath(const std::string& name) {
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
}

std::string WriteFile(const std::string& name, const std::string& bytes) {
  const std::string path = TmpPath(name);
  const size_t slash = path.rfind('/');
  for (size_t at = path.find('/', 1); at < slash; at = path.find('/', at + 1)) {
    mkdir(path.substr(0, at).c_str(), 0755);
  }
  mkdir(path.substr(0, slash).c_str(), 0755);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

struct Result {
  int code;
  std::vector<json> lines;
  std::string err;
};

Result View(ViewerOptions options) {
  std::ostringstream out, err;
  Result r;
  r.code = RunViewer(options, out, err);
  r.err = err.str();
  for (absl::string_view line :
       absl::StrSplit(out.str(), '\n', absl::SkipEmpty())) {
    r.lines.push_back(json::parse(line));  // throws (fails) on invalid JSON
  }
  return r;
}

TEST(ViewerTest, FilesPrintOneJsonObjectPerLine) {
  const std::string a =
      WriteFile("a.log", Ev("request", "1", 1) + Ev("request", "2", 2));
  const std::string b = WriteFile("b.log", Ev("other", "3", 3));
  ViewerOptions options;
  options.files = {a, b};
  const Result r = View(options);
  EXPECT_EQ(r.code, kViewOk) << r.err;
  ASSERT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.lines[0]["type"], "request");
  EXPECT_EQ(r.lines[2]["body"]["seq"], 3);
}

TEST(ViewerTest, TypeFilterExactAndPrefix) {
  const std::string f = WriteFile("filter.log", Ev("request", "1", 1) +
                                                    Ev("request.sql", "1", 2) +
                                                    Ev("requests", "2", 3));
  ViewerOptions options;
  options.files = {f};
  options.type = "request";
  EXPECT_EQ(View(options).lines.size(), 1u);
  options.type = "request*";
  EXPECT_EQ(View(options).lines.size(), 3u);
  options.type = "request.*";
  EXPECT_EQ(View(options).lines.size(), 1u);
}

TEST(ViewerTest, HostileStringsStayValidJson) {
  const std::string hostile =
      std::string("\x01\"\\\n\xff\xc3", 6) + std::string(1, '\0');
  const std::string f = WriteFile("hostile.log", Ev("t", "1", 1, hostile));
  ViewerOptions options;
  options.files = {f};
  const Result r = View(options);
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0]["body"]["text"],
            std::string("\x01\"\\\n\xef\xbf\xbd\xef\xbf\xbd", 10) +
                std::string(1, '\0'));
}

TEST(ViewerTest, PrettyIsIndentedAndStillJson) {
  const std::string f = WriteFile("pretty.log", Ev("t", "1", 1));
  ViewerOptions options;
  options.files = {f};
  options.pretty = true;
  std::ostringstream out, err;
  ASSERT_EQ(RunViewer(options, out, err), kViewOk);
  EXPECT_NE(out.str().find("\n  \"type\": \"t\""), std::string::npos)
      << out.str();
  EXPECT_EQ(json::parse(out.str())["type"], "t");
}

TEST(ViewerTest, GroupPutsSubEventsWithTheirParent) {
  const std::string f = WriteFile(
      "group.log", Ev("request.sql", "A", 1) + Ev("request.sql", "B", 2) +
                       Ev("request.sql.row", "A", 3) + Ev("request", "A", 4) +
                       Ev("request", "B", 5) + Ev("request.cache", "C", 6));
  ViewerOptions options;
  options.files = {f};
  options.group = true;
  const Result r = View(options);
  ASSERT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.lines[0]["id"], "A");
  EXPECT_EQ(r.lines[0]["parent"]["body"]["seq"], 4);
  ASSERT_EQ(r.lines[0]["children"].size(), 2u);
  EXPECT_EQ(r.lines[0]["children"][1]["type"], "request.sql.row");
  EXPECT_EQ(r.lines[1]["id"], "B");
  EXPECT_EQ(r.lines[1]["children"].size(), 1u);
  EXPECT_EQ(r.lines[2]["id"], "C");  // never saw a parent: printed at the end
  EXPECT_TRUE(r.lines[2]["parent"].is_null());
}

TEST(ViewerTest, GroupEvictsTheOldestBeyondMaxGroups) {
  std::string bytes;
  for (int i = 0; i < 5; ++i) bytes += Ev("r.s", absl::StrCat("g", i), i);
  bytes += Ev("r", "g4", 99);
  const std::string f = WriteFile("evict.log", bytes);
  ViewerOptions options;
  options.files = {f};
  options.group = true;
  options.max_groups = 2;
  const Result r = View(options);
  ASSERT_EQ(r.lines.size(), 5u);
  EXPECT_EQ(r.lines[0]["id"], "g0");  // evicted first, without a parent
  EXPECT_TRUE(r.lines[0]["parent"].is_null());
  EXPECT_EQ(r.lines[3]["id"], "g4");
  EXPECT_EQ(r.lines[3]["parent"]["body"]["seq"], 99);
  EXPECT_EQ(r.lines[4]["id"], "g3");
}

TEST(ViewerTest, DamagedFilePrintsWholeEventsAndSaysWhatWasSkipped) {
  const std::string whole = Ev("t", "1", 1) + Ev("t", "2", 2);
  const std::string torn = whole + Ev("t", "3", 3).substr(0, 10);
  const std::string f = WriteFile("torn.log", torn);
  const std::string g = WriteFile("fine.log", Ev("t", "4", 4));
  ViewerOptions options;
  options.files = {f, g};
  const Result r = View(options);
  EXPECT_EQ(r.code, kViewDamaged);
  ASSERT_EQ(r.lines.size(), 3u);  // both whole events, then the next file
  EXPECT_EQ(r.lines[2]["body"]["seq"], 4);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(absl::StrCat("torn.log: bytes ", whole.size(), "-",
                                    torn.size(), " skipped: torn tail")),
            std::string::npos)
      << r.err;

  // After a corrupt length, reading resumes at the next event.
  const std::string first = Ev("t", "0", 0);
  options.files = {
      WriteFile("corrupt.log", first + "\xff\xff\xff\x7f" + whole)};
  const Result c = View(options);
  EXPECT_EQ(c.code, kViewDamaged);
  ASSERT_EQ(c.lines.size(), 3u);
  EXPECT_EQ(c.lines[2]["body"]["seq"], 2);
  EXPECT_NE(
      c.err.find(absl::StrCat("corrupt.log: bytes ", first.size(), "-",
                              first.size() + 4, " skipped: corrupt document")),
      std::string::npos)
      << c.err;
}

// A document whose frame is sound but whose contents are not is skipped,
// said and counted, not silently dropped.
TEST(ViewerTest, InvalidEventIsReported) {
  const std::string first = Ev("t", "1", 1);
  std::string bad = Ev("t", "2", 2);
  bad[4] = '\x42';  // the first element's type byte: not a BSON type
  const std::string f = WriteFile("invalid.log", first + bad + Ev("t", "3", 3));
  ViewerOptions options;
  options.files = {f};
  const Result r = View(options);
  EXPECT_EQ(r.code, kViewDamaged);
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[1]["body"]["seq"], 3);
  EXPECT_NE(r.err.find(absl::StrCat("invalid.log: bytes ", first.size(), "-",
                                    first.size() + bad.size(),
                                    " skipped: not a valid event")),
            std::string::npos)
      << r.err;
}

// /dev/zero never ends; a stop (from SIGINT or SIGTERM) must end it.
TEST(ViewerTest, StopEndsReadingAnEndlessFile) {
  std::atomic<bool> stop{false};
  ViewerOptions options;
  options.files = {"/dev/zero"};
  options.stop = &stop;
  std::ostringstream out, err;
  int code = -1;
  std::thread viewer([&] { code = RunViewer(options, out, err); });
  stop.store(true);
  viewer.join();
  EXPECT_EQ(code, kViewInterrupted);
  EXPECT_NE(err.str().find("interrupted"), std::string::npos) << err.str();
}

constexpr double kNov14 = 1699920000;  // 2023-11-14 00:00 UTC
constexpr double kDay = 86400;

// Ev ending at `end`, as the events in a collector's file of that day do.
std::string EvAt(const std::string& type, const std::string& id, int seq,
                 double end) {
  Event e;
  e.type = type;
  e.id = id;
  e.end = end;
  e.body = Value(Value::Map{{"seq", seq}, {"text", ""}});
  return EncodeEvent(e);
}

TEST(ViewerTest, LogPathWithDateRangesAcrossDaysAndHourBlocks) {
  const std::string root = TmpPath("logs");
  WriteFile("logs/20231113/request-20231113.log",
            EvAt("request", "a", 13, kNov14 - kDay + 60));
  WriteFile("logs/20231114/request-20231114.log",
            EvAt("request", "b", 14, kNov14 + 60));
  WriteFile("logs/20231114/other-20231114.log",
            EvAt("other", "x", 0, kNov14 + 60));
  WriteFile("logs/20231115/request-20231115-00.log",
            EvAt("request", "c", 1500, kNov14 + kDay + 60));
  WriteFile("logs/20231115/request-20231115-06.log",
            EvAt("request", "d", 1506, kNov14 + kDay + 7.5 * 3600));
  WriteFile("logs/20231116/request-20231116.log",
            EvAt("request", "e", 16, kNov14 + 2 * kDay + 60));
  ViewerOptions options;
  options.log_paths = {root};
  options.type = "request";
  options.start_date = "20231114";
  options.end_date = "20231115";
  Result r = View(options);
  ASSERT_EQ(r.code, kViewOk) << r.err;
  std::vector<int> seqs;
  for (const json& line : r.lines) seqs.push_back(line["body"]["seq"]);
  EXPECT_EQ(seqs, (std::vector<int>{14, 1500, 1506}));
  options.start_date = "20231115 07:00";
  options.end_date = "20231115 08:00";
  r = View(options);
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0]["body"]["seq"], 1506);
  options.start_date = options.end_date = "";
  options.type = "";
  EXPECT_EQ(View(options).lines.size(), 6u);  // no dates: every file
  options.start_date = "yesterday";
  r = View(options);
  EXPECT_EQ(r.code, kViewError);
  EXPECT_NE(r.err.find("YYYYMMDD"), std::string::npos);
}

TEST(ViewerTest, CurveFlagsGoTogetherAndNameTheBadFile) {
  ViewerOptions half;
  half.hosts = {"127.0.0.1:1"};
  half.curve_key = "/nonexistent.key";
  const Result h = View(half);
  EXPECT_EQ(h.code, kViewError);
  EXPECT_EQ(h.err,
            "ziggyview: --curve-server-key and --curve-key go together: give "
            "both (CurveZMQ) or neither\n");
  ViewerOptions missing = half;
  missing.curve_server_key = "/nonexistent.pub";
  const Result m = View(missing);
  EXPECT_EQ(m.code, kViewError);
  EXPECT_NE(m.err.find("--curve-server-key: cannot open /nonexistent.pub"),
            std::string::npos)
      << m.err;
}

TEST(ViewerTest, InputErrors) {
  ViewerOptions none;
  EXPECT_EQ(View(none).code, kViewError);
  ViewerOptions two;
  two.files = {"x"};
  two.log_paths = {"y"};
  EXPECT_EQ(View(two).code, kViewError);
  ViewerOptions missing;
  missing.files = {"/nonexistent.log"};
  const Result r = View(missing);
  EXPECT_EQ(r.code, kViewError);
  EXPECT_NE(r.err.find("cannot open /nonexistent.log"), std::string::npos);
  ViewerOptions no_dir;
  no_dir.log_paths = {"/nonexistent-dir"};
  EXPECT_EQ(View(no_dir).code, kViewError);
  // A directory is unreadable input, said in one line.
  ViewerOptions dir;
  dir.files = {std::getenv("TEST_TMPDIR")};
  const Result d = View(dir);
  EXPECT_EQ(d.code, kViewError);
  EXPECT_EQ(std::count(d.err.begin(), d.err.end(), '\n'), 1) << d.err;
  EXPECT_NE(d.err.find("Is a directory"), std::string::npos) << d.err;
}

std::string EvEnding(const std::string& type, const std::string& id,
                     double end) {
  Event e;
  e.type = type;
  e.id = id;
  e.end = end;
  return EncodeEvent(e);
}

// The collector's layout: one file per type per day. A parent and its
// sub-events are in different files, some on different days.
std::vector<std::string> PerTypeFiles() {
  const double day = 1699920000;  // 2023-11-14 00:00 UTC
  return {
      WriteFile("per-type/20231114/request-20231114.log",
                EvEnding("request", "A", day + 10) +
                    EvEnding("request", "B", day + 20)),
      WriteFile("per-type/20231114/request.sql-20231114.log",
                EvEnding("request.sql", "A", day + 5) +
                    EvEnding("request.sql", "B", day + 15) +
                    EvEnding("request.sql", "C", day + 86390)),
      WriteFile("per-type/20231114/job-20231114.log",
                EvEnding("job", "J", day + 12)),
      WriteFile("per-type/20231114/job.step-20231114-00.log",
                EvEnding("job.step", "J", day + 11)),
      WriteFile("per-type/20231115/request-20231115.log",
                EvEnding("request", "C", day + 86430)),
      WriteFile("per-type/20231115/request.log-20231115.log",
                EvEnding("request.log", "C", day + 86420)),
  };
}

// "id:parent type:child types" for each group.
std::vector<std::string> Groups(const Result& r) {
  std::vector<std::string> groups;
  for (const json& g : r.lines) {
    std::string text = absl::StrCat(
        g["id"].get<std::string>(), ":",
        g["parent"].is_null() ? "-" : g["parent"]["type"].get<std::string>());
    for (const json& child : g["children"]) {
      EXPECT_EQ(child["id"], g["id"]);
      absl::StrAppend(&text, ":", child["type"].get<std::string>());
    }
    groups.push_back(text);
  }
  return groups;
}

TEST(ViewerTest, GroupMergesPerTypeFilesAcrossDays) {
  const std::vector<std::string> files = PerTypeFiles();
  ViewerOptions options;
  options.log_paths = {TmpPath("per-type")};
  options.group = true;
  Result r = View(options);
  ASSERT_EQ(r.code, kViewOk) << r.err;
  const std::vector<std::string> all = {
      "A:request:request.sql", "J:job:job.step", "B:request:request.sql",
      "C:request:request.sql:request.log"};
  EXPECT_EQ(Groups(r), all);

  // The same files named on the command line.
  ViewerOptions named;
  named.files = files;
  named.group = true;
  EXPECT_EQ(Groups(View(named)), all);

  // A type filter selects groups by their top-level type.
  options.type = "request";
  EXPECT_EQ(Groups(View(options)),
            (std::vector<std::string>{"A:request:request.sql",
                                      "B:request:request.sql",
                                      "C:request:request.sql:request.log"}));
  options.type = "job*";
  EXPECT_EQ(Groups(View(options)),
            (std::vector<std::string>{"J:job:job.step"}));
  // A sub-event type alone: its events, grouped without a parent.
  options.type = "request.sql";
  EXPECT_EQ(Groups(View(options)),
            (std::vector<std::string>{"A:-:request.sql", "B:-:request.sql",
                                      "C:-:request.sql"}));
}

// Runs the viewer with `bytes` on its standard input: fd 0 is a pipe for
// the call.
Result ViewStdin(ViewerOptions options, const std::string& bytes) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  EXPECT_LT(bytes.size(), 65536u);  // fits in the pipe: no writer thread
  EXPECT_EQ(write(fds[1], bytes.data(), bytes.size()),
            static_cast<ssize_t>(bytes.size()));
  close(fds[1]);
  const int saved = dup(0);
  dup2(fds[0], 0);
  close(fds[0]);
  options.read_stdin = true;
  options.files.clear();
  Result r = View(options);
  dup2(saved, 0);
  close(saved);
  return r;
}

std::vector<int> Seqs(const Result& r) {
  std::vector<int> seqs;
  for (const json& line : r.lines) seqs.push_back(line["body"]["seq"]);
  return seqs;
}

TEST(ViewerTest, WhereFiltersFilesAndStdin) {
  const std::string bytes =
      Ev("request", "1", 1, "ok") + Ev("other", "2", 2, "error: x") +
      Ev("request", "3", 3, "error: disk") + Ev("request", "4", 4, "ok") +
      Ev("request.sql", "4", 5, "error: sql");
  const std::string f = WriteFile("where.log", bytes);
  ViewerOptions options;
  options.files = {f};
  options.where = "type == \"request\" and body.seq >= 3";
  Result r = View(options);
  ASSERT_EQ(r.code, kViewOk) << r.err;
  EXPECT_EQ(Seqs(r), (std::vector<int>{3, 4}));
  EXPECT_EQ(Seqs(ViewStdin(options, bytes)), (std::vector<int>{3, 4}));

  options.where = "body.text =~ \"^error\" and not type =~ \"\\.\"";
  EXPECT_EQ(Seqs(View(options)), (std::vector<int>{2, 3}));
  EXPECT_EQ(Seqs(ViewStdin(options, bytes)), (std::vector<int>{2, 3}));
  // With the type filter: both apply.
  options.type = "request*";
  EXPECT_EQ(Seqs(View(options)), (std::vector<int>{3}));
  options.type = "";
  options.where = "body.seq == 1 or (body.seq > 3 and exists(body.text))";
  EXPECT_EQ(Seqs(View(options)), (std::vector<int>{1, 4, 5}));
  options.where = "body.nope == 1";
  r = View(options);
  EXPECT_EQ(r.code, kViewOk);
  EXPECT_TRUE(r.lines.empty());
}

// The expression is checked before any input is opened or read: a file
// that does not exist, a pipe nobody writes and an unreachable daemon
// produce only the --where error.
TEST(ViewerTest, MalformedWhereFailsBeforeReadingAnyInput) {
  const std::string error =
      "ziggyview: --where: at 24: expected a value after '>='\n";
  ViewerOptions missing;
  missing.files = {"/nonexistent.log"};
  missing.where = "body.response.status >=";
  Result r = View(missing);
  EXPECT_EQ(r.code, kViewError);
  EXPECT_EQ(r.err, error);
  ViewerOptions live;
  live.hosts = {"127.0.0.1:1"};
  live.where = missing.where;
  r = View(live);
  EXPECT_EQ(r.code, kViewError);
  EXPECT_EQ(r.err, error);

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);  // fds[1] stays open: reading would block
  const int saved = dup(0);
  dup2(fds[0], 0);
  std::atomic<bool> stop{false}, done{false};
  ViewerOptions piped;
  piped.read_stdin = true;
  piped.where = missing.where;
  piped.stop = &stop;
  std::ostringstream out, err;
  int code = -1;
  std::thread viewer([&] {
    code = RunViewer(piped, out, err);
    done.store(true);
  });
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!done.load() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  const bool returned_by_itself = done.load();
  stop.store(true);  // frees a viewer that wrongly reads first
  viewer.join();
  dup2(saved, 0);
  close(saved);
  close(fds[0]);
  close(fds[1]);
  EXPECT_TRUE(returned_by_itself);
  EXPECT_EQ(code, kViewError);
  EXPECT_EQ(err.str(), error);

  ViewerOptions fields;
  fields.files = {"/nonexistent.log"};
  fields.fields = "type,body..status";
  r = View(fields);
  EXPECT_EQ(r.code, kViewError);
  EXPECT_EQ(r.err, "ziggyview: --fields: empty key in 'body..status'\n");
}

TEST(ViewerTest, FieldsKeepTheStructureInLinesAndPretty) {
  const std::string f = WriteFile(
      "fields.log", Ev("request", "1", 1, "a") + Ev("other", "2", 2, "b"));
  ViewerOptions options;
  options.files = {f};
  options.fields = "body.seq,type";
  std::ostringstream out, err;
  ASSERT_EQ(RunViewer(options, out, err), kViewOk) << err.str();
  EXPECT_EQ(out.str(),
            "{\"type\":\"request\",\"body\":{\"seq\":1}}\n"
            "{\"type\":\"other\",\"body\":{\"seq\":2}}\n");
  options.pretty = true;
  std::ostringstream pretty;
  ASSERT_EQ(RunViewer(options, pretty, err), kViewOk);
  EXPECT_NE(pretty.str().find("\n  \"body\": {\n    \"seq\": 1\n  }\n}"),
            std::string::npos)
      << pretty.str();
  // Missing paths are left out; an event with none of them is {}.
  options.pretty = false;
  options.fields = "nope,body.nope";
  const Result r = View(options);
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0], json::object());
  // With --where: the filter sees the whole event, not only the fields.
  options.fields = "type";
  options.where = "body.text == \"b\"";
  EXPECT_EQ(View(options).lines, (std::vector<json>{json{{"type", "other"}}}));
}

TEST(ViewerTest, WhereSelectsGroupsByTheirTopLevelEvent) {
  const std::string f =
      WriteFile("where-group.log",
                Ev("request.sql", "A", 1) + Ev("request.sql", "B", 2) +
                    Ev("request.sql.row", "A", 3) + Ev("request", "A", 4) +
                    Ev("request", "B", 5) + Ev("request.cache", "C", 6));
  ViewerOptions options;
  options.files = {f};
  options.group = true;
  options.where = "body.seq == 4";
  EXPECT_EQ(
      Groups(View(options)),
      (std::vector<std::string>{"A:request:request.sql:request.sql.row"}));
  options.where = "body.seq == 1";  // a sub-event of A: A's parent decides
  EXPECT_TRUE(View(options).lines.empty());
  options.where = "body.seq == 6";  // C never had a parent: any event
  EXPECT_EQ(Groups(View(options)),
            (std::vector<std::string>{"C:-:request.cache"}));
  options.where = "body.seq >= 5";
  EXPECT_EQ(
      Groups(View(options)),
      (std::vector<std::string>{"B:request:request.sql", "C:-:request.cache"}));
  // --fields trims every event of the group; the id stays.
  options.fields = "type";
  const Result r = View(options);
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0], json::parse(R"({"id":"B","parent":{"type":"request"},)"
                                    R"("children":[{"type":"request.sql"}]})"));
}

TEST(ViewerTest, WhereAcrossPerTypeFilesOfALogPath) {
  PerTypeFiles();
  const double day = kNov14;
  ViewerOptions options;
  options.log_paths = {TmpPath("per-type")};
  options.where = absl::StrCat("type =~ \"^request\" and end >= ",
                               static_cast<int64_t>(day) + 15);
  const Result r = View(options);
  ASSERT_EQ(r.code, kViewOk) << r.err;
  std::vector<std::string> seen;
  for (const json& line : r.lines) {
    seen.push_back(absl::StrCat(line["type"].get<std::string>(), ":",
                                line["id"].get<std::string>()));
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"request.log:C", "request.sql:B",
                                            "request.sql:C", "request:B",
                                            "request:C"}));
  options.group = true;
  options.where = absl::StrCat("end >= ", static_cast<int64_t>(day) + 15);
  EXPECT_EQ(Groups(View(options)),
            (std::vector<std::string>{"B:request:request.sql",
                                      "C:request:request.sql:request.log"}));
}

TEST(ViewerTest, DatesFilterEventsByTheirOwnEnd) {
  Value no_end(Value::Map{{"type", "request"}, {"id", "n"}, {"end", "soon"}});
  const std::string bytes =
      EvAt("request", "a", 1, kNov14 - 0.001) +
      EvAt("request", "b", 2, kNov14) + EvAt("request", "c", 3, kNov14 + 3600) +
      EvAt("request", "d", 4, kNov14 + 3660) +
      EvAt("request", "e", 5, kNov14 + kDay - 0.001) +
      EvAt("request", "f", 6, kNov14 + kDay) + EncodeDocument(no_end);
  ViewerOptions options;
  options.files = {WriteFile("dates.log", bytes)};
  EXPECT_EQ(View(options).lines.size(), 7u);           // no dates: everything
  options.start_date = options.end_date = "20231114";  // the whole day
  EXPECT_EQ(Seqs(View(options)), (std::vector<int>{2, 3, 4, 5}));
  options.end_date = "20231114 01:00";  // through 01:00:59.999
  EXPECT_EQ(Seqs(View(options)), (std::vector<int>{2, 3}));
  options.start_date = "20231114 01:01";
  options.end_date = "";
  EXPECT_EQ(Seqs(View(options)), (std::vector<int>{4, 5, 6}));
  EXPECT_EQ(Seqs(ViewStdin(options, bytes)), (std::vector<int>{4, 5, 6}));
  options.start_date = "";
  options.end_date = "20231113";
  EXPECT_EQ(Seqs(View(options)), (std::vector<int>{1}));

  // In a collector's file of the day, an event that ended the day before
  // (it arrived late) is outside the day.
  WriteFile("late/20231114/request-20231114.log",
            EvAt("request", "y", 10, kNov14 - 30) +
                EvAt("request", "t", 11, kNov14 + 30));
  ViewerOptions logs;
  logs.log_paths = {TmpPath("late")};
  EXPECT_EQ(Seqs(View(logs)), (std::vector<int>{10, 11}));
  logs.start_date = logs.end_date = "20231114";
  EXPECT_EQ(Seqs(View(logs)), (std::vector<int>{11}));
}

// --raw: the documents as stored, whatever the input's compression; never
// to a terminal, never with the JSON-only flags.
TEST(ViewerTest, RawWritesTheSelectedDocumentsAsStored) {
  const std::string a = Ev("request", "1", 1), b = Ev("other", "2", 2),
                    c = Ev("request", "3", 3);
  const std::string f =
      WriteFile("raw/in.log.zst", testing::ZstdFrames(a + b + c, /*frame=*/7));
  ViewerOptions options;
  options.files = {f};
  options.raw = true;
  options.type = "request";
  std::ostringstream out, err;
  EXPECT_EQ(RunViewer(options, out, err), kViewOk) << err.str();
  EXPECT_EQ(out.str(), a + c);
  options.out_is_terminal = true;
  const Result refused = View(options);
  EXPECT_EQ(refused.code, kViewError);
  EXPECT_TRUE(refused.lines.empty());
  EXPECT_EQ(refused.err,
            "ziggyview: --raw: not writing BSON to a terminal; redirect "
            "standard output to a file or a pipe\n");
  options.out_is_terminal = false;
  options.pretty = true;
  EXPECT_EQ(View(options).code, kViewError);
}

}  // namespace
}  // namespace ziggy
