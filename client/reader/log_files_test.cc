#include "client/reader/log_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

std::string MakeTree(const std::string& name,
                     const std::vector<std::string>& files) {
  const std::string root = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  mkdir(root.c_str(), 0755);
  for (const std::string& f : files) {
    mkdir((root + "/" + f.substr(0, f.find('/'))).c_str(), 0755);
    std::ofstream(root + "/" + f) << "";
  }
  return root;
}

std::vector<std::string> Names(const std::vector<LogFileInfo>& files,
                               const std::string& root) {
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(f.path.substr(root.size() + 1));
  return names;
}

TEST(LogFilesTest, TypeFilters) {
  EXPECT_TRUE(TypeMatches("", "x"));
  EXPECT_TRUE(TypeMatches("*", "x"));
  EXPECT_TRUE(TypeMatches("request", "request"));
  EXPECT_FALSE(TypeMatches("request", "request.sql"));
  EXPECT_TRUE(TypeMatches("request*", "request.sql"));
  EXPECT_FALSE(TypeMatches("request*", "req"));
  EXPECT_EQ(SubscriptionPrefix("request*"), "request");
  EXPECT_EQ(SubscriptionPrefix("request"), "request");
}

TEST(LogFilesTest, Dates) {
  EXPECT_EQ(*ParseDate("20231114", false), absl::FromUnixSeconds(1699920000));
  EXPECT_EQ(*ParseDate("20231114", true),
            absl::FromUnixSeconds(1699920000 + 86400) - absl::Nanoseconds(1));
  EXPECT_EQ(*ParseDate("20231114 06:30", false),
            absl::FromUnixSeconds(1699920000 + 6 * 3600 + 1800));
  EXPECT_FALSE(ParseDate("2023-11-14", false).ok());
  EXPECT_FALSE(ParseDate("20231314", false).ok());
  EXPECT_FALSE(ParseDate("", false).ok());
}

TEST(LogFilesTest, SelectsByTypeAndDayRange) {
  const std::string root = MakeTree(
      "days",
      {"20231113/request-20231113.log", "20231114/request-20231114.log",
       "20231114/request.sql-20231114.log", "20231114/other-20231114.log",
       "20231115/request-20231115.log", "20231115/README",
       "20231115/request-20231115.log.corrupt-1", "notaday/x-notaday.log"});
  LogFileQuery query{root, "request", *ParseDate("20231114", false),
                     *ParseDate("20231115", true)};
  auto files = FindLogFiles(query);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(Names(*files, root),
            (std::vector<std::string>{"20231114/request-20231114.log",
                                      "20231115/request-20231115.log"}));
  query.type = "request*";
  query.start = absl::InfinitePast();
  EXPECT_EQ(FindLogFiles(query)->size(), 4u);
  query.type = "";
  EXPECT_EQ(FindLogFiles(query)->size(), 5u);
  EXPECT_EQ((*FindLogFiles(query))[0].type, "request");
}

// The collector's overflow files hold many types: read whatever the filter,
// their events filtered one by one.
TEST(LogFilesTest, OverflowFilesMatchEveryFilter) {
  const std::string root =
      MakeTree("overflow", {"20231114/request-20231114.log",
                            "20231114/~overflow-20231114.log",
                            "20231115/~overflow-20231115-06.log"});
  for (const char* filter : {"request", "other", ""}) {
    auto files = FindLogFiles({root, filter});
    ASSERT_TRUE(files.ok()) << files.status();
    std::vector<std::string> expected = {"20231114/~overflow-20231114.log",
                                         "20231115/~overflow-20231115-06.log"};
    if (std::string(filter) != "other") {
      expected.insert(expected.begin(), "20231114/request-20231114.log");
    }
    EXPECT_EQ(Names(*files, root), expected) << filter;
    EXPECT_EQ(files->back().type, "");
    EXPECT_EQ(files->back().start, *ParseDate("20231115 06:00", false));
  }
}

TEST(LogFilesTest, HourBlocksEndWhereTheNextBegins) {
  const std::string root = MakeTree(
      "hours",
      {"20231114/t-20231114-00.log", "20231114/t-20231114-06.log",
       "20231114/t-20231114-12.log", "20231114/%2E.%2Fx-20231114-06.log"});
  LogFileQuery query{root, "t", *ParseDate("20231114 07:00", false),
                     *ParseDate("20231114 11:59", true)};
  EXPECT_EQ(Names(*FindLogFiles(query), root),
            std::vector<std::string>{"20231114/t-20231114-06.log"});
  query.type = "../x";
  EXPECT_EQ(Names(*FindLogFiles(query), root),
            std::vector<std::string>{"20231114/%2E.%2Fx-20231114-06.log"});
  query.type = "t";
  query.end = *ParseDate("20231114 12:00", false);
  EXPECT_EQ(FindLogFiles(query)->size(), 2u);
}

// Compressed files ("<name>.zst") are the same type and block as their
// original; when both exist the original is read; ".tmp" files never.
TEST(LogFilesTest, CompressedFilesAndTheirTwins) {
  const std::string root = MakeTree(
      "compressed",
      {"20231113/request-20231113.log.zst", "20231113/request.sql-20231113.log",
       "20231114/request-20231114.log", "20231114/request-20231114.log.zst",
       "20231114/request.sql-20231114.log.zst.tmp",
       "20231114/request.sql-20231114.log.zst",
       "20231115/request-20231115-00.log.zst",
       "20231115/request-20231115-06.log",
       "20231115/request-20231115-12.log.zst",
       "20231115/request-20231115-12.log.zst.tmp",
       "20231116/request-20231116.log.zst.tmp"});
  EXPECT_EQ(Names(*FindLogFiles({root, ""}), root),
            (std::vector<std::string>{"20231113/request-20231113.log.zst",
                                      "20231113/request.sql-20231113.log",
                                      "20231114/request-20231114.log",
                                      "20231114/request.sql-20231114.log.zst",
                                      "20231115/request-20231115-00.log.zst",
                                      "20231115/request-20231115-06.log",
                                      "20231115/request-20231115-12.log.zst"}));
  // Types, day ranges and hour blocks as for uncompressed files.
  LogFileQuery query{root, "request", *ParseDate("20231114", false),
                     *ParseDate("20231115 07:00", true)};
  const auto files = FindLogFiles(query);
  EXPECT_EQ(Names(*files, root),
            (std::vector<std::string>{"20231114/request-20231114.log",
                                      "20231115/request-20231115-00.log.zst",
                                      "20231115/request-20231115-06.log"}));
  EXPECT_EQ((*files)[1].type, "request");
  EXPECT_EQ((*files)[1].end, *ParseDate("20231115 06:00", false));
}

TEST(LogFilesTest, MissingLogPath) {
  EXPECT_EQ(
      FindLogFiles(LogFileQuery{"/nonexistent/ziggy", ""}).status().code(),
      absl::StatusCode::kNotFound);
}

// A file listed as <name> and compressed before it was opened is read
// from <name>.zst; a file there is opened as it is; neither: ENOENT.
TEST(LogFilesTest, OpenLogFileFollowsACompressionSinceTheListing) {
  const std::string root = MakeTree("opening", {});
  const std::string log = root + "/request-20231114.log";
  std::ofstream(log + ".zst") << "compressed";
  const auto read_all = [](int fd) {
    char buffer[64];
    const ssize_t n = fd < 0 ? -1 : read(fd, buffer, sizeof buffer);
    if (fd >= 0) close(fd);
    return n < 0 ? std::string("<error>") : std::string(buffer, n);
  };
  EXPECT_EQ(read_all(OpenLogFile(log)), "compressed");
  std::ofstream(log) << "original";
  EXPECT_EQ(read_all(OpenLogFile(log)), "original");
  errno = 0;
  EXPECT_EQ(OpenLogFile(root + "/other-20231114.log"), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(OpenLogFile(root + "/nodir/x.log"), -1);
  EXPECT_EQ(errno, ENOENT);
}

}  // namespace
}  // namespace ziggy
