#include "tensor_bundle.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "crc32c.h"
#include "proto_fields.h"
#include "sstable.h"
#include "status.h"
#include "tf_c_api.h"
#include "wire.h"

namespace tfbundle {
namespace {

constexpr int kBundleVersion = 1;      // kTensorBundleVersion: what this reader consumes
constexpr int kBundleMinProducer = 0;  // kTensorBundleMinProducer

constexpr bool kHostBigEndian =
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    true;
#else
    false;
#endif

// Keys as they appear in messages: printable ASCII kept, the rest escaped.
std::string printable(std::string_view key) {
  std::string out;
  const size_t n = std::min<size_t>(key.size(), 300);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  if (key.size() > n) out += "...";
  return out;
}

}  // namespace

std::string quote_key(std::string_view key) { return "\"" + printable(key) + "\""; }

namespace {

std::string quoted(std::string_view key) { return quote_key(key); }

// A slice key shown as "name[0:5, :]" rather than its OrderedCode bytes.
std::string describe_key(const BundleEntry& e);

void expect_type(const wire::Field& f, int type) {
  if (f.type != type) {
    throw Error(kDataLoss, "field " + std::to_string(f.number) + " has wire type " + std::to_string(f.type) +
                               ", expected " + std::to_string(type));
  }
}

std::vector<int64_t> parse_shape(std::string_view bytes, bool* unknown_rank) {
  std::vector<int64_t> dims;
  wire::Reader r(bytes, "TensorShapeProto");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number == pb::TensorShapeProto::kDim) {
      expect_type(f, wire::kLengthDelimited);
      int64_t size = 0;
      wire::Reader d(f.bytes, "TensorShapeProto.Dim");
      wire::Field g;
      while (d.next(&g)) {
        if (g.number == pb::TensorShapeProto::Dim::kSize) {
          expect_type(g, wire::kVarint);
          size = static_cast<int64_t>(g.value);
        }
      }
      dims.push_back(size);
    } else if (f.number == pb::TensorShapeProto::kUnknownRank) {
      expect_type(f, wire::kVarint);
      *unknown_rank = f.value != 0;
    }
  }
  return dims;
}

TensorSlice parse_slice(std::string_view bytes) {
  TensorSlice slice;
  wire::Reader r(bytes, "TensorSliceProto");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number != pb::TensorSliceProto::kExtent) continue;
    expect_type(f, wire::kLengthDelimited);
    SliceExtent e;
    wire::Reader x(f.bytes, "TensorSliceProto.Extent");
    wire::Field g;
    while (x.next(&g)) {
      if (g.number == pb::TensorSliceProto::Extent::kStart) {
        expect_type(g, wire::kVarint);
        e.start = static_cast<int64_t>(g.value);
      } else if (g.number == pb::TensorSliceProto::Extent::kLength) {
        expect_type(g, wire::kVarint);
        e.length = static_cast<int64_t>(g.value);
      }
    }
    slice.push_back(e);
  }
  return slice;
}

BundleEntry parse_entry(std::string_view bytes) {
  BundleEntry e;
  wire::Reader r(bytes, "BundleEntryProto");
  wire::Field f;
  namespace be = pb::BundleEntryProto;
  while (r.next(&f)) {
    switch (f.number) {
      case be::kDtype: expect_type(f, wire::kVarint); e.dtype = static_cast<int>(static_cast<int32_t>(f.value)); break;
      case be::kShape: expect_type(f, wire::kLengthDelimited); e.shape = parse_shape(f.bytes, &e.unknown_rank); break;
      case be::kShardId: expect_type(f, wire::kVarint); e.shard_id = static_cast<int32_t>(f.value); break;
      case be::kOffset: expect_type(f, wire::kVarint); e.offset = static_cast<int64_t>(f.value); break;
      case be::kSize: expect_type(f, wire::kVarint); e.size = static_cast<int64_t>(f.value); break;
      case be::kCrc32c: expect_type(f, wire::kFixed32); e.crc32c = static_cast<uint32_t>(f.value); break;
      case be::kSlices: expect_type(f, wire::kLengthDelimited); e.slices.push_back(parse_slice(f.bytes)); break;
      default: break;
    }
  }
  return e;
}

BundleHeader parse_header(std::string_view bytes) {
  BundleHeader h;
  wire::Reader r(bytes, "BundleHeaderProto");
  wire::Field f;
  int64_t endianness = 0;
  while (r.next(&f)) {
    switch (f.number) {
      case pb::BundleHeaderProto::kNumShards: expect_type(f, wire::kVarint); h.num_shards = static_cast<int32_t>(f.value); break;
      case pb::BundleHeaderProto::kEndianness: expect_type(f, wire::kVarint); endianness = static_cast<int64_t>(f.value); break;
      case pb::BundleHeaderProto::kVersion: {
        expect_type(f, wire::kLengthDelimited);
        wire::Reader v(f.bytes, "VersionDef");
        wire::Field g;
        while (v.next(&g)) {
          if (g.number == pb::VersionDef::kProducer) {
            expect_type(g, wire::kVarint);
            h.producer = static_cast<int32_t>(g.value);
          } else if (g.number == pb::VersionDef::kMinConsumer) {
            expect_type(g, wire::kVarint);
            h.min_consumer = static_cast<int32_t>(g.value);
          } else if (g.number == pb::VersionDef::kBadConsumers) {
            if (!wire::for_each_varint(g, [&](uint64_t x) { h.bad_consumers.push_back(static_cast<int32_t>(x)); })) {
              throw Error(kDataLoss, "VersionDef.bad_consumers is malformed");
            }
          }
        }
        break;
      }
      default: break;
    }
  }
  if (endianness != pb::BundleHeaderProto::LITTLE && endianness != pb::BundleHeaderProto::BIG) {
    throw Error(kDataLoss, "unknown endianness " + std::to_string(endianness));
  }
  h.big_endian = endianness == pb::BundleHeaderProto::BIG;
  return h;
}

// OrderedCode (tensorflow/core/lib/strings/ordered_code.h), the encodings
// EncodeTensorNameSlice uses.
void ordered_num_increasing(std::string* out, uint64_t v) {
  // A length byte, then the value big-endian without leading zero bytes.
  unsigned char buf[8];
  int n = 0;
  while (v > 0) {
    buf[n++] = static_cast<unsigned char>(v & 0xff);
    v >>= 8;
  }
  out->push_back(static_cast<char>(n));
  while (n > 0) out->push_back(static_cast<char>(buf[--n]));
}

void ordered_string(std::string* out, std::string_view s) {
  // 0x00 -> 00 ff, 0xff -> ff 00, then the separator 00 01.
  for (char c : s) {
    if (c == '\0') {
      out->push_back('\0');
      out->push_back('\xff');
    } else if (c == '\xff') {
      out->push_back('\xff');
      out->push_back('\0');
    } else {
      out->push_back(c);
    }
  }
  out->push_back('\0');
  out->push_back('\x01');
}

void ordered_signed_num_increasing(std::string* out, int64_t v) {
  // L bytes hold the value in two's complement (7L - 1 payload bits); the
  // first L bits of the encoding are flipped from the sign: 1...10 for a
  // non-negative value, 0...01 for a negative one.
  const uint64_t magnitude = v < 0 ? ~static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  int bits = 0;
  while (bits < 64 && (magnitude >> bits) != 0) ++bits;
  const int len = (bits + 1 + 6) / 7;  // ceil((bits + 1) / 7), 1..10
  unsigned char buf[10];
  for (int i = 0; i < len; ++i) {
    const int shift = 8 * (len - 1 - i);
    buf[i] = shift >= 64 ? (v < 0 ? 0xff : 0x00) : static_cast<unsigned char>((static_cast<uint64_t>(v) >> shift) & 0xff);
  }
  // Header: the top `len` bits of the 8*len-bit field.
  for (int bit = 0; bit < len; ++bit) buf[bit / 8] ^= static_cast<unsigned char>(0x80u >> (bit % 8));
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
}

bool decode_ordered_slice_name(std::string_view key, std::string* name) {
  // Only what describe_key needs: the leading 0 and the escaped name.
  if (key.size() < 1 || key[0] != '\0') return false;
  for (size_t i = 1; i < key.size(); ++i) {
    const char c = key[i];
    if (c == '\0' || c == '\xff') {
      if (i + 1 >= key.size()) return false;
      const char next = key[i + 1];
      if (c == '\0' && next == '\x01') return true;
      if (c == '\0' && next == '\xff') name->push_back('\0');
      else if (c == '\xff' && next == '\0') name->push_back('\xff');
      else return false;
      ++i;
    } else {
      name->push_back(c);
    }
  }
  return false;
}

std::string describe_key(const BundleEntry& e) {
  if (!e.is_slice_key()) return quoted(e.key);
  std::string name;
  if (!decode_ordered_slice_name(e.key, &name)) return quoted(e.key);
  return "slice of " + quoted(name);
}

uint32_t load_u32(const char* p, bool big_endian) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  if (big_endian) {
    return (static_cast<uint32_t>(u[0]) << 24) | (static_cast<uint32_t>(u[1]) << 16) |
           (static_cast<uint32_t>(u[2]) << 8) | static_cast<uint32_t>(u[3]);
  }
  return static_cast<uint32_t>(u[0]) | (static_cast<uint32_t>(u[1]) << 8) | (static_cast<uint32_t>(u[2]) << 16) |
         (static_cast<uint32_t>(u[3]) << 24);
}

// Extends `crc` over an unsigned integer laid out in the writer's byte order.
uint32_t extend_uint(uint32_t crc, uint64_t v, int nbytes, bool big_endian) {
  unsigned char buf[8];
  for (int i = 0; i < nbytes; ++i) {
    const int shift = big_endian ? 8 * (nbytes - 1 - i) : 8 * i;
    buf[i] = static_cast<unsigned char>((v >> shift) & 0xff);
  }
  return crc32c::extend(crc, buf, static_cast<size_t>(nbytes));
}

}  // namespace

int bundle_dtype_size(int dtype) {
  const DataTypeInfo* d = find_data_type(dtype);
  return d != nullptr ? d->element_size : 0;
}

std::string encode_slice_key(std::string_view name, const TensorSlice& slice) {
  std::string out;
  ordered_num_increasing(&out, 0);
  ordered_string(&out, name);
  ordered_num_increasing(&out, slice.size());
  for (const SliceExtent& e : slice) {
    ordered_signed_num_increasing(&out, e.start);
    ordered_signed_num_increasing(&out, e.length);
  }
  return out;
}

BundleIndex BundleIndex::parse(std::string_view bytes, const std::string& file_name) {
  BundleIndex index;
  index.file_name_ = file_name;
  sstable::Table parsed = sstable::read_table(bytes, file_name);
  std::vector<sstable::Entry>& table = parsed.entries;
  if (table.empty() || !table.front().key.empty()) {
    throw Error(kDataLoss, "TensorBundle index " + file_name +
                               " has no header entry (the empty key): it is corrupt or not a checkpoint index");
  }
  try {
    index.header_ = parse_header(table.front().value);
  } catch (const Error& e) {
    throw Error(kDataLoss, "TensorBundle index " + file_name + " has a malformed header: " + e.what());
  }
  const BundleHeader& h = index.header_;
  if (h.num_shards < 0) {
    throw Error(kDataLoss, "TensorBundle index " + file_name + " has a negative shard count (" +
                               std::to_string(h.num_shards) + ")");
  }
  if (h.producer < kBundleMinProducer) {
    throw Error(kInvalidArgument, "checkpoint " + file_name + " has producer version " + std::to_string(h.producer) +
                                      ", below the oldest supported (" + std::to_string(kBundleMinProducer) + ")");
  }
  if (h.min_consumer > kBundleVersion) {
    throw Error(kInvalidArgument, "checkpoint " + file_name + " needs a reader of version " +
                                      std::to_string(h.min_consumer) + " or newer (this reader is version " +
                                      std::to_string(kBundleVersion) + "): it was written by a newer TensorFlow");
  }
  if (std::find(h.bad_consumers.begin(), h.bad_consumers.end(), kBundleVersion) != h.bad_consumers.end()) {
    throw Error(kInvalidArgument, "checkpoint " + file_name + " disallows readers of version " +
                                      std::to_string(kBundleVersion));
  }
  index.entries_.reserve(table.size() - 1);
  for (size_t i = 1; i < table.size(); ++i) {
    try {
      index.entries_.push_back(parse_entry(table[i].value));
      index.entries_.back().key = std::move(table[i].key);
    } catch (const Error& e) {
      BundleEntry shown;
      shown.key = table[i].key;
      throw Error(kDataLoss, "checkpoint entry " + describe_key(shown) + " in " + file_name +
                                 " is malformed: " + e.what());
    }
  }
  return index;
}

const BundleEntry* BundleIndex::find(std::string_view key) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), key,
                             [](const BundleEntry& e, std::string_view k) { return std::string_view(e.key) < k; });
  if (it == entries_.end() || it->key != key) return nullptr;
  return &*it;
}

std::shared_ptr<BundleReader> BundleReader::open(const std::string& prefix) {
  const std::string index_path = prefix + ".index";
  std::string bytes;
  try {
    bytes = MappedFile::read(index_path);
  } catch (const Error& e) {
    if (e.code() == kNotFound) {
      throw Error(kNotFound, "checkpoint index not found: " + index_path +
                                 " (a checkpoint prefix P needs P.index and P.data-*-of-* files)");
    }
    throw;
  }
  std::shared_ptr<BundleReader> reader(new BundleReader());
  reader->prefix_ = prefix;
  reader->index_ = BundleIndex::parse(bytes, index_path);
  return reader;
}

std::shared_ptr<BundleReader> BundleReader::from_bytes(std::string index, std::vector<std::string> shards,
                                                       const std::string& name) {
  std::shared_ptr<BundleReader> reader(new BundleReader());
  reader->prefix_ = name;
  reader->in_memory_ = true;
  reader->memory_shards_ = std::move(shards);
  reader->index_ = BundleIndex::parse(index, name + ".index");
  return reader;
}

std::string BundleReader::shard_path(int32_t shard_id) const {
  char buf[48];
  std::snprintf(buf, sizeof(buf), ".data-%05d-of-%05d", static_cast<int>(shard_id),
                static_cast<int>(index_.header().num_shards));
  return prefix_ + buf;
}

bool BundleReader::needs_byte_swap() const { return index_.header().big_endian != kHostBigEndian; }

void BundleReader::fail(int code, const BundleEntry& entry, const std::string& why) const {
  throw Error(code, "checkpoint entry " + describe_key(entry) + " in " + index_path() + " " + why);
}

std::shared_ptr<const MappedFile> BundleReader::shard(const BundleEntry& entry) const {
  const int32_t num_shards = index_.header().num_shards;
  if (entry.shard_id < 0 || entry.shard_id >= num_shards) {
    fail(kDataLoss, entry, "names data shard " + std::to_string(entry.shard_id) + " but the index has " +
                               std::to_string(num_shards) + " shard(s): the index is corrupt");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = shards_.find(entry.shard_id);
  if (it != shards_.end()) return it->second;
  std::shared_ptr<const MappedFile> file;
  const std::string path = shard_path(entry.shard_id);
  if (in_memory_) {
    if (static_cast<size_t>(entry.shard_id) >= memory_shards_.size()) {
      fail(kNotFound, entry, "needs data shard " + path + ", which is missing");
    }
    file = MappedFile::from_bytes(memory_shards_[entry.shard_id], path);
  } else {
    try {
      file = MappedFile::open(path);
    } catch (const Error& e) {
      if (e.code() == kNotFound) {
        fail(kNotFound, entry, "needs data shard " + path + ", which is missing: copy every " + prefix_ +
                                   ".data-*-of-* file along with the index");
      }
      fail(e.code(), entry, std::string("needs data shard ") + path + ", which cannot be read: " + e.what());
    }
  }
  shards_.emplace(entry.shard_id, file);
  return file;
}

std::string_view BundleReader::entry_bytes(const BundleEntry& entry, std::shared_ptr<const MappedFile>* owner) const {
  if (entry.offset < 0 || entry.size < 0) {
    fail(kDataLoss, entry, "has a negative offset or size (offset " + std::to_string(entry.offset) + ", size " +
                               std::to_string(entry.size) + "): the index is corrupt");
  }
  std::shared_ptr<const MappedFile> file = shard(entry);
  const uint64_t offset = static_cast<uint64_t>(entry.offset);
  const uint64_t size = static_cast<uint64_t>(entry.size);
  if (offset > file->size() || size > file->size() - offset) {
    fail(kDataLoss, entry, "points past the end of its data shard " + file->path() + " (offset " +
                               std::to_string(offset) + " + size " + std::to_string(size) + " > " +
                               std::to_string(file->size()) + " bytes): the shard is truncated or belongs to "
                               "another checkpoint");
  }
  *owner = file;
  return std::string_view(file->data() + offset, static_cast<size_t>(size));
}

int64_t BundleReader::num_elements(const BundleEntry& entry) const {
  if (entry.unknown_rank) fail(kDataLoss, entry, "has a shape of unknown rank: the index is corrupt");
  int64_t n = 1;
  for (int64_t d : entry.shape) {
    if (d < 0) {
      fail(kDataLoss, entry, "has a negative dimension (" + std::to_string(d) + ") in its shape: the index is corrupt");
    }
    if (__builtin_mul_overflow(n, d, &n)) fail(kDataLoss, entry, "has a shape whose element count overflows");
  }
  return n;
}

TensorBytes BundleReader::tensor_bytes(const BundleEntry& entry, bool verify) const {
  if (entry.partitioned()) {
    fail(kInvalidArgument, entry, "is a partitioned variable stored in " + std::to_string(entry.slices.size()) +
                                      " slices: read it with reassemble()");
  }
  const int esize = bundle_dtype_size(entry.dtype);
  if (esize == 0) {
    if (entry.dtype == pb::DT_STRING) fail(kInvalidArgument, entry, "holds strings, not fixed-size elements");
    fail(kUnimplemented, entry, "has dtype " + dtype_name(entry.dtype) +
                                    ", which cannot be read as an array (only numeric and string tensors can)");
  }
  const int64_t n = num_elements(entry);
  int64_t expected = 0;
  if (__builtin_mul_overflow(n, static_cast<int64_t>(esize), &expected) || expected != entry.size) {
    fail(kDataLoss, entry, "has size " + std::to_string(entry.size) + " bytes, which does not match its dtype " +
                               dtype_name(entry.dtype) + " and shape (" + std::to_string(n) + " elements x " +
                               std::to_string(esize) + " bytes): the index is corrupt");
  }
  TensorBytes out;
  const std::string_view bytes = entry_bytes(entry, &out.owner);
  out.data = bytes.data();
  out.size = bytes.size();
  out.num_elements = n;
  if (verify) {
    out.owner->advise_sequential(static_cast<size_t>(bytes.data() - out.owner->data()), bytes.size());
    const uint32_t actual = crc32c::value(bytes.data(), bytes.size());
    if (actual != crc32c::unmask(entry.crc32c)) {
      fail(kDataLoss, entry, "has data whose checksum does not match (CRC-32C of " + std::to_string(bytes.size()) +
                                 " bytes at offset " + std::to_string(entry.offset) + " of " + out.owner->path() +
                                 "): the data shard is corrupt");
    }
  }
  return out;
}

std::vector<std::string_view> BundleReader::string_elements(const BundleEntry& entry, bool verify,
                                                            std::shared_ptr<const MappedFile>* owner) const {
  if (entry.partitioned()) {
    fail(kInvalidArgument, entry, "is a partitioned variable: read it with reassemble()");
  }
  if (entry.dtype != pb::DT_STRING) fail(kInvalidArgument, entry, "does not hold strings");
  const int64_t n = num_elements(entry);
  const std::string_view bytes = entry_bytes(entry, owner);
  std::vector<std::string_view> out;
  if (bytes.empty()) {  // TensorFlow's reader leaves such a tensor's strings empty
    out.assign(static_cast<size_t>(n), std::string_view());
    return out;
  }
  // Every element takes at least one byte (its length), so a count larger than
  // the bytes is corrupt; checking first keeps a bad shape from allocating.
  if (static_cast<uint64_t>(n) > bytes.size()) {
    fail(kDataLoss, entry, "has " + std::to_string(n) + " string elements in only " + std::to_string(bytes.size()) +
                               " bytes: the index is corrupt");
  }
  const bool big = index_.header().big_endian;
  const char* p = bytes.data();
  const char* end = bytes.data() + bytes.size();
  std::vector<uint64_t> lengths(static_cast<size_t>(n));
  uint32_t crc = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t len;
    if (!wire::read_varint(&p, end, &len)) fail(kDataLoss, entry, "has truncated string lengths");
    lengths[static_cast<size_t>(i)] = len;
    crc = len <= UINT32_MAX ? extend_uint(crc, len, 4, big) : extend_uint(crc, len, 8, big);
  }
  if (end - p < 4) fail(kDataLoss, entry, "has string lengths longer than its size");
  const uint32_t stored = load_u32(p, big);
  if (crc32c::unmask(stored) != crc) {
    fail(kDataLoss, entry, "has string lengths whose checksum does not match: the data shard is corrupt");
  }
  crc = crc32c::extend(crc, p, 4);
  p += 4;
  const char* strings_begin = p;
  out.reserve(static_cast<size_t>(n));
  for (uint64_t len : lengths) {
    if (len > static_cast<uint64_t>(end - p)) {
      fail(kDataLoss, entry, "has strings longer than its size (" + std::to_string(entry.size) +
                                 " bytes): the data shard is corrupt");
    }
    out.emplace_back(p, static_cast<size_t>(len));
    p += len;
  }
  if (verify) {
    crc = crc32c::extend(crc, strings_begin, static_cast<size_t>(p - strings_begin));
    if (crc != crc32c::unmask(entry.crc32c)) {
      fail(kDataLoss, entry, "has data whose checksum does not match (CRC-32C at offset " +
                                 std::to_string(entry.offset) + " of " + (*owner)->path() + "): the data shard is corrupt");
    }
  }
  return out;
}

std::vector<SlicePart> BundleReader::slice_parts(const BundleEntry& full) const {
  if (!full.partitioned()) fail(kInvalidArgument, full, "is not a partitioned variable");
  const int64_t total = num_elements(full);
  const size_t rank = full.shape.size();
  std::vector<SlicePart> parts;
  int64_t covered = 0;
  for (const TensorSlice& slice : full.slices) {
    if (slice.size() != rank) {
      fail(kDataLoss, full, "has a slice of rank " + std::to_string(slice.size()) + " for a tensor of rank " +
                                std::to_string(rank) + ": the index is corrupt");
    }
    SlicePart part;
    int64_t elements = 1;
    for (size_t d = 0; d < rank; ++d) {
      const SliceExtent& e = slice[d];
      SliceExtent c;
      if (e.length == -1) {
        c.start = 0;
        c.length = full.shape[d];
        if (e.start != 0) fail(kDataLoss, full, "has a malformed slice (a full extent that starts at " + std::to_string(e.start) + ")");
      } else {
        c = e;
      }
      if (c.start < 0 || c.length < 0 || c.start > full.shape[d] || c.length > full.shape[d] - c.start) {
        fail(kDataLoss, full, "has a slice outside its shape in dimension " + std::to_string(d) + " (start " +
                                  std::to_string(c.start) + ", length " + std::to_string(c.length) + ", size " +
                                  std::to_string(full.shape[d]) + "): the index is corrupt");
      }
      elements *= c.length;  // bounded by total, which did not overflow
      part.extents.push_back(c);
    }
    const std::string key = encode_slice_key(full.key, slice);
    part.entry = index_.find(key);
    if (part.entry == nullptr) {
      fail(kDataLoss, full, "lists a slice that the index does not hold: the index is corrupt or incomplete");
    }
    if (part.entry->dtype != full.dtype) {
      fail(kDataLoss, full, "has a slice of dtype " + dtype_name(part.entry->dtype) + " in a tensor of dtype " +
                                dtype_name(full.dtype) + ": the index is corrupt");
    }
    if (part.entry->unknown_rank || part.entry->shape.size() != rank) {
      fail(kDataLoss, full, "has a slice whose stored shape does not match its extent: the index is corrupt");
    }
    for (size_t d = 0; d < rank; ++d) {
      if (part.entry->shape[d] != part.extents[d].length) {
        fail(kDataLoss, full, "has a slice whose stored shape does not match its extent: the index is corrupt");
      }
    }
    if (__builtin_add_overflow(covered, elements, &covered)) {
      fail(kDataLoss, full, "has overlapping slices: the index is corrupt");
    }
    parts.push_back(std::move(part));
  }
  if (covered != total) {
    fail(kDataLoss, full, "has slices covering " + std::to_string(covered) + " of its " + std::to_string(total) +
                              " elements: the checkpoint is incomplete");
  }
  return parts;
}

void BundleReader::verify_entry(const BundleEntry& entry) const {
  if (entry.partitioned()) {
    for (const SlicePart& part : slice_parts(entry)) verify_entry(*part.entry);
    return;
  }
  if (entry.dtype == pb::DT_STRING) {
    std::shared_ptr<const MappedFile> owner;
    string_elements(entry, true, &owner);
  } else if (bundle_dtype_size(entry.dtype) > 0) {
    tensor_bytes(entry, true);
  } else {
    // DT_VARIANT and others: check that the bytes are where the index says.
    num_elements(entry);
    std::shared_ptr<const MappedFile> owner;
    entry_bytes(entry, &owner);
  }
}

std::vector<std::pair<std::string, std::string>> BundleReader::verify_all() const {
  std::vector<std::pair<std::string, std::string>> problems;
  for (const BundleEntry& entry : index_.entries()) {
    if (entry.is_slice_key()) continue;  // checked with the partitioned tensor that lists it
    try {
      verify_entry(entry);
    } catch (const Error& e) {
      problems.emplace_back(entry.key, e.what());
    }
  }
  return problems;
}

void byte_swap_elements(char* data, size_t size, int dtype) {
  size_t width = static_cast<size_t>(bundle_dtype_size(dtype));
  if (dtype == pb::DT_COMPLEX64 || dtype == pb::DT_COMPLEX128) width /= 2;
  if (width <= 1) return;
  for (size_t i = 0; i + width <= size; i += width) std::reverse(data + i, data + i + width);
}

std::vector<ObjectGraphNode> parse_object_graph(std::string_view bytes) {
  std::vector<ObjectGraphNode> nodes;
  namespace to = pb::TrackableObjectGraph::TrackableObject;
  wire::Reader r(bytes, "TrackableObjectGraph");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number != pb::TrackableObjectGraph::kNodes) continue;
    expect_type(f, wire::kLengthDelimited);
    ObjectGraphNode node;
    wire::Reader n(f.bytes, "TrackableObject");
    wire::Field g;
    while (n.next(&g)) {
      if (g.number != to::kChildren && g.number != to::kAttributes && g.number != to::kSlotVariables) continue;
      expect_type(g, wire::kLengthDelimited);
      wire::Reader m(g.bytes, "TrackableObject field");
      wire::Field h;
      if (g.number == to::kChildren) {
        ObjectGraphNode::Child c;
        while (m.next(&h)) {
          if (h.number == to::ObjectReference::kNodeId) c.node_id = static_cast<int32_t>(h.value);
          else if (h.number == to::ObjectReference::kLocalName && h.type == wire::kLengthDelimited) c.local_name = std::string(h.bytes);
        }
        node.children.push_back(std::move(c));
      } else if (g.number == to::kAttributes) {
        ObjectGraphNode::Attribute a;
        while (m.next(&h)) {
          if (h.type != wire::kLengthDelimited) continue;
          if (h.number == to::SerializedTensor::kName) a.name = std::string(h.bytes);
          else if (h.number == to::SerializedTensor::kFullName) a.full_name = std::string(h.bytes);
          else if (h.number == to::SerializedTensor::kCheckpointKey) a.checkpoint_key = std::string(h.bytes);
        }
        node.attributes.push_back(std::move(a));
      } else {
        ObjectGraphNode::SlotVariable s;
        while (m.next(&h)) {
          if (h.number == to::SlotVariableReference::kOriginalVariableNodeId) {
            s.original_variable_node_id = static_cast<int32_t>(h.value);
          } else if (h.number == to::SlotVariableReference::kSlotName && h.type == wire::kLengthDelimited) {
            s.slot_name = std::string(h.bytes);
          } else if (h.number == to::SlotVariableReference::kSlotVariableNodeId) {
            s.slot_variable_node_id = static_cast<int32_t>(h.value);
          }
        }
        node.slot_variables.push_back(std::move(s));
      }
    }
    nodes.push_back(std::move(node));
  }
  return nodes;
}

}  // namespace tfbundle
