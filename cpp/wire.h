// Protocol-buffer wire format: a bounds-checked reader and a tiny writer.
//
// tfbundle reads SavedModel, MetaGraphDef and TensorBundle protos without the
// protobuf runtime: every message is walked field by field, the fields we need
// are picked out by number and the rest are skipped. The numbers are the
// generated constants of proto_fields.h (pb::MetaGraphDef::kGraphDef, ...),
// made by dev/gen_protos.py from the project's own .proto files (proto/), so
// the schema is written once; the reader itself stays hand-written because it
// is the product's speed and its safety in a TensorFlow process:
//   - zero copy: a length-delimited field is a view into the caller's bytes,
//     typically a memory-mapped saved_model.pb or checkpoint index, so a
//     GraphDef is never copied to be looked at;
//   - nothing allocates for a skipped field, so skipping a 100 MB GraphDef
//     costs one varint read, and messages are only decoded as deep as needed;
//   - no libprotobuf: the core links no protobuf runtime, so it cannot clash
//     with the libprotobuf that TensorFlow's own library carries when both are
//     loaded in one process.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tfbundle::wire {

enum WireType : int {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

struct Field {
  uint32_t number = 0;
  int type = 0;
  uint64_t value = 0;      // kVarint, kFixed64, kFixed32
  std::string_view bytes;  // kLengthDelimited (a view into the reader's data)
};

// Walks the fields of one serialized message. Throws tfbundle::Error
// (DATA_LOSS) naming `what` when the bytes are not a well-formed message.
class Reader {
 public:
  Reader(std::string_view data, const char* what) : p_(data.data()), end_(data.data() + data.size()), what_(what) {}

  // Reads the next field into *f; returns false at the end of the message.
  bool next(Field* f);

 private:
  [[noreturn]] void fail(const char* why) const;
  uint64_t varint();
  void skip_group(uint32_t number, int depth);
  void skip(uint64_t n);

  const char* p_;
  const char* end_;
  const char* what_;
};

// Decodes a varint at *p (advancing it); returns false if it is truncated or
// longer than 10 bytes.
bool read_varint(const char** p, const char* end, uint64_t* out);

// Calls fn(value) for each element of a packed or unpacked repeated varint field.
template <typename Fn>
bool for_each_varint(const Field& f, Fn&& fn) {
  if (f.type == kVarint) {
    fn(f.value);
    return true;
  }
  if (f.type != kLengthDelimited) return false;
  const char* p = f.bytes.data();
  const char* end = p + f.bytes.size();
  while (p < end) {
    uint64_t v;
    if (!read_varint(&p, end, &v)) return false;
    fn(v);
  }
  return true;
}

// The bytes of a singular embedded message field as protobuf reads it. Protobuf
// merges a message field given more than once (a GraphDef split over two
// graph_def fields is one graph with both node lists), and merging serialized
// messages is concatenating them; so add() each occurrence in file order and
// read bytes(). The usual single occurrence stays a view into the caller's
// data; only a repeated one is copied, into storage shared by the copies of
// this object (views stay valid when it is copied or moved).
//
// For a member of a oneof, clear() it when another member of the oneof comes:
// protobuf then drops what the earlier occurrences set.
class MergedMessage {
 public:
  void add(std::string_view occurrence) {
    if (!present_) {
      present_ = true;
      view_ = occurrence;
      return;
    }
    if (!owned_ || owned_.use_count() != 1) {  // first repeat, or storage a copy shares: copy once
      auto joined = std::make_shared<std::string>();
      joined->reserve(2 * (view_.size() + occurrence.size()));
      joined->append(view_.data(), view_.size());
      owned_ = std::move(joined);
    }
    owned_->append(occurrence.data(), occurrence.size());  // amortised: many repeats stay linear
    view_ = *owned_;
  }
  void clear() { *this = MergedMessage(); }
  bool present() const { return present_; }
  // The merged message (empty when absent, as protobuf's default instance).
  std::string_view bytes() const { return view_; }
  // Storage the bytes live in when the field occurred more than once, else null.
  std::shared_ptr<const std::string> storage() const { return owned_; }

 private:
  bool present_ = false;
  std::string_view view_;
  std::shared_ptr<std::string> owned_;
};

// Appends fields to a serialized message (ConfigProto / RunOptions, TensorBundle entries).
// Appends a varint, a little-endian fixed32 or fixed64 to `out` (the raw encodings, no tag).
void append_varint(std::string* out, uint64_t v);
void append_fixed32(std::string* out, uint32_t v);
void append_fixed64(std::string* out, uint64_t v);

class Writer {
 public:
  void varint_field(uint32_t number, uint64_t value);
  void bytes_field(uint32_t number, std::string_view bytes);
  void fixed64_field(uint32_t number, uint64_t value);
  void fixed32_field(uint32_t number, uint32_t value);
  // `f` as a Reader read it (a group, which the Reader skips, is not written).
  void field(const Field& f);
  const std::string& data() const { return out_; }

 private:
  void raw_varint(uint64_t v) { append_varint(&out_, v); }
  std::string out_;
};

}  // namespace tfbundle::wire
