// libFuzzer target: the SSTable reader (cpp/sstable.h) and the TensorBundle reader on top of it
// (cpp/tensor_bundle.h): the index, every entry, every tensor (numbers with and without their
// CRC-32C, strings, the slices of partitioned variables), the TF2 object graph, verify_all; the
// snappy decoder; and, for some inputs, the same bundle opened from files (BundleReader::open and
// summarize_variables of cpp/inspect.h, which take paths).
//
// The input is an index and one data shard: a 4-byte little-endian index length, the index, the
// shard (the layout of fuzz/bundle_writer.py's pack()). The custom mutator mutates the bytes with
// libFuzzer's own mutations, then usually rewrites the masked CRC-32C of every block the footer
// and the index block point to, so that mutations reach the block and entry decoders instead of
// stopping at the checksum check.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crc32c.h"
#include "fuzz_common.h"
#include "inspect.h"
#include "sstable.h"
#include "tensor_bundle.h"
#include "wire.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

using tfbundle::fuzz::expect_ok_or_error;
namespace sstable = tfbundle::sstable;

constexpr size_t kMaxShard = 1 << 16;

uint32_t load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // little-endian host (the build machines are x86-64 / arm64)
}

void store32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }

void split(std::string_view data, std::string_view* index, std::string_view* shard) {
  if (data.size() < 4) {
    *index = data;
    *shard = {};
    return;
  }
  const size_t n = load32(data.data());
  const std::string_view rest = data.substr(4);
  *index = rest.substr(0, std::min(n, rest.size()));
  *shard = rest.substr(index->size());
  if (shard->size() > kMaxShard) *shard = shard->substr(0, kMaxShard);
}

// ---- the mutator's checksum repair ----

bool decode_handle(const char** p, const char* end, sstable::BlockHandle* h) {
  return tfbundle::wire::read_varint(p, end, &h->offset) && tfbundle::wire::read_varint(p, end, &h->size);
}

// Rewrites the trailer CRC of the block at h; returns its stored bytes and type, or false.
bool fix_block(char* file, size_t n, const sstable::BlockHandle& h, std::string_view* stored, int* type) {
  const uint64_t limit = n - sstable::kFooterSize;
  if (h.offset > limit || h.size > limit - h.offset || limit - h.offset - h.size < sstable::kBlockTrailerSize) {
    return false;
  }
  char* block = file + h.offset;
  const size_t size = static_cast<size_t>(h.size);
  store32(block + size + 1, tfbundle::crc32c::mask(tfbundle::crc32c::value(block, size + 1)));
  *stored = std::string_view(block, size);
  *type = static_cast<unsigned char>(block[size]);
  return true;
}

void fix_checksums(char* file, size_t n) {
  if (n < sstable::kFooterSize) return;
  const char* p = file + n - sstable::kFooterSize;
  const char* end = p + 40;
  sstable::BlockHandle meta, index;
  if (!decode_handle(&p, end, &meta) || !decode_handle(&p, end, &index)) return;
  std::string_view stored;
  int type;
  fix_block(file, n, meta, &stored, &type);
  if (!fix_block(file, n, index, &stored, &type)) return;
  std::string inflated;
  if (type == 1) {
    if (!sstable::snappy_uncompress(stored, 1 << 20, &inflated)) return;
    stored = inflated;
  } else if (type != 0) {
    return;
  }
  // Walk the index block's entries (prefix-compressed keys, values are block handles).
  if (stored.size() < 4) return;
  const size_t restarts = load32(stored.data() + stored.size() - 4);
  if (restarts > (stored.size() - 4) / 4) return;
  const char* q = stored.data();
  const char* q_end = stored.data() + stored.size() - 4 * (restarts + 1);
  while (q < q_end) {
    uint64_t shared, non_shared, value_length;
    if (!tfbundle::wire::read_varint(&q, q_end, &shared) || !tfbundle::wire::read_varint(&q, q_end, &non_shared) ||
        !tfbundle::wire::read_varint(&q, q_end, &value_length)) {
      return;
    }
    const uint64_t left = static_cast<uint64_t>(q_end - q);
    if (non_shared > left || value_length > left - non_shared) return;
    q += non_shared;
    const char* v = q;
    q += value_length;
    sstable::BlockHandle h;
    if (decode_handle(&v, q, &h)) {
      std::string_view data_block;
      int data_type;
      fix_block(file, n, h, &data_block, &data_type);
    }
  }
}

// ---- the target ----

void read_entry(const tfbundle::BundleReader& reader, const tfbundle::BundleEntry& entry, std::string_view shard) {
  FUZZ_CHECK(reader.index().find(entry.key) == &entry);
  tfbundle::quote_key(entry.key);
  if (entry.partitioned()) {
    std::vector<tfbundle::SlicePart> parts;
    if (!expect_ok_or_error([&] { parts = reader.slice_parts(entry); })) return;
    for (const tfbundle::SlicePart& part : parts) {
      FUZZ_CHECK(part.entry != nullptr && part.extents.size() == entry.shape.size());
      if (!part.entry->partitioned()) read_entry(reader, *part.entry, shard);
    }
    return;
  }
  if (entry.dtype == tfbundle::pb::DT_STRING) {
    for (bool verify : {false, true}) {
      expect_ok_or_error([&] {
        std::shared_ptr<const tfbundle::MappedFile> owner;
        const std::vector<std::string_view> items = reader.string_elements(entry, verify, &owner);
        FUZZ_CHECK(static_cast<int64_t>(items.size()) == reader.num_elements(entry));
        for (std::string_view s : items) {
          FUZZ_CHECK(s.empty() || (s.data() >= owner->data() && s.data() + s.size() <= owner->data() + owner->size()));
        }
        if (verify && entry.key == "_CHECKPOINTABLE_OBJECT_GRAPH" && items.size() == 1) {
          expect_ok_or_error([&] { tfbundle::parse_object_graph(items[0]); });
        }
      });
    }
    return;
  }
  for (bool verify : {false, true}) {
    expect_ok_or_error([&] {
      const tfbundle::TensorBytes t = reader.tensor_bytes(entry, verify);
      const int esize = tfbundle::bundle_dtype_size(entry.dtype);
      FUZZ_CHECK(esize > 0 && t.size == static_cast<size_t>(t.num_elements) * static_cast<size_t>(esize));
      FUZZ_CHECK(t.data >= t.owner->data() && t.data + t.size <= t.owner->data() + t.owner->size());
      FUZZ_CHECK(t.owner->size() == shard.size());
      std::string copy(t.data, t.size);
      tfbundle::byte_swap_elements(copy.data(), copy.size(), entry.dtype);
    });
  }
}

void read_bundle(std::string_view index, std::string_view shard) {
  std::shared_ptr<tfbundle::BundleReader> reader;
  if (!expect_ok_or_error([&] {
        reader = tfbundle::BundleReader::from_bytes(std::string(index), {std::string(shard)}, "fuzz");
      })) {
    return;
  }
  const std::vector<tfbundle::BundleEntry>& entries = reader->index().entries();
  for (size_t i = 1; i < entries.size(); ++i) FUZZ_CHECK(entries[i - 1].key < entries[i].key);
  for (const tfbundle::BundleEntry& entry : entries) {
    FUZZ_CHECK(!entry.key.empty());  // the empty key is the header
    read_entry(*reader, entry, shard);
  }
  reader->verify_all();  // reports problems, never throws
}

// The same bundle through the file-based entry points. Writing files is slow, so only inputs
// whose CRC-32C is a multiple of 4 take this path (deterministically, so that crashes reproduce).
void read_from_files(std::string_view index, std::string_view shard, uint32_t crc) {
  if (crc % 4 != 0) return;
  static tfbundle::fuzz::TempFolder folder;
  const std::string& dir = folder.path();
  const std::string prefix = dir + "/variables/variables";
  if (!folder.write("variables/variables.index", index) ||
      !folder.write("variables/variables.data-00000-of-00001", shard)) {
    return;
  }
  expect_ok_or_error([&] {
    const std::shared_ptr<tfbundle::BundleReader> reader = tfbundle::BundleReader::open(prefix);
    reader->verify_all();
  });
  expect_ok_or_error([&] {
    const tfbundle::VariablesSummary summary = tfbundle::summarize_variables(dir);
    FUZZ_CHECK(summary.format == "v2" && summary.count >= 0 && summary.total_bytes >= 0);
    FUZZ_CHECK(summary.missing_shards.size() <= 100);  // however many shards the header claims
  });
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  if (seed % 8 == 0 || size < 4) return size;  // sometimes leave the checksums broken
  const size_t n = std::min<size_t>(load32(reinterpret_cast<const char*>(data)), size - 4);
  fix_checksums(reinterpret_cast<char*>(data) + 4, n);
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  std::string_view index, shard;
  split(data, &index, &shard);

  // The table layer alone, checksums not checked.
  expect_ok_or_error([&] {
    sstable::Options options;
    options.verify_checksums = false;
    const sstable::Table table = sstable::read_table(index, "fuzz.index", options);
    for (size_t i = 1; i < table.entries.size(); ++i) FUZZ_CHECK(table.entries[i - 1].key < table.entries[i].key);
  });
  read_bundle(index, shard);
  read_from_files(index, shard, tfbundle::crc32c::value(data.data(), data.size()));

  std::string out;
  if (sstable::snappy_uncompress(shard, 1 << 20, &out)) FUZZ_CHECK(out.size() <= (1u << 20));
  return 0;
}
