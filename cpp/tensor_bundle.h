// TensorBundle reader: TensorFlow's checkpoint format (tensor_bundle.cc).
//
// A bundle with prefix P is P.index, a table (sstable.h) whose first entry,
// under the empty key, is a BundleHeaderProto and whose other entries map a
// tensor name to a BundleEntryProto, plus data shards
// P.data-00000-of-0000N holding the raw tensor bytes. SavedModels keep one at
// variables/variables; TF1 and TF2 training checkpoints are bundles too.
//
// The reader parses the index up front and maps data shards read-only on first
// use. Numeric tensors are handed out as (pointer, size) inside a mapping
// whose shared_ptr the caller keeps, so nothing is copied. Every offset and
// size from the file is checked against the mapping before use.
//
// Field numbers (tensorflow/core/protobuf/tensor_bundle.proto,
// tensorflow/core/framework/{tensor_shape,tensor_slice,versions}.proto):
//   BundleHeaderProto: num_shards=1 (int32), endianness=2 (LITTLE=0, BIG=1), version=3 (VersionDef)
//   VersionDef: producer=1, min_consumer=2, bad_consumers=3
//   BundleEntryProto: dtype=1, shape=2 (TensorShapeProto), shard_id=3, offset=4, size=5,
//                     crc32c=6 (fixed32, masked), slices=7 (TensorSliceProto)
//   TensorShapeProto: dim=2 (Dim: size=1, name=2), unknown_rank=3
//   TensorSliceProto: extent=1 (Extent: start=1, length=2; no length = the whole dimension)
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dtypes.h"
#include "mapped_file.h"

namespace tfbundle {

// DataType values: pb::DT_FLOAT, ... (proto_fields.h; dtypes.h has the table).

// Bytes per element of a fixed-size dtype as stored in a bundle; 0 for
// DT_STRING, DT_RESOURCE, DT_VARIANT and unknown values.
int bundle_dtype_size(int dtype);

struct SliceExtent {
  int64_t start = 0;
  int64_t length = -1;  // -1: the whole dimension
};
using TensorSlice = std::vector<SliceExtent>;

struct BundleEntry {
  std::string key;
  int dtype = 0;
  std::vector<int64_t> shape;  // as stored (checked when read)
  bool unknown_rank = false;
  int32_t shard_id = 0;
  int64_t offset = 0;
  int64_t size = 0;
  uint32_t crc32c = 0;                // masked, as stored
  std::vector<TensorSlice> slices;    // non-empty: a partitioned variable's full entry

  bool partitioned() const { return !slices.empty(); }
  // Keys of individual slices start with a 0 byte (EncodeTensorNameSlice).
  bool is_slice_key() const { return !key.empty() && key[0] == '\0'; }
};

struct BundleHeader {
  int32_t num_shards = 1;
  bool big_endian = false;
  int32_t producer = 0;
  int32_t min_consumer = 0;
  std::vector<int32_t> bad_consumers;
};

// The parsed index of a bundle.
class BundleIndex {
 public:
  // Parses an index file's bytes; `file_name` is used in messages. Throws
  // tfbundle::Error: DATA_LOSS for malformed bytes (sstable.h), a missing or
  // malformed header, a malformed entry (naming it); UNIMPLEMENTED for a
  // compressed index; INVALID_ARGUMENT for a bundle version this reader
  // cannot read.
  static BundleIndex parse(std::string_view bytes, const std::string& file_name);

  const BundleHeader& header() const { return header_; }
  // Every tensor entry (the header excluded), sorted by key, slice keys included.
  const std::vector<BundleEntry>& entries() const { return entries_; }
  const BundleEntry* find(std::string_view key) const;
  const std::string& file_name() const { return file_name_; }

 private:
  BundleHeader header_;
  std::vector<BundleEntry> entries_;
  std::string file_name_;
};

// The key under which TensorFlow stores one slice of a partitioned tensor
// (checkpoint::EncodeTensorNameSlice: OrderedCode of 0, the name, the rank,
// then start and length of each dimension).
std::string encode_slice_key(std::string_view name, const TensorSlice& slice);

// Bytes of a tensor inside a mapped shard; `owner` keeps them alive.
struct TensorBytes {
  std::shared_ptr<const MappedFile> owner;
  const char* data = nullptr;
  size_t size = 0;
  int64_t num_elements = 0;
};

// One stored piece of a partitioned tensor.
struct SlicePart {
  TensorSlice extents;  // concrete: start and length of every dimension
  const BundleEntry* entry = nullptr;
};

class BundleReader {
 public:
  // Opens PREFIX.index (reads and parses it); data shards are mapped when a
  // tensor in them is first read. Throws as BundleIndex::parse, or NOT_FOUND
  // naming the index file.
  static std::shared_ptr<BundleReader> open(const std::string& prefix);

  // A reader over bytes in memory (tests, fuzzing): shard i is shards[i].
  static std::shared_ptr<BundleReader> from_bytes(std::string index, std::vector<std::string> shards,
                                                  const std::string& name);

  const BundleIndex& index() const { return index_; }
  const std::string& prefix() const { return prefix_; }
  const std::string& index_path() const { return index_.file_name(); }
  std::string shard_path(int32_t shard_id) const;
  // True when the data was written on a machine of the other byte order.
  bool needs_byte_swap() const;

  // The stored bytes of a fixed-size (numeric) tensor, checked: known dtype,
  // valid shape, size == elements * dtype size, inside its shard. With
  // `verify`, also the CRC-32C. Throws tfbundle::Error naming the entry and
  // the file: DATA_LOSS, NOT_FOUND (missing shard), UNIMPLEMENTED (dtype).
  TensorBytes tensor_bytes(const BundleEntry& entry, bool verify) const;

  // The elements of a DT_STRING tensor, as views into the mapped shard (kept
  // alive by *owner). The length checksum is always checked; with `verify`
  // also the entry's CRC-32C.
  std::vector<std::string_view> string_elements(const BundleEntry& entry, bool verify,
                                                std::shared_ptr<const MappedFile>* owner) const;

  // The stored slices of a partitioned tensor, checked against its shape.
  std::vector<SlicePart> slice_parts(const BundleEntry& full) const;

  // Checks one entry completely (bounds, sizes, CRC-32C, slices); throws as
  // the readers above. DT_VARIANT entries are bounds-checked only.
  void verify_entry(const BundleEntry& entry) const;

  // Checks every tensor (partitioned ones with their slices); returns
  // (key, message) for each that fails. Slice keys are not listed.
  std::vector<std::pair<std::string, std::string>> verify_all() const;

  // Number of elements of a validated shape. Throws DATA_LOSS naming the entry.
  int64_t num_elements(const BundleEntry& entry) const;

 private:
  BundleReader() = default;
  std::shared_ptr<const MappedFile> shard(const BundleEntry& entry) const;
  [[noreturn]] void fail(int code, const BundleEntry& entry, const std::string& why) const;
  std::string_view entry_bytes(const BundleEntry& entry, std::shared_ptr<const MappedFile>* owner) const;

  BundleIndex index_;
  std::string prefix_;
  std::vector<std::string> memory_shards_;  // from_bytes only
  bool in_memory_ = false;
  mutable std::mutex mu_;
  mutable std::map<int32_t, std::shared_ptr<const MappedFile>> shards_;
};

// A key as messages show it: in double quotes, bytes that are not printable
// ASCII escaped (\xNN), cut after 300 bytes.
std::string quote_key(std::string_view key);

// Reverses the bytes of each element in place (complex numbers: each half).
void byte_swap_elements(char* data, size_t size, int dtype);

// A TF2 checkpoint's object graph (TrackableObjectGraph, stored as a string
// tensor under _CHECKPOINTABLE_OBJECT_GRAPH). Field numbers
// (tensorflow/core/protobuf/trackable_object_graph.proto):
//   TrackableObjectGraph: nodes=1
//   TrackableObject: children=1, attributes=2, slot_variables=3
//   ObjectReference: node_id=1, local_name=2
//   SerializedTensor: name=1, full_name=2, checkpoint_key=3
//   SlotVariableReference: original_variable_node_id=1, slot_name=2, slot_variable_node_id=3
struct ObjectGraphNode {
  struct Child {
    int32_t node_id = 0;
    std::string local_name;
  };
  struct Attribute {
    std::string name, full_name, checkpoint_key;
  };
  struct SlotVariable {
    int32_t original_variable_node_id = 0;
    std::string slot_name;
    int32_t slot_variable_node_id = 0;
  };
  std::vector<Child> children;
  std::vector<Attribute> attributes;
  std::vector<SlotVariable> slot_variables;
};

// Throws DATA_LOSS if the bytes are not a TrackableObjectGraph.
std::vector<ObjectGraphNode> parse_object_graph(std::string_view bytes);

}  // namespace tfbundle
