// RepairUtf8: makes a BSON document readable by strict readers (pymongo's
// decode_file_iter, libbson's bson_validate with BSON_VALIDATE_UTF8), which
// refuse a document, and pymongo the rest of its file, over one string that
// is not UTF-8. The daemons repair what they take in with it (intake.h);
// the client's writer never produces such text (bson_writer.h).
//
// Text is repaired where strict readers decode it: keys at every depth,
// strings (BsonType::kString), JavaScript code (kJavaScript), symbols
// (kSymbol), a regex's pattern and options (kRegex), a DBPointer's
// collection (kDbPointer) and a code-with-scope's code and scope document
// (kCodeWithScope); see bson_type.h. Binary data (kBinary) is not text and
// is kept as it is, as are all other bytes.
//
// Thread-safety: reentrant.

#ifndef ZIGGY_CLIENT_FORMAT_BSON_REPAIR_H_
#define ZIGGY_CLIENT_FORMAT_BSON_REPAIR_H_

#include "absl/strings/string_view.h"
#include "client/format/byte_buffer.h"

namespace ziggy {

// Returns false, without copying or touching *out, when `doc` needs no
// repair: every key and text value is valid UTF-8 (utf8.h), or `doc` is not
// a well-formed document nested at most kMaxDepth deep (event.h), the
// daemons' limit (nothing to repair safely). Otherwise appends to *out `doc`
// with each invalid sequence replaced by U+FFFD and returns true. The document
// grows: each repaired string's length prefix, every document and array
// enclosing it and a code-with-scope's total are rewritten to match, so *out is
// well-formed too. Example: {"k\xFF": "a\xE2\x82"} becomes
// {"k\uFFFD": "a\uFFFD"}, 4 bytes longer.
bool RepairUtf8(absl::string_view doc, ByteBuffer* out);

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_FORMAT_BSON_REPAIR_H_
