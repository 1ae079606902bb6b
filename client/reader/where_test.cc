#include "client/reader/where.h"

#include <bson/bson.h>

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "re2/re2.h"

namespace ziggy {
namespace {

// The bytes of a libbson document.
std::string Bytes(const bson_t* doc) {
  return std::string(reinterpret_cast<const char*>(bson_get_data(doc)),
                     doc->len);
}

// An event with every BSON type the rules name, built with libbson so that
// each field has exactly the type the test means.
std::string TestEvent() {
  bson_t doc, body, response, codes;
  bson_init(&doc);
  BSON_APPEND_UTF8(&doc, "id", "5f1d2a3b");
  BSON_APPEND_UTF8(&doc, "type", "request");
  BSON_APPEND_UTF8(&doc, "host", "web-1");
  BSON_APPEND_INT32(&doc, "pid", 42);
  BSON_APPEND_DOUBLE(&doc, "start", 1700000000.25);
  BSON_APPEND_DOUBLE(&doc, "end", 1700000000.5);
  BSON_APPEND_DOCUMENT_BEGIN(&doc, "body", &body);
  BSON_APPEND_DOCUMENT_BEGIN(&body, "response", &response);
  BSON_APPEND_INT32(&response, "status", 200);
  BSON_APPEND_INT64(&response, "bytes", 5000000000);
  bson_append_document_end(&body, &response);
  BSON_APPEND_DOUBLE(&body, "request_time", 0.0123);
  BSON_APPEND_BOOL(&body, "ok", true);
  BSON_APPEND_NULL(&body, "note");
  BSON_APPEND_UTF8(&body, "path", "/api/v12/items");
  BSON_APPEND_ARRAY_BEGIN(&body, "codes", &codes);
  BSON_APPEND_INT32(&codes, "0", 200);
  BSON_APPEND_INT32(&codes, "1", 304);
  bson_append_array_end(&body, &codes);
  BSON_APPEND_INT64(&body, "big", 9007199254740993);  // 2^53 + 1
  BSON_APPEND_DATE_TIME(&body, "when", 1700000000500);
  BSON_APPEND_DOUBLE(&body, "nan", std::nan(""));
  BSON_APPEND_INT32(&body, "neg", -5);
  BSON_APPEND_UTF8(&body, "empty", "");
  BSON_APPEND_UTF8(&body,
                   "\xc3\xbcn\xc3\xaf"
                   "code",
                   "x\xc3\xa9");
  bson_append_utf8(&body, "tricky", -1, "a\"b\\c\nd\0e", 9);
  BSON_APPEND_UTF8(&body, "Upper", "B");
  bson_append_document_end(&doc, &body);
  std::string bytes = Bytes(&doc);
  bson_destroy(&doc);
  return bytes;
}

// Whether `expr` parses and matches the test event; fails the test on a
// parse error.
bool Match(const std::string& expr, const std::string& bson = TestEvent()) {
  absl::StatusOr<Where> where = Where::Parse(expr);
  EXPECT_TRUE(where.ok()) << expr << ": " << where.status();
  return where.ok() && where->Matches(bson);
}

// The parse error's message for `expr` ("" if it parses).
std::string Error(const std::string& expr) {
  absl::StatusOr<Where> where = Where::Parse(expr);
  if (where.ok()) return "";
  EXPECT_EQ(where.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(where.status().message());
}

TEST(WhereTest, EveryOperatorOnIntegers) {
  EXPECT_TRUE(Match("body.response.status == 200"));
  EXPECT_FALSE(Match("body.response.status == 201"));
  EXPECT_TRUE(Match("body.response.status != 201"));
  EXPECT_FALSE(Match("body.response.status != 200"));
  EXPECT_TRUE(Match("body.response.status < 201"));
  EXPECT_FALSE(Match("body.response.status < 200"));
  EXPECT_TRUE(Match("body.response.status <= 200"));
  EXPECT_FALSE(Match("body.response.status <= 199"));
  EXPECT_TRUE(Match("body.response.status > 199"));
  EXPECT_FALSE(Match("body.response.status > 200"));
  EXPECT_TRUE(Match("body.response.status >= 200"));
  EXPECT_FALSE(Match("body.response.status >= 201"));
  EXPECT_TRUE(Match("pid == 42"));
}

TEST(WhereTest, NumbersCompareAcrossInt32Int64AndDouble) {
  EXPECT_TRUE(Match("body.response.status == 200.0"));
  EXPECT_TRUE(Match("body.response.status < 200.5"));
  EXPECT_TRUE(Match("body.response.status > 199.99"));
  EXPECT_TRUE(Match("body.response.bytes == 5000000000"));
  EXPECT_TRUE(Match("body.response.bytes > 4.9e9"));
  EXPECT_TRUE(Match("body.response.bytes < 5e9 or body.response.bytes >= 5e9"));
  EXPECT_TRUE(Match("body.request_time > 0.01 and body.request_time < 1"));
  EXPECT_TRUE(Match("body.request_time == 0.0123"));
  EXPECT_TRUE(Match("start < 1700000000.3 and end == 1700000000.5"));
  EXPECT_TRUE(Match("end > 1700000000 and end < 1700000001"));
  // Exact: 2^53 + 1 is not rounded to the double 2^53.
  EXPECT_FALSE(Match("body.big == 9007199254740992.0"));
  EXPECT_TRUE(Match("body.big > 9007199254740992.0"));
  EXPECT_TRUE(Match("body.big == 9007199254740993"));
  EXPECT_TRUE(Match("body.big < 1e300 and body.big > -1e300"));
  // Negative literals and exponents.
  EXPECT_TRUE(Match("body.neg == -5"));
  EXPECT_TRUE(Match("body.neg < -4.5 and body.neg > -1e1"));
  EXPECT_TRUE(Match("body.neg >= -5E0 and body.neg <= -0.5e+1"));
  // Integers beyond 64 bits become doubles.
  EXPECT_TRUE(Match("body.big < 99999999999999999999"));
}

TEST(WhereTest, DatetimeComparesAsUnixSeconds) {
  EXPECT_TRUE(Match("body.when == 1700000000.5"));
  EXPECT_TRUE(Match("body.when > 1700000000 and body.when < 1700000001"));
  EXPECT_FALSE(Match("body.when == 1700000000500"));
}

TEST(WhereTest, NanEqualsNothingAndOrdersWithNothing) {
  for (const char* op : {"==", "<", "<=", ">", ">="}) {
    EXPECT_FALSE(Match(absl::StrCat("body.nan ", op, " 1")));
    EXPECT_FALSE(Match(absl::StrCat("body.nan ", op, " 1.5")));
  }
  EXPECT_TRUE(Match("body.nan != 1"));
}

TEST(WhereTest, StringsCompareBytewise) {
  EXPECT_TRUE(Match("host == \"web-1\""));
  EXPECT_FALSE(Match("host == \"web-\""));
  EXPECT_TRUE(Match("host != \"web-2\""));
  EXPECT_TRUE(Match("host < \"web-2\" and host > \"web-\""));
  EXPECT_TRUE(Match("host <= \"web-1\" and host >= \"web-1\""));
  // Bytewise: 'B' (0x42) sorts before 'a' (0x61); no collation.
  EXPECT_TRUE(Match("body.Upper < \"a\""));
  EXPECT_TRUE(Match("host > \"Web\""));
  EXPECT_TRUE(Match("body.empty == \"\""));
  EXPECT_TRUE(Match("body.empty < \"a\""));
  // UTF-8 keys and values; \u escapes.
  EXPECT_TRUE(
      Match("body.\xc3\xbcn\xc3\xaf"
            "code == \"x\xc3\xa9\""));
  EXPECT_TRUE(
      Match("body.\xc3\xbcn\xc3\xaf"
            "code == \"\\u0078\\u00E9\""));
  // Escapes, and a NUL inside the event's string.
  EXPECT_FALSE(Match("body.tricky == \"a\\\"b\\\\c\\nd\""));
  EXPECT_TRUE(Match("body.tricky == \"a\\\"b\\\\c\\nd\\u0000e\""));
  EXPECT_TRUE(Match("body.tricky > \"a\\\"b\\\\c\\nd\""));
}

TEST(WhereTest, BoolsAndNull) {
  EXPECT_TRUE(Match("body.ok == true"));
  EXPECT_FALSE(Match("body.ok == false"));
  EXPECT_TRUE(Match("body.ok != false"));
  EXPECT_TRUE(Match("body.note == null"));
  EXPECT_FALSE(Match("body.note != null"));
  EXPECT_FALSE(Match("body.ok == null"));
  EXPECT_FALSE(Match("body.note == false"));
}

TEST(WhereTest, MismatchedTypesAreFalseButUnequal) {
  EXPECT_FALSE(Match("body.response.status == \"200\""));
  EXPECT_TRUE(Match("body.response.status != \"200\""));
  EXPECT_FALSE(Match("host > 5"));
  EXPECT_FALSE(Match("host < 5"));
  EXPECT_TRUE(Match("host != 5"));
  EXPECT_FALSE(Match("body.ok == 1"));
  EXPECT_FALSE(Match("body.response.status == true"));
  EXPECT_FALSE(Match("body.note == 0"));
  // Documents and arrays equal nothing.
  EXPECT_FALSE(Match("body.response == 200"));
  EXPECT_FALSE(Match("body.codes == 200"));
  EXPECT_TRUE(Match("body.codes != 200"));
}

TEST(WhereTest, MissingPathsAndExists) {
  for (const char* op : {"==", "<", "<=", ">", ">="}) {
    EXPECT_FALSE(Match(absl::StrCat("body.nope ", op, " 1")));
    EXPECT_FALSE(Match(absl::StrCat("nope ", op, " \"x\"")));
  }
  EXPECT_TRUE(Match("body.nope != 1"));  // != is "not =="
  EXPECT_FALSE(Match("body.nope =~ \"\""));
  EXPECT_FALSE(Match("exists(body.nope)"));
  EXPECT_TRUE(Match("not exists(body.nope)"));
  EXPECT_TRUE(Match("exists(body.note)"));  // null is a value
  EXPECT_TRUE(Match("exists(body)"));
  EXPECT_TRUE(Match("exists( body.response.status )"));
  EXPECT_TRUE(Match("exists (type)"));
  // Through something that is not a document.
  EXPECT_FALSE(Match("exists(host.x)"));
  EXPECT_FALSE(Match("type.x == 1"));
  EXPECT_FALSE(Match("exists(body.response.status.x)"));
  // A field called "exists" is a path when no '(' follows.
  EXPECT_FALSE(Match("exists == 1"));
}

TEST(WhereTest, ArraysByIndex) {
  EXPECT_TRUE(Match("body.codes.0 == 200"));
  EXPECT_TRUE(Match("body.codes.1 == 304"));
  EXPECT_FALSE(Match("exists(body.codes.2)"));
}

TEST(WhereTest, RegularExpressions) {
  EXPECT_TRUE(Match("host =~ \"^web\""));
  EXPECT_FALSE(Match("host =~ \"^eb\""));
  EXPECT_TRUE(Match("host =~ \"eb\""));  // anywhere
  EXPECT_FALSE(Match("host =~ \"WEB\""));
  EXPECT_TRUE(Match("host =~ \"(?i)WEB\""));
  EXPECT_TRUE(Match("host =~ \"^web-\\d$\""));  // "\d" kept for RE2
  EXPECT_TRUE(Match("body.path =~ \"/v\\d+/\""));
  EXPECT_TRUE(Match("body.path =~ \"\\bitems\\b\""));  // "\b": boundary
  EXPECT_FALSE(Match("body.path =~ \"^/api\\.v\""));
  EXPECT_FALSE(Match("body.response.status =~ \"2\""));  // not a string
  EXPECT_FALSE(Match("body.codes =~ \"\""));
  EXPECT_TRUE(Match("body.empty =~ \"^$\""));
}

// Plain patterns, anchored or not, are matched without RE2: whatever the
// path, the answer is RE2's.
TEST(WhereTest, PlainPatternsMatchAsRe2Does) {
  const std::string patterns[] = {
      "",      "^",    "$",   "^$",     "web",      "^web",   "web$",
      "^web$", "we-b", "a b", "^/api/", "\\.json$", "w.b",    "web|db",
      "b$x",   "#~",   "^^w", "web$$",  "\xc3\xa9", "(?i)web"};
  const std::string texts[] = {
      "",     "web",   "web-1",     "aweb",     "webb", "WEB",  "w",
      "we-b", "a b",   "/api/x",    "x.json",   "wxb",  "db",   "b$x",
      "#~",   "web\n", "line\nweb", "\xc3\xa9", "^web", "web$", "weB"};
  for (const std::string& pattern : patterns) {
    const std::string expr = absl::StrCat("s =~ \"", pattern, "\"");
    const absl::StatusOr<Where> where = Where::Parse(expr);
    ASSERT_TRUE(where.ok()) << expr << ": " << where.status();
    const re2::RE2 regex(pattern);
    for (const std::string& text : texts) {
      bson_t doc;
      bson_init(&doc);
      BSON_APPEND_UTF8(&doc, "s", text.c_str());
      EXPECT_EQ(where->Matches(Bytes(&doc)),
                re2::RE2::PartialMatch(text, regex))
          << expr << " on \"" << text << "\"";
      bson_destroy(&doc);
    }
  }
}

TEST(WhereTest, PrecedenceNotThenAndThenOr) {
  const std::string t = "exists(type)";
  const std::string f = "exists(nope)";
  auto expr = [&](std::string pattern) {
    for (size_t at; (at = pattern.find('T')) != std::string::npos;) {
      pattern.replace(at, 1, t);
    }
    for (size_t at; (at = pattern.find('F')) != std::string::npos;) {
      pattern.replace(at, 1, f);
    }
    return pattern;
  };
  EXPECT_TRUE(Match(expr("T or F and F")));  // T or (F and F)
  EXPECT_FALSE(Match(expr("(T or F) and F")));
  EXPECT_TRUE(Match(expr("F and F or T")));  // (F and F) or T
  EXPECT_FALSE(Match(expr("F and (F or T)")));
  EXPECT_FALSE(Match(expr("not F and F")));  // (not F) and F
  EXPECT_TRUE(Match(expr("not (F and F)")));
  EXPECT_TRUE(Match(expr("not T or T")));  // (not T) or T
  EXPECT_FALSE(Match(expr("not (T or T)")));
  EXPECT_TRUE(Match(expr("not not T")));
  EXPECT_FALSE(Match(expr("not not not T")));
  EXPECT_TRUE(Match(expr("T and T and T or F")));
  EXPECT_FALSE(Match(expr("T and T and (F or F)")));
  EXPECT_TRUE(Match(expr("((((T))))")));
  EXPECT_TRUE(Match(expr("not(F)and(T)or(F)")));
}

TEST(WhereTest, WhitespaceAndLayout) {
  EXPECT_TRUE(Match("body.response.status>=200 and(host=~\"^web\")"));
  EXPECT_TRUE(Match("\t body.response.status\n==\n200 \n"));
  EXPECT_TRUE(Match("type==\"request\"and host==\"web-1\""));
}

TEST(WhereTest, NestingUpToTheLimitAndLongChains) {
  auto nested = [](int depth) {
    return std::string(static_cast<size_t>(depth), '(') + "exists(type)" +
           std::string(static_cast<size_t>(depth), ')');
  };
  EXPECT_TRUE(Match(nested(Where::kMaxNesting)));
  EXPECT_EQ(Error(nested(Where::kMaxNesting + 1)),
            "at 65: nested deeper than 64 levels of 'not' and '('");
  std::string nots;
  for (int i = 0; i < Where::kMaxNesting + 1; ++i) nots += "not ";
  EXPECT_EQ(Error(nots + "exists(type)"),
            "at 257: nested deeper than 64 levels of 'not' and '('");
  // A long chain is one node, not a deep tree.
  std::vector<std::string> terms(100000, "body.nope == 1");
  terms.push_back("type == \"request\"");
  EXPECT_TRUE(Match(absl::StrJoin(terms, " or ")));
  terms.back() = "type == \"x\"";
  EXPECT_FALSE(Match(absl::StrJoin(terms, " or ")));
}

TEST(WhereTest, ErrorsNameTheColumn) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "at 1: empty expression"},
      {"   ", "at 1: empty expression"},
      {"body.response.status >=", "at 24: expected a value after '>='"},
      {"status >= and x == 1", "at 11: expected a value after '>='"},
      {"host == web", "at 9: expected a value after '=='"},
      {"start < end", "at 9: expected a value after '<'"},
      {"status",
       "at 7: expected an operator (== != < <= > >= =~) after 'status'"},
      {"body.x 500",
       "at 8: expected an operator (== != < <= > >= =~) after 'body.x'"},
      {"status = 200", "at 8: '=' is not an operator: use '=='"},
      {"status == 200 and",
       "at 18: expected a field path, exists(path), 'not' or '(', not the "
       "end"},
      {"status == 200 or or x == 1",
       "at 18: expected a field path, exists(path), 'not' or '(', not 'or'"},
      {"200 == status",
       "at 1: expected a field path, exists(path), 'not' or '(', not '200'"},
      {"and == 1",
       "at 1: expected a field path, exists(path), 'not' or '(', not 'and'"},
      {"-x == 1",
       "at 1: expected a field path, exists(path), 'not' or '(', not '-x'"},
      {"not",
       "at 4: expected a field path, exists(path), 'not' or '(', not the "
       "end"},
      {"()",
       "at 2: expected a field path, exists(path), 'not' or '(', not ')'"},
      {"(status == 200", "at 15: expected ')' for the '(' at 1, not the end"},
      {"(a == 1 b == 2)", "at 9: expected ')' for the '(' at 1, not 'b'"},
      {"status == 200)", "at 14: expected 'and', 'or' or the end, not ')'"},
      {"status == 200 host == 1",
       "at 15: expected 'and', 'or' or the end, not 'host'"},
      {"a == 1 && b == 2", "at 8: expected 'and', 'or' or the end, not '&'"},
      {"a == 1 andb == 2", "at 8: expected 'and', 'or' or the end, not 'andb'"},
      {"host == \"web", "at 9: unterminated string"},
      {"host == \"web\\\"", "at 9: unterminated string"},
      {"host =~ 5", "at 9: '=~' needs a string: a regular expression"},
      {"host =~ true", "at 9: '=~' needs a string: a regular expression"},
      {"host =~ \"(\"", "at 9: bad regular expression: missing ): ("},
      {"ok < true", "at 6: '<' compares numbers or strings, not true"},
      {"ok >= null", "at 7: '>=' compares numbers or strings, not null"},
      {"n == 1.2.3", "at 6: bad number '1.2.3'"},
      {"n == 12abc", "at 6: bad number '12abc'"},
      {"n == -", "at 6: bad number '-'"},
      {"n == 1.", "at 6: bad number '1.'"},
      {"n == 1e", "at 6: bad number '1e'"},
      {"n == 1e999", "at 6: number out of range '1e999'"},
      {"body. == 1", "at 6: expected a key after '.'"},
      {"body..x == 1", "at 6: expected a key after '.'"},
      {"exists()", "at 8: expected a field path, not ')'"},
      {"exists(a", "at 9: expected ')' for the '(' at 7, not the end"},
      {"exists(a b)", "at 10: expected ')' for the '(' at 7, not 'b'"},
      {"a == \"\\u12\"", "at 7: bad escape: \\u takes four hex digits"},
      {"a == \"\\u12g4\"", "at 7: bad escape: \\u takes four hex digits"},
      {"a == \"\\ud800\"",
       "at 7: bad escape: \\u of a surrogate (write the character itself)"},
  };
  for (const auto& [expr, message] : cases) {
    EXPECT_EQ(Error(expr), message) << expr;
  }
}

TEST(WhereTest, MalformedDocumentsMatchNothingAndAreNotReadPast) {
  const std::string event = TestEvent();
  const absl::StatusOr<Where> where =
      Where::Parse("exists(body.tricky) or body.nope != 1");
  ASSERT_TRUE(where.ok());
  EXPECT_TRUE(where->Matches(event));
  // Every truncation: the declared lengths overrun; nothing is found, so
  // only "!=" can hold. Copies so that ASan sees any read past the end.
  const absl::StatusOr<Where> found = Where::Parse("exists(body.tricky)");
  ASSERT_TRUE(found.ok());
  for (size_t n = 0; n < event.size(); ++n) {
    const std::string cut = event.substr(0, n);
    EXPECT_FALSE(found->Matches(cut)) << n;
    EXPECT_TRUE(where->Matches(cut)) << n;
  }
  // A length inside a field that points past its document.
  std::string bad = event;
  const size_t body = bad.find("body") + 5;
  bad[body] = '\x7f';
  EXPECT_FALSE(found->Matches(bad));
}

TEST(WhereTest, CopiesShareTheCompiledExpression) {
  absl::StatusOr<Where> where = Where::Parse("host =~ \"^web\"");
  ASSERT_TRUE(where.ok());
  const Where copy = *where;
  where = Where::Parse("host =~ \"^db\"");
  ASSERT_TRUE(where.ok());
  EXPECT_TRUE(copy.Matches(TestEvent()));
  EXPECT_FALSE(where->Matches(TestEvent()));
}

}  // namespace
}  // namespace ziggy
