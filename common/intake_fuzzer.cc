// Fuzzes EventIntake with one collect-port message, taken as one document
// (Accept) and as a batch (AcceptMessage). Invariants: an accepted event is
// (after any repair) a well-formed document with a non-empty string type,
// valid UTF-8 throughout, readable by strict BSON readers (libbson with
// UTF-8 checks) and renderable as JSON; a document the validator rejects is
// never accepted; a batch's events are never more than the message holds.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "client/format/bson_validate.h"
#include "client/format/event.h"
#include "client/format/value.h"
#include "client/reader/json.h"
#include "client/testing/strict_bson.h"
#include "common/intake.h"
#include "tools/fuzz_check.h"

namespace {

bool Inside(absl::string_view part, absl::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() &&
          part.data() + part.size() <= whole.data() + whole.size());
}

// One Accept() by `intake`, with the invariants checked.
void AcceptOnce(ziggy::EventIntake* intake, absl::string_view message,
                double now) {
  std::string why;
  const bool valid = ziggy::ValidateDocument(message, ziggy::kMaxDepth, &why);
  absl::string_view doc = message;
  ziggy::EventFields fields;
  if (!intake->Accept(&doc, now, &fields)) return;
  FUZZ_CHECK(valid);
  FUZZ_CHECK(!fields.type.empty() && Inside(fields.type, doc) &&
             Inside(fields.host, doc));
  bool utf8 = false;
  FUZZ_CHECK(ziggy::ValidateDocument(
      doc, ziggy::kMaxDepth, &why,
      [](absl::string_view, ziggy::BsonType, absl::string_view) {}, &utf8));
  FUZZ_CHECK(utf8);
  FUZZ_CHECK(ziggy::testing::StrictlyValid(doc, /*allow_nul=*/true));
  std::string json;
  FUZZ_CHECK(ziggy::AppendJson(doc, &json).ok());
}

}  // namespace

// The message as a batch: each accepted event checked as Accept's are; an
// event taken as it came is a whole document lying in the message.
void AcceptBatch(ziggy::EventIntake* intake, absl::string_view message) {
  size_t bytes = 0;
  intake->AcceptMessage(
      message, 1e9,
      [&](absl::string_view doc, const ziggy::EventFields& fields) {
        FUZZ_CHECK(!fields.type.empty() && Inside(fields.type, doc));
        std::string why;
        FUZZ_CHECK(ziggy::ValidateDocument(doc, ziggy::kMaxDepth, &why));
        FUZZ_CHECK(ziggy::testing::StrictlyValid(doc, /*allow_nul=*/true));
        if (Inside(doc, message)) bytes += doc.size();
      });
  FUZZ_CHECK(bytes <= message.size());
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view message(reinterpret_cast<const char*>(data), size);
  ziggy::EventIntake roomy(1 << 20);
  AcceptOnce(&roomy, message, 1e9);
  AcceptOnce(&roomy, message, 2e9);  // the same type and host again
  // A limit the message just fits: a repair that grows it must drop it.
  ziggy::EventIntake tight(size);
  AcceptOnce(&tight, message, 1e9);
  AcceptBatch(&roomy, message);
  ziggy::Value::Map status;
  roomy.AppendStatus(&status);
  ziggy::Value status_value(std::move(status));
  const std::string encoded = ziggy::EncodeDocument(status_value);
  std::string json;
  FUZZ_CHECK(ziggy::AppendJson(encoded, &json).ok());
  return 0;
}
