// TensorBundle writer: a checkpoint rewritten so that every tensor's bytes
// start at an aligned offset of its data shard.
//
// tfbundle.load(restore="mmap") hands a variable to TensorFlow without a copy
// only when its bytes start at a file offset that is a multiple of 64
// (TensorFlow copies any buffer that is not EIGEN_MAX_ALIGN_BYTES-aligned).
// SaveV2 packs tensors back to back, so after the first tensor whose size is
// not a multiple of 64 every later one is misaligned. A bundle's index gives
// each entry's (shard_id, offset, size) explicitly, so a bundle with zero
// padding between tensors is still a checkpoint TensorFlow reads as any other.
//
// The bundle written (tensor_bundle.h describes the format):
//   DST.index                   a table (sstable.h) as TensorFlow's
//                               BundleWriter writes it: uncompressed data
//                               blocks of prefix-compressed entries with a
//                               restart point every 16 entries, an empty
//                               metaindex block, an index block, the footer;
//   DST.data-00000-of-00001     every tensor of every source shard, in the
//                               index's key order, each starting at a
//                               multiple of `alignment`, zeros in between.
// Each BundleEntryProto is the source's, field for field (unknown fields
// included), with shard_id 0 and the new offset; the BundleHeaderProto keeps
// endianness and version, with num_shards 1. Tensor bytes are copied as
// stored (no byte swapping), after the checks of the BundleReader (bounds,
// sizes, CRC-32C of numeric and string tensors): a corrupt source is refused,
// not copied.
#pragma once

#include <cstddef>
#include <string>

namespace tfbundle {

constexpr size_t kDefaultBundleAlignment = 64;

// The largest alignment write_aligned_bundle accepts (a huge page).
constexpr size_t kMaxBundleAlignment = size_t{1} << 21;

// Reads the bundle at `src_prefix` (BundleReader) and writes it to
// `dst_prefix` with every entry's bytes at a multiple of `alignment`. Entries
// without bytes (size 0, such as the full entry of a partitioned variable)
// get offset 0. The files are written under temporary names in the folder of
// `dst_prefix`, flushed to disk and renamed at the end (the data shard first,
// then the index), so a crash never leaves a partial bundle under the final
// names; an existing DST.index is removed before the renames. On an error the
// temporary files are removed and nothing under the final names has changed,
// except that an existing DST.index may have been removed.
//
// Blocking (reads and writes every byte of the checkpoint). Throws
// tfbundle::Error: INVALID_ARGUMENT when `alignment` is not a power of two
// between 1 and kMaxBundleAlignment or when the destination is the source
// (the same prefix, or DST.index or DST's data shard is one of the source's
// files); what BundleReader::open and its checks throw for the source
// (NOT_FOUND, DATA_LOSS, ...); the code of a failing system call (NOT_FOUND
// for a missing destination folder, PERMISSION_DENIED, RESOURCE_EXHAUSTED for
// a full disk, ...) naming the file.
void write_aligned_bundle(const std::string& src_prefix, const std::string& dst_prefix,
                          size_t alignment = kDefaultBundleAlignment);

}  // namespace tfbundle
