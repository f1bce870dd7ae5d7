// TensorFlow's table format (LevelDB's SSTable dialect), read-only.
//
// A TensorBundle index is such a table. Layout (tsl/lib/io/format.cc,
// block.cc, table_builder.cc):
//
//   [data block]* [metaindex block] [index block] [footer: 48 bytes]
//
// Every block is followed by a 5-byte trailer: a compression type byte
// (0 none, 1 snappy) and the masked CRC-32C of the stored block bytes and the
// type byte. TensorFlow 1.0-era releases wrote snappy-compressed index blocks
// (old SavedModels still carry them); later ones never compress. A block holds prefix-compressed entries (varint32 shared, varint32
// non_shared, varint32 value_length, key delta, value), then an array of
// fixed32 restart offsets and their count. The footer holds the metaindex
// and index block handles (varint64 offset, varint64 size), zero padding to
// 40 bytes, and the magic number 0xdb4775248b80fb57 (two fixed32, low word
// first). The index block maps a separator key to each data block's handle.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tfbundle::sstable {

constexpr uint64_t kMagic = 0xdb4775248b80fb57ull;
constexpr size_t kFooterSize = 48;
constexpr size_t kBlockTrailerSize = 5;

struct BlockHandle {
  uint64_t offset = 0;
  uint64_t size = 0;  // without the trailer
};

struct Entry {
  std::string key;
  std::string_view value;  // a view into the table's bytes or Table::blocks
};

struct Table {
  std::vector<Entry> entries;  // in key order
  // Decompressed blocks that values of compressed blocks point into.
  std::vector<std::unique_ptr<std::string>> blocks;
};

struct Options {
  // Check every block's CRC-32C (cheap: the index of a bundle is small).
  bool verify_checksums = true;
};

// Reads every entry of every data block of the table `file` (the whole
// file's bytes), in key order. Values are views into `file` (or, for
// snappy-compressed blocks, into the returned Table's buffers).
//
// Throws tfbundle::Error naming `file_name`: DATA_LOSS when the bytes are not
// a well-formed table (too short, bad magic number, a handle out of range, a
// checksum mismatch, a malformed or badly compressed block, keys out of
// order), UNIMPLEMENTED for an unknown compression type.
Table read_table(std::string_view file, const std::string& file_name, const Options& options = {});

// Decompresses a raw snappy buffer (the block compression of older
// TensorFlow tables). Returns false if it is malformed or would exceed
// max_size bytes.
bool snappy_uncompress(std::string_view in, size_t max_size, std::string* out);

}  // namespace tfbundle::sstable
