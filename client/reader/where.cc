#include "client/reader/where.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/types/optional.h"
#include "client/format/bson_type.h"
#include "client/reader/bson_elements.h"
#include "re2/re2.h"

namespace ziggy {

namespace {

enum class Kind : uint8_t { kOr, kAnd, kNot, kExists, kCompare };
enum class Op : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kMatch };

// A number as BSON holds it: an integer or a double, compared exactly.
struct Number {
  bool is_int = true;
  int64_t i = 0;
  double d = 0;
};

struct Literal {
  enum Type : uint8_t { kNumber, kString, kBool, kNull } type = kNull;
  Number number;
  std::string text;
  bool truth = false;
};

// One field found in a document: its type and value bytes (a string's text
// without length and NUL; a document's or array's whole bytes).
struct Field {
  BsonType type;
  absl::string_view value;
};

enum class Order : uint8_t { kLess, kEqual, kGreater, kUnordered };

// The right side of =~. A pattern that is plain text, perhaps anchored
// ("^web", "timeout", "^GET$"), is matched by comparing bytes: RE2's call
// costs more than the match on an event's short strings.
class Pattern {
 public:
  // Compiles `pattern`; an error names RE2's reason.
  static absl::StatusOr<Pattern> Compile(const std::string& pattern);

  bool Matches(absl::string_view text) const {
    switch (plain_) {
      case Plain::kNo:
        // No submatches: PartialMatch's argument plumbing costs as much
        // as the match on short strings.
        return regex_->Match(re2::StringPiece(text.data(), text.size()), 0,
                             text.size(), re2::RE2::UNANCHORED, nullptr, 0);
      case Plain::kAnywhere:
        return absl::StrContains(text, literal_);
      case Plain::kPrefix:
        return absl::StartsWith(text, literal_);
      case Plain::kSuffix:
        return absl::EndsWith(text, literal_);
      case Plain::kWhole:
        return text == literal_;
    }
    return false;
  }

 private:
  enum class Plain : uint8_t { kNo, kAnywhere, kPrefix, kSuffix, kWhole };

  Plain plain_ = Plain::kNo;
  std::string literal_;                    // the text, without ^ and $
  std::unique_ptr<const re2::RE2> regex_;  // when not plain
};

absl::StatusOr<Pattern> Pattern::Compile(const std::string& pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto regex = std::make_unique<const re2::RE2>(pattern, options);
  if (!regex->ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad regular expression: ", regex->error()));
  }
  Pattern compiled;
  absl::string_view text = pattern;
  const bool prefix = absl::ConsumePrefix(&text, "^");
  const bool suffix = absl::ConsumeSuffix(&text, "$");
  // Printable ASCII but RE2's operators is itself (and a '$' before the
  // last is not an anchor but text RE2 cannot match; not plain either).
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x20 && c < 0x7F && !absl::StrContains("\\.+*?()|[]{}^$", c);
  });
  if (!plain) {
    compiled.regex_ = std::move(regex);
    return compiled;
  }
  compiled.literal_ = std::string(text);
  compiled.plain_ = prefix && suffix ? Plain::kWhole
                    : prefix         ? Plain::kPrefix
                    : suffix         ? Plain::kSuffix
                                     : Plain::kAnywhere;
  return compiled;
}

struct Node {
  Kind kind;
  Op op = Op::kEq;
  std::vector<int> children;  // kOr, kAnd (two or more), kNot (one)
  std::vector<std::string> path;
  Literal literal;
  absl::optional<Pattern> pattern;  // for Op::kMatch
};

}  // namespace

struct Where::Program {
  std::vector<Node> nodes;  // children before parents
  int root = 0;
};

namespace {

uint32_t Load32(const char* p) { return absl::little_endian::Load32(p); }
uint64_t Load64(const char* p) { return absl::little_endian::Load64(p); }

// Finds the first element named `key` in the document `doc` (its bytes,
// length prefix first), never reading past `doc`.
bool FindElement(absl::string_view doc, absl::string_view key, Field* field) {
  BsonElements elements(doc);
  BsonElement element;
  while (elements.Next(&element)) {
    if (element.key != key) continue;
    field->type = element.type;
    field->value =
        element.type == BsonType::kString ? element.text() : element.value;
    return true;
  }
  return false;
}

bool Lookup(absl::string_view bson, const std::vector<std::string>& path,
            Field* field) {
  for (size_t i = 0; i < path.size(); ++i) {
    if (!FindElement(bson, path[i], field)) return false;
    if (i + 1 == path.size()) return true;
    if (field->type != BsonType::kDocument && field->type != BsonType::kArray) {
      return false;
    }
    bson = field->value;
  }
  return false;  // an empty path names nothing
}

// A BSON value as a Number, when it is one (datetime in seconds).
bool ReadNumber(const Field& field, Number* number) {
  const char* p = field.value.data();
  switch (field.type) {
    case BsonType::kInt32:
      *number = {true, static_cast<int32_t>(Load32(p)), 0};
      return true;
    case BsonType::kInt64:
      *number = {true, static_cast<int64_t>(Load64(p)), 0};
      return true;
    case BsonType::kDouble: {
      const uint64_t bits = Load64(p);
      number->is_int = false;
      memcpy(&number->d, &bits, sizeof bits);
      return true;
    }
    case BsonType::kDateTime:
      number->is_int = false;
      number->d = static_cast<double>(static_cast<int64_t>(Load64(p))) / 1000;
      return true;
    default:
      return false;
  }
}

template <typename T>
Order Compare3(T a, T b) {
  return a < b ? Order::kLess : (b < a ? Order::kGreater : Order::kEqual);
}

// i against d, exactly: no rounding of i to a double.
Order CompareIntDouble(int64_t i, double d) {
  if (std::isnan(d)) return Order::kUnordered;
  if (d >= 9223372036854775808.0) return Order::kLess;  // 2^63
  if (d < -9223372036854775808.0) return Order::kGreater;
  const double whole = std::trunc(d);
  const Order order = Compare3(i, static_cast<int64_t>(whole));
  if (order != Order::kEqual) return order;
  return Compare3(0.0, d - whole);
}

Order Flip(Order order) {
  if (order == Order::kLess) return Order::kGreater;
  if (order == Order::kGreater) return Order::kLess;
  return order;
}

Order CompareNumbers(const Number& a, const Number& b) {
  if (a.is_int && b.is_int) return Compare3(a.i, b.i);
  if (a.is_int) return CompareIntDouble(a.i, b.d);
  if (b.is_int) return Flip(CompareIntDouble(b.i, a.d));
  if (std::isnan(a.d) || std::isnan(b.d)) return Order::kUnordered;
  return Compare3(a.d, b.d);
}

Order CompareStrings(absl::string_view a, absl::string_view b) {
  const int c = memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  if (c != 0) return c < 0 ? Order::kLess : Order::kGreater;
  return Compare3(a.size(), b.size());
}

// How the event's `field` compares with `literal`; kUnordered when their
// types differ.
Order CompareField(const Field& field, const Literal& literal) {
  switch (literal.type) {
    case Literal::kNumber: {
      Number number;
      if (!ReadNumber(field, &number)) return Order::kUnordered;
      return CompareNumbers(number, literal.number);
    }
    case Literal::kString:
      if (field.type != BsonType::kString) return Order::kUnordered;
      return CompareStrings(field.value, literal.text);
    case Literal::kBool:
      if (field.type != BsonType::kBool) return Order::kUnordered;
      return (field.value[0] != 0) == literal.truth ? Order::kEqual
                                                    : Order::kUnordered;
    case Literal::kNull:
      return field.type == BsonType::kNull ? Order::kEqual : Order::kUnordered;
  }
  return Order::kUnordered;
}

bool Holds(Op op, Order order) {
  switch (op) {
    case Op::kEq:
      return order == Order::kEqual;
    case Op::kNe:
      return order != Order::kEqual;
    case Op::kLt:
      return order == Order::kLess;
    case Op::kLe:
      return order == Order::kLess || order == Order::kEqual;
    case Op::kGt:
      return order == Order::kGreater;
    case Op::kGe:
      return order == Order::kGreater || order == Order::kEqual;
    case Op::kMatch:
      break;
  }
  return false;
}

bool CompareMatches(const Node& node, absl::string_view bson) {
  Field field;
  const bool found = Lookup(bson, node.path, &field);
  if (node.op == Op::kMatch) {
    return found && field.type == BsonType::kString &&
           node.pattern->Matches(field.value);
  }
  return Holds(node.op,
               found ? CompareField(field, node.literal) : Order::kUnordered);
}

bool Eval(const std::vector<Node>& nodes, int index, absl::string_view bson) {
  const Node& node = nodes[static_cast<size_t>(index)];
  switch (node.kind) {
    case Kind::kOr:
      for (int child : node.children) {
        if (Eval(nodes, child, bson)) return true;
      }
      return false;
    case Kind::kAnd:
      for (int child : node.children) {
        if (!Eval(nodes, child, bson)) return false;
      }
      return true;
    case Kind::kNot:
      return !Eval(nodes, node.children[0], bson);
    case Kind::kExists: {
      Field field;
      return Lookup(bson, node.path, &field);
    }
    case Kind::kCompare:
      return CompareMatches(node, bson);
  }
  return false;
}

// Key characters of a path (see where.h); any byte >= 0x80 is part of a
// UTF-8 key.
bool IsKeyChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         c == '-' || c == '$' || c == '@' ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool IsOrdering(Op op) {
  return op == Op::kLt || op == Op::kLe || op == Op::kGt || op == Op::kGe;
}

// Appends code point `cp` (not a surrogate, at most U+FFFF) as UTF-8.
void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

// Recursive descent over the text, one node per operator; every failure
// records the first error with its column and returns -1 (or false).
class WhereParser {
 public:
  explicit WhereParser(absl::string_view text) : text_(text) {}

  absl::StatusOr<Where> Run() {
    SkipSpace();
    if (pos_ == text_.size())
      return absl::InvalidArgumentError("at 1: empty expression");
    const int root = Or(0);
    if (root >= 0) {
      SkipSpace();
      if (pos_ < text_.size()) {
        Fail(pos_,
             absl::StrCat("expected 'and', 'or' or the end, not ", Token()));
      }
    }
    if (!error_.ok()) return error_;
    auto program = std::make_shared<Where::Program>();
    program->nodes = std::move(nodes_);
    program->root = root;
    return Where(std::move(program));
  }

 private:
  int Or(int depth) { return Chain(Kind::kOr, "or", depth); }
  int And(int depth) { return Chain(Kind::kAnd, "and", depth); }

  // operand (word operand)*, as one n-ary node so that long chains do not
  // nest.
  int Chain(Kind kind, absl::string_view word, int depth) {
    Node node;
    node.kind = kind;
    do {
      const int operand = kind == Kind::kOr ? And(depth) : Unary(depth);
      if (operand < 0) return -1;
      node.children.push_back(operand);
    } while (ConsumeWord(word));
    if (node.children.size() == 1) return node.children[0];
    return Add(std::move(node));
  }

  int Unary(int depth) {
    SkipSpace();
    if (depth == Where::kMaxNesting && (IsWord("not") || Peek() == '(')) {
      return Fail(pos_, absl::StrCat("nested deeper than ", Where::kMaxNesting,
                                     " levels of 'not' and '('"));
    }
    if (ConsumeWord("not")) {
      Node node;
      node.kind = Kind::kNot;
      const int operand = Unary(depth + 1);
      if (operand < 0) return -1;
      node.children.push_back(operand);
      return Add(std::move(node));
    }
    if (Peek() == '(') {
      const size_t open = pos_++;
      const int inner = Or(depth + 1);
      if (inner < 0) return -1;
      if (!ConsumeChar(')')) return ExpectedClose(open);
      return inner;
    }
    if (IsWord("exists") && NextAfterSpace(pos_ + 6) == '(') return Exists();
    return Comparison();
  }

  int Exists() {
    pos_ += 6;
    SkipSpace();
    const size_t open = pos_++;
    Node node;
    node.kind = Kind::kExists;
    SkipSpace();
    if (!Path("a field path", &node.path)) return -1;
    if (!ConsumeChar(')')) return ExpectedClose(open);
    return Add(std::move(node));
  }

  int Comparison() {
    Node node;
    node.kind = Kind::kCompare;
    const size_t start = pos_;
    if (!Path("a field path, exists(path), 'not' or '('", &node.path)) {
      return -1;
    }
    const absl::string_view path = text_.substr(start, pos_ - start);
    SkipSpace();
    absl::string_view op;
    if (!Operator(&node.op, &op)) {
      if (Peek() == '=') return Fail(pos_, "'=' is not an operator: use '=='");
      return Fail(pos_, absl::StrCat("expected an operator (== != < <= > >= "
                                     "=~) after '",
                                     path, "'"));
    }
    SkipSpace();
    if (!Value(op, &node)) return -1;
    return Add(std::move(node));
  }

  // A dotted path; its keys into *path.
  // `expected` names what was expected if no path is here.
  bool Path(absl::string_view expected, std::vector<std::string>* path) {
    const char first = Peek();
    if (!IsKeyChar(first) || first == '-' ||
        absl::ascii_isdigit(static_cast<unsigned char>(first)) ||
        IsWord("and") || IsWord("or") || IsWord("not")) {
      return Failed(pos_,
                    absl::StrCat("expected ", expected, ", not ", Token()));
    }
    while (true) {
      const size_t start = pos_;
      while (pos_ < text_.size() && IsKeyChar(text_[pos_])) ++pos_;
      if (pos_ == start) {
        return Failed(pos_, "expected a key after '.'");
      }
      path->emplace_back(text_.substr(start, pos_ - start));
      if (Peek() != '.') return true;
      ++pos_;
    }
  }

  bool Operator(Op* op, absl::string_view* text) {
    static constexpr std::pair<const char*, Op> kOps[] = {
        {"==", Op::kEq},    {"!=", Op::kNe}, {"<=", Op::kLe}, {">=", Op::kGe},
        {"=~", Op::kMatch}, {"<", Op::kLt},  {">", Op::kGt}};
    for (const auto& [name, value] : kOps) {
      if (absl::StartsWith(text_.substr(pos_), name)) {
        *op = value;
        *text = text_.substr(pos_, strlen(name));
        pos_ += text->size();
        return true;
      }
    }
    return false;
  }

  // The literal after operator `op`, checked against it.
  bool Value(absl::string_view op, Node* node) {
    const size_t at = pos_;
    Literal& literal = node->literal;
    const char c = Peek();
    bool ok = true;
    if (c == '"') {
      literal.type = Literal::kString;
      ok = String(&literal.text);
    } else if (c == '-' || absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      literal.type = Literal::kNumber;
      ok = NumberLiteral(&literal.number);
    } else if (ConsumeWord("true") || ConsumeWord("false")) {
      literal.type = Literal::kBool;
      literal.truth = text_[at] == 't';
    } else if (ConsumeWord("null")) {
      literal.type = Literal::kNull;
    } else {
      return Failed(at, absl::StrCat("expected a value after '", op, "'"));
    }
    return ok && Fits(op, at, node);
  }

  // Whether the literal at `at` suits the operator `op`; compiles =~'s.
  bool Fits(absl::string_view op, size_t at, Node* node) {
    const Literal::Type type = node->literal.type;
    if (node->op == Op::kMatch) {
      if (type != Literal::kString) {
        return Failed(at, "'=~' needs a string: a regular expression");
      }
      absl::StatusOr<Pattern> pattern = Pattern::Compile(node->literal.text);
      if (!pattern.ok()) return Failed(at, pattern.status().message());
      node->pattern = *std::move(pattern);
    } else if (IsOrdering(node->op) &&
               (type == Literal::kBool || type == Literal::kNull)) {
      return Failed(at,
                    absl::StrCat("'", op, "' compares numbers or strings, not ",
                                 text_.substr(at, pos_ - at)));
    }
    return true;
  }

  bool NumberLiteral(Number* number) {
    const size_t start = pos_;
    auto digits = [this] {
      const size_t from = pos_;
      while (absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) ++pos_;
      return pos_ > from;
    };
    if (Peek() == '-') ++pos_;
    bool ok = digits();
    bool integer = true;
    if (ok && Peek() == '.') {
      ++pos_;
      ok = digits();
      integer = false;
    }
    if (ok && (Peek() == 'e' || Peek() == 'E')) {
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      ok = digits();
      integer = false;
    }
    while (pos_ < text_.size() &&
           (IsKeyChar(text_[pos_]) || text_[pos_] == '.')) {
      ++pos_;
      ok = false;
    }
    const absl::string_view token = text_.substr(start, pos_ - start);
    if (!ok) return Failed(start, absl::StrCat("bad number '", token, "'"));
    if (integer && absl::SimpleAtoi(token, &number->i)) {
      number->is_int = true;
      return true;
    }
    number->is_int = false;
    if (!absl::SimpleAtod(token, &number->d) || !std::isfinite(number->d)) {
      return Failed(start, absl::StrCat("number out of range '", token, "'"));
    }
    return true;
  }

  // A double-quoted string (see where.h for the escapes).
  bool String(std::string* out) {
    const size_t open = pos_++;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c != '\\' || pos_ + 1 == text_.size()) {
        out->push_back(c);
        ++pos_;
        continue;
      }
      if (!Escape(out)) return false;
    }
    return Failed(open, "unterminated string");
  }

  // The escape at pos_ (a backslash and at least one more byte).
  bool Escape(std::string* out) {
    const char e = text_[pos_ + 1];
    switch (e) {
      case '"':
      case '\\':
        out->push_back(e);
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 'u':
        return Unicode(out);
      default:  // kept for regular expressions: "\d", "\."
        out->push_back('\\');
        out->push_back(e);
    }
    pos_ += 2;
    return true;
  }

  bool Unicode(std::string* out) {
    const absl::string_view hex = text_.substr(pos_ + 2, 4);
    uint32_t cp = 0;
    if (hex.size() < 4 || !absl::SimpleHexAtoi(hex, &cp) ||
        !std::all_of(hex.begin(), hex.end(), [](char h) {
          return absl::ascii_isxdigit(static_cast<unsigned char>(h));
        })) {
      return Failed(pos_, "bad escape: \\u takes four hex digits");
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      return Failed(pos_,
                    "bad escape: \\u of a surrogate (write the "
                    "character itself)");
    }
    AppendUtf8(cp, out);
    pos_ += 6;
    return true;
  }

  int ExpectedClose(size_t open) {
    return Fail(pos_, absl::StrCat("expected ')' for the '(' at ", open + 1,
                                   ", not ", Token()));
  }

  // What is at pos_, for messages: 'word', 'c' or "the end".
  std::string Token() const {
    if (pos_ == text_.size()) return "the end";
    size_t end = pos_;
    while (end < text_.size() && IsKeyChar(text_[end])) ++end;
    if (end == pos_) ++end;
    return absl::StrCat("'", text_.substr(pos_, end - pos_), "'");
  }

  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  char NextAfterSpace(size_t at) const {
    while (at < text_.size() &&
           absl::ascii_isspace(static_cast<unsigned char>(text_[at]))) {
      ++at;
    }
    return at < text_.size() ? text_[at] : '\0';
  }

  void SkipSpace() {
    while (absl::ascii_isspace(static_cast<unsigned char>(Peek())) &&
           pos_ < text_.size()) {
      ++pos_;
    }
  }

  // Whether the keyword `word` (not a longer key) is at pos_.
  bool IsWord(absl::string_view word) const {
    const size_t end = pos_ + word.size();
    return text_.substr(pos_, word.size()) == word &&
           (end == text_.size() ||
            (!IsKeyChar(text_[end]) && text_[end] != '.'));
  }

  bool ConsumeWord(absl::string_view word) {
    SkipSpace();
    if (!IsWord(word)) return false;
    pos_ += word.size();
    return true;
  }

  bool ConsumeChar(char c) {
    SkipSpace();
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }

  int Add(Node node) {
    nodes_.push_back(std::move(node));
    return static_cast<int>(nodes_.size() - 1);
  }

  int Fail(size_t at, absl::string_view what) {
    if (error_.ok()) {
      error_ =
          absl::InvalidArgumentError(absl::StrCat("at ", at + 1, ": ", what));
    }
    return -1;
  }

  bool Failed(size_t at, absl::string_view what) {
    Fail(at, what);
    return false;
  }

  const absl::string_view text_;
  size_t pos_ = 0;
  absl::Status error_;
  std::vector<Node> nodes_;
};

absl::StatusOr<Where> Where::Parse(absl::string_view expr) {
  return WhereParser(expr).Run();
}

bool Where::Matches(absl::string_view bson) const {
  return Eval(program_->nodes, program_->root, bson);
}

}  // namespace ziggy
