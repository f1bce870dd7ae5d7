// A persistent compile cache: what a load of a SavedModel derived from its files, stored on disk so
// that a later load of the same model, by the same TensorFlow on the same kind of CPU, reuses it.
//
// A cache file holds one entry for one (model folder, tag-set, import kind):
//
//   offset 0   8 bytes   magic "TFBCACHE"
//          8   u32 LE    format version (kCompileCacheFormat)
//         12   u32 LE    H: the header's length
//         16   u64 LE    P: the payload's length
//         24   H bytes   header: the key (CompileCacheKey, protobuf wire fields 1-5, strings)
//     24 + H   P bytes   payload (what the loader stored; protobuf wire fields)
//  24 + H + P  u32 LE    masked CRC-32C (crc32c.h) of every byte before it
//
// and nothing after. A file that is shorter or longer, whose checksum does not match, or whose
// key differs in any field from the load's is ignored (the lookup says why), never trusted, and
// the load that found it writes a new one. Files are written whole to a temporary name in the
// cache folder and renamed over the entry: a reader sees the old file or the new one, never a
// part. The cache folder is trusted as the model folder is: a file there with a valid checksum
// and key is used.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tfbundle {

constexpr uint32_t kCompileCacheFormat = 1;

// What must be equal for an entry to be used. Compared field by field, in this order, so that a
// miss names the first that differs.
struct CompileCacheKey {
  std::string tfbundle;    // tfbundle's version
  std::string tensorflow;  // TF_Version()
  std::string cpu;         // cpu_features()
  std::string model;       // model_fingerprint()
  std::string options;     // the load options that change what is stored (import kind, tags, ...)
};

// The CPU's features as TensorFlow's kernels choose by them: on x86-64 the vendor and the CPUID
// feature words (leaves 1, 7 and 0x80000001) with the OS-enabled register state (XCR0); elsewhere
// the "flags"/"Features" line of /proc/cpuinfo. Computed once per process.
const std::string& cpu_features();

// A fingerprint of the model's files that a rewrite in place changes: the size and CRC-32C of
// the MetaGraphDef the load read (`meta_graph`), of fingerprint.pb when the folder has one, and
// the size, modification time and inode of the checkpoint's index (`checkpoint_prefix`.index,
// when given).
std::string model_fingerprint(const std::string& export_dir, std::string_view meta_graph,
                              const std::string& checkpoint_prefix);

// The entry's file in `cache_dir` for a model folder (made absolute), tag-set and import kind.
std::string cache_file_path(const std::string& cache_dir, const std::string& export_dir,
                            const std::vector<std::string>& tags, const std::string& kind);

struct CacheLookup {
  std::optional<std::string> payload;  // set on a hit
  std::string miss;                    // on a miss: why ("no cache file", "the model changed ...")
};

// Reads the entry at `path` and checks it against `key`. Never throws: an unreadable file is a
// miss that says why.
CacheLookup read_cache_file(const std::string& path, const CompileCacheKey& key);

// Writes the entry atomically (a temporary file in the same folder, renamed over `path`), making
// the folder (one level) when it is missing. Never throws: returns why it could not write, or
// an empty string.
std::string write_cache_file(const std::string& path, const CompileCacheKey& key, std::string_view payload);

// The bytes of a cache file (the format above), and their parsing; parse_cache_bytes returns the
// reason the bytes are not a valid entry for `key` (empty when they are) and sets `payload`.
std::string encode_cache_bytes(const CompileCacheKey& key, std::string_view payload);
std::string parse_cache_bytes(std::string_view bytes, const CompileCacheKey& key, std::string* payload);

}  // namespace tfbundle
