#include "viewer/viewer.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/event.h"
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
  EXPECT_NE(r.err.find("torn.log"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(absl::StrCat("offset ", whole.size())),
            std::string::npos)
      << r.err;

  options.files = {
      WriteFile("corrupt.log", Ev("t", "0", 0) + "\xff\xff\xff\x7f" + whole)};
  const Result c = View(options);
  EXPECT_EQ(c.code, kViewDamaged);
  EXPECT_EQ(c.lines.size(), 1u);
  EXPECT_NE(c.err.find("corrupt document"), std::string::npos) << c.err;
}

TEST(ViewerTest, LogPathWithDateRangesAcrossDaysAndHourBlocks) {
  const std::string root = TmpPath("logs");
  WriteFile("logs/20231113/request-20231113.log", Ev("request", "a", 13));
  WriteFile("logs/20231114/request-20231114.log", Ev("request", "b", 14));
  WriteFile("logs/20231114/other-20231114.log", Ev("other", "x", 0));
  WriteFile("logs/20231115/request-20231115-00.log", Ev("request", "c", 1500));
  WriteFile("logs/20231115/request-20231115-06.log", Ev("request", "d", 1506));
  WriteFile("logs/20231116/request-20231116.log", Ev("request", "e", 16));
  ViewerOptions options;
  options.log_path = root;
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

TEST(ViewerTest, InputErrors) {
  ViewerOptions none;
  EXPECT_EQ(View(none).code, kViewError);
  ViewerOptions two;
  two.files = {"x"};
  two.log_path = "y";
  EXPECT_EQ(View(two).code, kViewError);
  ViewerOptions missing;
  missing.files = {"/nonexistent.log"};
  const Result r = View(missing);
  EXPECT_EQ(r.code, kViewError);
  EXPECT_NE(r.err.find("cannot open /nonexistent.log"), std::string::npos);
  ViewerOptions no_dir;
  no_dir.log_path = "/nonexistent-dir";
  EXPECT_EQ(View(no_dir).code, kViewError);
}

}  // namespace
}  // namespace ziggy
