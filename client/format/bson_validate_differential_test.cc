// ValidateDocument and ValidateEvent against the reference validator
// (internal::ValidateDocumentByReference, the element-by-element loop the
// fast one replaced): the same verdict, reason, UTF-8 flag and top-level
// visits on every input, and ValidateEvent's routing fields as a visitor
// reading them from the reference's visits finds them. Inputs: the fuzz
// corpora of the intake, reader, relay protocol and segment scanner
// (testdata/validate_corpus, and every document framed inside them),
// documents of every type and of text that is and is not UTF-8 at every
// length and place, random documents, and of each: every prefix, every byte
// set to values that matter to the format, and random mutations, each at
// four depth limits.

#include <dirent.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "client/format/bson_type.h"
#include "client/format/bson_validate.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

constexpr char kCorpus[] = "client/format/testdata/validate_corpus";
constexpr int kDepths[] = {0, 1, 2, 100};

// A top-level visit, with the value as its place in the document.
struct Visit {
  std::string key;
  BsonType type;
  size_t offset, size;
  bool operator==(const Visit& o) const {
    return key == o.key && type == o.type && offset == o.offset &&
           size == o.size;
  }
};

struct Outcome {
  bool valid;
  std::string why;
  bool utf8;
  std::vector<Visit> visits;
};

using Validator = bool (*)(absl::string_view, int, std::string*,
                           TopLevelVisitor, bool*);

Outcome Run(Validator validate, absl::string_view doc, int depth) {
  Outcome out{false, "", false, {}};
  out.valid = validate(
      doc, depth, &out.why,
      [&](absl::string_view key, BsonType type, absl::string_view value) {
        out.visits.push_back({std::string(key), type,
                              static_cast<size_t>(value.data() - doc.data()),
                              value.size()});
      },
      &out.utf8);
  return out;
}

// What the intake's old visitor read from the reference's visits.
RoutingFields FieldsFrom(absl::string_view doc, const std::vector<Visit>& v) {
  RoutingFields fields;
  for (const Visit& visit : v) {
    const absl::string_view value = doc.substr(visit.offset, visit.size);
    if (visit.key == "type") {
      fields.has_type = true;
      fields.type_is_string = visit.type == BsonType::kString;
      fields.type = value;
    } else if (visit.key == "host" && visit.type == BsonType::kString) {
      fields.host = value;
    } else if (visit.key == "end" && visit.type == BsonType::kDouble) {
      memcpy(&fields.end, value.data(), sizeof fields.end);
    }
  }
  return fields;
}

bool SameFields(const RoutingFields& a, const RoutingFields& b) {
  return a.has_type == b.has_type && a.type_is_string == b.type_is_string &&
         a.type.data() == b.type.data() && a.type.size() == b.type.size() &&
         a.host.data() == b.host.data() && a.host.size() == b.host.size() &&
         memcmp(&a.end, &b.end, sizeof a.end) == 0;
}

class Differential {
 public:
  // Every check of `doc` at every depth limit; false at the first
  // difference (reported).
  bool Check(absl::string_view doc) {
    for (int depth : kDepths) {
      ++checks_;
      if (!CheckAt(doc, depth)) {
        ADD_FAILURE() << "differs at depth " << depth << " on \""
                      << absl::CHexEscape(doc) << "\"";
        return false;
      }
    }
    valid_ += valid_at_100_;
    return true;
  }
  uint64_t checks() const { return checks_; }
  uint64_t valid() const { return valid_; }

 private:
  bool CheckAt(absl::string_view doc, int depth) {
    const Outcome want =
        Run(&internal::ValidateDocumentByReference, doc, depth);
    const Outcome got = Run(
        [](absl::string_view d, int max, std::string* why, TopLevelVisitor v,
           bool* utf8) { return ValidateDocument(d, max, why, v, utf8); },
        doc, depth);
    if (depth == 100) valid_at_100_ = want.valid;
    if (got.valid != want.valid || got.why != want.why ||
        got.visits != want.visits || (want.valid && got.utf8 != want.utf8)) {
      return false;
    }
    std::string why;
    if (ValidateDocument(doc, depth, &why) != want.valid || why != want.why) {
      return false;
    }
    RoutingFields fields;
    bool utf8 = false;
    why.clear();
    if (ValidateEvent(doc, depth, &why, &fields, &utf8) != want.valid ||
        why != want.why) {
      return false;
    }
    return !want.valid || (utf8 == want.utf8 &&
                           SameFields(fields, FieldsFrom(doc, want.visits)));
  }

  uint64_t checks_ = 0;
  uint64_t valid_ = 0;
  bool valid_at_100_ = false;
};

// Documents built byte by byte.
std::string Int32(int32_t v) {
  char bytes[4];
  absl::little_endian::Store32(bytes, static_cast<uint32_t>(v));
  return std::string(bytes, 4);
}
std::string Doc(absl::string_view elements) {
  return Int32(static_cast<int32_t>(elements.size() + 5)) +
         std::string(elements) + std::string(1, '\0');
}
std::string Element(BsonType type, absl::string_view key,
                    absl::string_view value) {
  return std::string(1, static_cast<char>(type)) + std::string(key) +
         std::string(1, '\0') + std::string(value);
}
std::string Str(absl::string_view text) {
  return Int32(static_cast<int32_t>(text.size() + 1)) + std::string(text) +
         std::string(1, '\0');
}

// One element of every type (and the routing fields, twice, in other
// types too), nested in a document and an array and a scope.
std::string EveryType() {
  const std::string inner =
      Doc(Element(BsonType::kInt32, "x", Int32(1)) +
          Element(BsonType::kString, "type", Str("inner")));
  std::string e = Element(BsonType::kString, "type", Str("request"));
  e += Element(BsonType::kString, "host", Str("web-1"));
  e += Element(BsonType::kDouble, "end", std::string(8, '\x41'));
  e += Element(BsonType::kDocument, "body", inner);
  e += Element(BsonType::kArray, "list", inner);
  e += Element(BsonType::kBinary, "bin",
               Int32(3) +
                   "\x00"
                   "abc");
  e += Element(BsonType::kBinary, "old", Int32(7) + "\x02" + Int32(3) + "abc");
  e += Element(BsonType::kUndefined, "u", "");
  e += Element(BsonType::kObjectId, "oid", std::string(12, '\x07'));
  e += Element(BsonType::kBool, "t", std::string(1, '\x01'));
  e += Element(BsonType::kDateTime, "date", std::string(8, '\x05'));
  e += Element(BsonType::kNull, "null", "");
  e += Element(BsonType::kRegex, "re", std::string("a+\0i\0", 5));
  e += Element(BsonType::kDbPointer, "ptr", Str("coll") + std::string(12, 'p'));
  e += Element(BsonType::kJavaScript, "code", Str("f()"));
  e += Element(BsonType::kSymbol, "sym", Str("s"));
  const std::string code = Str("g()");
  e += Element(BsonType::kCodeWithScope, "cws",
               Int32(static_cast<int32_t>(4 + code.size() + inner.size())) +
                   code + inner);
  e += Element(BsonType::kTimestamp, "ts", std::string(8, '\x11'));
  e += Element(BsonType::kInt64, "i64", std::string(8, '\x12'));
  e += Element(BsonType::kDecimal128, "dec", std::string(16, '\x13'));
  e += Element(BsonType::kMinKey, "min", "");
  e += Element(BsonType::kMaxKey, "max", "");
  e += Element(BsonType::kInt32, "type", Int32(5));
  e += Element(BsonType::kInt32, "host", Int32(5));
  e += Element(BsonType::kString, "end", Str("x"));
  return Doc(e);
}

// Text of every length up to 24 with one byte >= 0x80 (a lone
// continuation, a lead cut short, a whole sequence) at every place, as a
// value, a key, a nested value and a regex.
std::vector<std::string> TextDocs() {
  std::vector<std::string> docs;
  const std::string marks[] = {
      "\x80",         "\xC3", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
      "\xED\xA0\x80", "\xFF"};
  for (size_t length = 0; length <= 24; ++length) {
    for (size_t at = 0; at <= length; ++at) {
      for (const std::string& mark : marks) {
        std::string text(length, 'a');
        text.insert(at, mark);
        docs.push_back(Doc(Element(BsonType::kString, "k", Str(text))));
        docs.push_back(Doc(Element(BsonType::kString, text, Str("v"))));
        docs.push_back(
            Doc(Element(BsonType::kDocument, "d",
                        Doc(Element(BsonType::kJavaScript, "c", Str(text))))));
        docs.push_back(Doc(
            Element(BsonType::kRegex, "r",
                    text + std::string(1, '\0') + "i" + std::string(1, '\0'))));
      }
    }
  }
  return docs;
}

// A random document of up to `elements` elements, nesting up to `depth`.
std::string RandomDoc(std::mt19937* rng, int elements, int depth) {
  std::uniform_int_distribution<int> pick(0, 9);
  std::string e;
  const int n = std::uniform_int_distribution<int>(0, elements)(*rng);
  for (int i = 0; i < n; ++i) {
    const std::string key(std::uniform_int_distribution<int>(0, 12)(*rng),
                          static_cast<char>('a' + i % 26));
    const std::string text(std::uniform_int_distribution<int>(0, 40)(*rng),
                           't');
    switch (pick(*rng)) {
      case 0:
        e += Element(BsonType::kString, key, Str(text));
        break;
      case 1:
        e += Element(BsonType::kInt32, key, Int32(i));
        break;
      case 2:
        e += Element(BsonType::kDouble, key, std::string(8, 'd'));
        break;
      case 3:
        e += Element(BsonType::kInt64, key, std::string(8, 'l'));
        break;
      case 4:
        e += Element(BsonType::kBool, key, std::string(1, '\0'));
        break;
      case 5:
        e += Element(BsonType::kNull, key, "");
        break;
      case 6:
        e += Element(BsonType::kString, "type", Str(text));
        break;
      case 7:
        e += Element(BsonType::kString, "host", Str(text));
        break;
      default:
        if (depth > 0) {
          e += Element(i % 2 ? BsonType::kDocument : BsonType::kArray, key,
                       RandomDoc(rng, elements / 2, depth - 1));
        }
    }
  }
  return Doc(e);
}

std::vector<std::string> CorpusFiles() {
  std::vector<std::string> files;
  DIR* dir = opendir(kCorpus);
  if (dir == nullptr) return files;
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    std::ifstream in(std::string(kCorpus) + "/" + name, std::ios::binary);
    files.emplace_back(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
  }
  closedir(dir);
  return files;
}

// The input and, for every offset whose int32 length fits the input, the
// document framed there.
std::vector<std::string> Framed(const std::string& input) {
  std::vector<std::string> docs{input};
  for (size_t i = 0; i + 4 <= input.size(); ++i) {
    const int32_t len =
        static_cast<int32_t>(absl::little_endian::Load32(input.data() + i));
    if (len >= 5 && static_cast<size_t>(len) <= input.size() - i) {
      docs.push_back(input.substr(i, static_cast<size_t>(len)));
    }
  }
  return docs;
}

// The seed, every prefix, every byte set to each value that matters, and
// `random` copies with up to four random bytes changed.
bool CheckMutations(Differential* d, const std::string& seed, int random,
                    std::mt19937* rng) {
  if (!d->Check(seed)) return false;
  for (size_t n = 0; n < seed.size(); ++n) {
    if (!d->Check(absl::string_view(seed).substr(0, n))) return false;
  }
  const uint8_t values[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
                            0x0F, 0x10, 0x7F, 0x80, 0xC3, 0xFF};
  for (size_t i = 0; i < seed.size(); ++i) {
    std::string copy = seed;
    for (uint8_t v : values) {
      copy[i] = static_cast<char>(v);
      if (!d->Check(copy)) return false;
    }
    copy[i] = static_cast<char>(seed[i] + 1);
    if (!d->Check(copy)) return false;
    copy[i] = static_cast<char>(seed[i] - 1);
    if (!d->Check(copy)) return false;
  }
  for (int r = 0; r < random && !seed.empty(); ++r) {
    std::string copy = seed;
    const int changes = std::uniform_int_distribution<int>(1, 4)(*rng);
    for (int c = 0; c < changes; ++c) {
      copy[std::uniform_int_distribution<size_t>(0, seed.size() - 1)(*rng)] =
          static_cast<char>(std::uniform_int_distribution<int>(0, 255)(*rng));
    }
    if (!d->Check(copy)) return false;
  }
  return true;
}

TEST(ValidateDifferentialTest, CorpusAndMutations) {
  const std::vector<std::string> files = CorpusFiles();
  ASSERT_GE(files.size(), 30u) << "corpus missing from " << kCorpus;
  std::mt19937 rng(15);
  Differential d;
  for (const std::string& file : files) {
    for (const std::string& doc : Framed(file)) {
      ASSERT_TRUE(CheckMutations(&d, doc, 200, &rng));
    }
  }
  ASSERT_TRUE(CheckMutations(&d, EveryType(), 5000, &rng));
  std::cout << d.checks() << " checks, " << d.valid() << " valid\n";
  EXPECT_GE(d.checks(), 100000u);
}

TEST(ValidateDifferentialTest, TextAndRandomDocuments) {
  std::mt19937 rng(1015);
  Differential d;
  for (const std::string& doc : TextDocs()) {
    ASSERT_TRUE(d.Check(doc));
    ASSERT_TRUE(d.Check(absl::string_view(doc).substr(0, doc.size() - 1)));
  }
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(CheckMutations(&d, RandomDoc(&rng, 12, 3), 20, &rng));
  }
  std::cout << d.checks() << " checks, " << d.valid() << " valid\n";
  EXPECT_GE(d.checks(), 100000u);
  EXPECT_GE(d.valid(), 10000u);
}

}  // namespace
}  // namespace ziggy
