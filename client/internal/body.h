// Body: the fields of one event under construction.
//
// A body starts as FlatFields (flat_fields.h): its fields encoded as BSON
// as they are set, which is all a typical event needs. The first call
// FlatFields does not take moves the fields to the tree, for good (until
// Clear), and is made there; the encoding is the same either way.
//
// The tree lives in two flat buffers (nodes and bytes), so setting a field
// allocates nothing once the buffers have grown to the size of a typical
// event; Clear() keeps their capacity and bodies are recycled per thread.
//
// Paths are dotted: "response.status" is the field `status` of the map
// `response`. Missing maps on the way are created. A numeric part indexes a
// list when the value at that point is a list (index == size appends one
// element); otherwise it is an ordinary map key. Walking through a scalar is
// an error (kFailedPrecondition) and leaves the body unchanged, as are an
// empty part, a NUL byte, or more than kMaxParts parts (kInvalidArgument).
//
// Thread-safety: none; a Body belongs to one context.

#ifndef ZIGGY_CLIENT_INTERNAL_BODY_H_
#define ZIGGY_CLIENT_INTERNAL_BODY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "client/format/bson_writer.h"
#include "client/format/byte_buffer.h"
#include "client/format/value.h"
#include "client/internal/flat_fields.h"

namespace ziggy::internal {

class Body {
 public:
  // Longest dotted path, in parts.
  static constexpr size_t kMaxParts = 32;

  Body();

  absl::Status Set(absl::string_view path, const FieldValue& value);
  // The fast paths of Set and AddInt, inline for Context: true when the
  // flat fields took the call; false when the caller must make it through
  // Set / AddInt.
  bool TrySetFlat(absl::string_view path, const FieldValue& value) {
    return flat_ && flat_fields_.Set(path, value);
  }
  bool TryAddIntFlat(absl::string_view path, int64_t n) {
    return flat_ && flat_fields_.Add(path, true, n, static_cast<double>(n));
  }
  // The same for a key split already (FlatFields::SetParts).
  bool TrySetFlatParts(absl::string_view first, absl::string_view second,
                       const FieldValue& value) {
    return flat_ && flat_fields_.SetParts(first, second, value);
  }
  bool TryAddIntFlatParts(absl::string_view first, absl::string_view second,
                          int64_t n) {
    return flat_ && flat_fields_.AddParts(first, second, true, n,
                                          static_cast<double>(n));
  }
  // Appends to the list at `path`, creating it when missing.
  absl::Status Append(absl::string_view path, const FieldValue& value);
  // Adds to the number at `path` (missing counts as 0). int + int stays an
  // integer unless it overflows; anything with a double becomes a double.
  absl::Status AddInt(absl::string_view path, int64_t n);
  absl::Status AddDouble(absl::string_view path, double n);

  // Empties the body, keeping capacity. Inline: every finished event's
  // body is cleared for the next.
  void Clear() {
    if (!flat_) ClearTree();
    flat_ = true;
    flat_fields_.Clear();
  }

  // Heap bytes held, for deciding whether to recycle the body.
  size_t retained_bytes() const {
    return nodes_.capacity() * sizeof(Node) + bytes_.capacity() +
           flat_fields_.capacity();
  }

  // Moves the fields to the tree now, as the first call FlatFields does not
  // take would (until Clear). For tests comparing both forms.
  void UseTreeForTesting() { MoveToTree(); }

  // Appends every field, in insertion order, as elements of the open
  // document in `out`.
  void AppendTo(BsonWriter* out) const;
  // Frames: `n` bytes ahead of the flat fields that the caller fills with
  // the event's header up to its body's elements (WriteEventPrefix in
  // bson_writer.h), so that a flat body's buffer becomes the whole encoded
  // event. `owner` names what the header was written for; CloseFrame
  // refuses another. Returns the n bytes. REQUIRES: the body is empty.
  char* BeginFrame(size_t n, const void* owner) {
    frame_owner_ = owner;
    return flat_fields_.StartWithPrefix(n);
  }
  // Whether a frame was begun and the body is still flat.
  bool framed() const { return flat_ && flat_fields_.prefix_size() != 0; }
  // While the body is flat and framed for `owner`: completes the event
  // (CloseEvent with `end`), sets *event to it and returns true; no field
  // may be set after, until Clear. Else false, changing nothing: the
  // caller encodes the event itself.
  bool CloseFrame(const void* owner, double end, absl::string_view* event) {
    if (!framed() || owner != frame_owner_) return false;
    const size_t prefix = flat_fields_.prefix_size();
    const size_t size =
        prefix + flat_fields_.elements().size() + kEventSuffixSize;
    char* bytes = flat_fields_.Seal(kEventSuffixSize);
    CloseEvent(bytes, prefix, size, end);
    *event = absl::string_view(bytes, size);
    return true;
  }
  // While the body is flat: sets *elements to what AppendTo would append
  // and returns true.
  bool FlatElements(absl::string_view* elements) const {
    if (!flat_) return false;
    *elements = flat_fields_.elements();
    return true;
  }

 private:
  enum class Kind : uint8_t {
    kNull,
    kBool,
    kInt,
    kDouble,
    kString,
    kList,
    kMap
  };
  static constexpr uint32_t kNone = UINT32_MAX;

  struct Span {
    uint32_t offset;
    uint32_t size;
  };
  struct Children {
    uint32_t first;
    uint32_t last;
    uint32_t count;
  };
  struct Node {
    Span key;
    uint32_t next;
    Kind kind;
    union {
      bool b;
      int64_t i;
      double d;
      Span str;
      Children kids;
    };
  };

  // Walks `path` from the root, creating missing maps and a null leaf, and
  // sets *node to the leaf.
  absl::Status Resolve(absl::string_view path, uint32_t* node);
  // Resolve for paths of several parts (and every malformed path).
  absl::Status ResolveDotted(absl::string_view path, uint32_t* node);
  // One step of ResolveDotted from a node that is not a map: into the list
  // element `part` indexes, or an error.
  absl::Status StepIntoList(absl::string_view path, absl::string_view part,
                            Kind missing_kind, uint32_t* node);
  uint32_t FindChild(uint32_t parent, absl::string_view key) const;
  uint32_t NthChild(uint32_t parent, uint32_t n) const;
  uint32_t AddChild(uint32_t parent, absl::string_view key, Kind kind);
  void Assign(uint32_t node, const FieldValue& value);
  void AssignValue(uint32_t node, const Value& value);
  absl::Status AddNumber(absl::string_view path, bool is_int, int64_t i,
                         double d);
  Span Store(absl::string_view bytes);
  absl::string_view View(Span span) const {
    return absl::string_view(bytes_.data() + span.offset, span.size);
  }
  void MakeContainer(uint32_t node, Kind kind);
  void ClearTree();
  // Rebuilds the flat fields in the tree and leaves flat mode.
  void MoveToTree();
  void AppendNode(BsonWriter* out, absl::string_view key, uint32_t node) const;

  bool flat_ = true;  // the fields are in flat_fields_; the tree is empty
  const void* frame_owner_ = nullptr;  // see BeginFrame
  FlatFields flat_fields_;
  std::vector<Node> nodes_;  // nodes_[0] is the root map
  ByteBuffer bytes_;         // keys and string values
};

}  // namespace ziggy::internal

#endif  // ZIGGY_CLIENT_INTERNAL_BODY_H_
