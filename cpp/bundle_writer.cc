#include "bundle_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crc32c.h"
#include "mapped_file.h"
#include "proto_fields.h"
#include "sstable.h"
#include "status.h"
#include "tensor_bundle.h"
#include "wire.h"

namespace tfbundle {
namespace {

// TensorFlow's table options for a bundle index (tsl/lib/io/table_options.h;
// BundleWriter turns compression off): a data block is closed once it holds
// about this many bytes, and every 16th key of a data block is stored whole.
constexpr size_t kBlockSize = 256 * 1024;
constexpr int kRestartInterval = 16;

// Bytes copied per read.
constexpr size_t kCopyChunk = 1 << 20;


// --------------------------------------------------------------- the table ---

// One block of prefix-compressed entries (LevelDB's BlockBuilder): each entry
// is varint32 shared, varint32 non_shared, varint32 value_length, the key's
// bytes after the shared prefix, the value; every `restart_interval`-th entry
// shares nothing and its offset goes into the restart array at the end.
class BlockBuilder {
 public:
  explicit BlockBuilder(int restart_interval) : restart_interval_(restart_interval) { restarts_.push_back(0); }

  void add(std::string_view key, std::string_view value) {
    size_t shared = 0;
    if (counter_ < restart_interval_) {
      const size_t n = std::min(last_key_.size(), key.size());
      while (shared < n && last_key_[shared] == key[shared]) ++shared;
    } else {
      restarts_.push_back(static_cast<uint32_t>(buffer_.size()));
      counter_ = 0;
    }
    wire::append_varint(&buffer_, shared);
    wire::append_varint(&buffer_, key.size() - shared);
    wire::append_varint(&buffer_, value.size());
    buffer_.append(key.data() + shared, key.size() - shared);
    buffer_.append(value.data(), value.size());
    last_key_.assign(key.data(), key.size());
    ++counter_;
    empty_ = false;
  }

  bool empty() const { return empty_; }
  size_t size_estimate() const { return buffer_.size() + 4 * restarts_.size() + 4; }

  // The block's bytes; the builder starts over.
  std::string finish() {
    std::string out = std::move(buffer_);
    for (uint32_t r : restarts_) wire::append_fixed32(&out, r);
    wire::append_fixed32(&out, static_cast<uint32_t>(restarts_.size()));
    buffer_.clear();
    restarts_.assign(1, 0);
    counter_ = 0;
    last_key_.clear();
    empty_ = true;
    return out;
  }

 private:
  const int restart_interval_;
  std::string buffer_;
  std::vector<uint32_t> restarts_;
  int counter_ = 0;
  std::string last_key_;
  bool empty_ = true;
};

// A short key k with a <= k < b (the bytewise comparator's
// FindShortestSeparator); `a` itself when there is none shorter.
std::string shortest_separator(const std::string& a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  if (i < n) {
    const uint8_t byte = static_cast<uint8_t>(a[i]);
    if (byte < 0xff && byte + 1 < static_cast<uint8_t>(b[i])) {
      std::string out = a.substr(0, i + 1);
      out[i] = static_cast<char>(byte + 1);
      return out;
    }
  }
  return a;
}

// A short key k >= a (FindShortSuccessor): `a` cut after its first byte that
// is not 0xff, that byte incremented.
std::string short_successor(const std::string& a) {
  for (size_t i = 0; i < a.size(); ++i) {
    const uint8_t byte = static_cast<uint8_t>(a[i]);
    if (byte != 0xff) {
      std::string out = a.substr(0, i + 1);
      out[i] = static_cast<char>(byte + 1);
      return out;
    }
  }
  return a;
}

// A table in memory, as TensorFlow's TableBuilder writes one without
// compression: data blocks, an empty metaindex block, the index block (one
// entry per data block: a separator key -> the block's handle, every entry a
// restart point), the footer. Keys must come in increasing order.
class TableBuilder {
 public:
  void add(std::string_view key, std::string_view value) {
    if (pending_index_entry_) {
      add_index_entry(shortest_separator(last_key_, key));
    }
    data_.add(key, value);
    last_key_.assign(key.data(), key.size());
    if (data_.size_estimate() >= kBlockSize) flush();
  }

  std::string finish() {
    flush();
    std::string meta_handle, index_handle;
    write_block(BlockBuilder(kRestartInterval).finish(), &meta_handle);
    if (pending_index_entry_) add_index_entry(short_successor(last_key_));
    write_block(index_.finish(), &index_handle);
    std::string footer = meta_handle + index_handle;
    footer.resize(sstable::kFooterSize - 8, '\0');  // the handles, zero-padded to 40 bytes
    wire::append_fixed32(&footer, static_cast<uint32_t>(sstable::kMagic & 0xffffffffu));
    wire::append_fixed32(&footer, static_cast<uint32_t>(sstable::kMagic >> 32));
    out_ += footer;
    return std::move(out_);
  }

 private:
  void flush() {
    if (data_.empty()) return;
    write_block(data_.finish(), &pending_handle_);
    pending_index_entry_ = true;
  }

  void add_index_entry(const std::string& key) {
    index_.add(key, pending_handle_);
    pending_handle_.clear();
    pending_index_entry_ = false;
  }

  // Appends a block, its type byte (0: not compressed) and the masked
  // CRC-32C of both; sets *handle to its (offset, size).
  void write_block(const std::string& contents, std::string* handle) {
    handle->clear();
    wire::append_varint(handle, out_.size());
    wire::append_varint(handle, contents.size());
    out_ += contents;
    out_.push_back('\0');
    const uint32_t crc = crc32c::value(out_.data() + out_.size() - contents.size() - 1, contents.size() + 1);
    wire::append_fixed32(&out_, crc32c::mask(crc));
  }

  std::string out_;
  BlockBuilder data_{kRestartInterval};
  BlockBuilder index_{1};
  std::string last_key_;
  std::string pending_handle_;
  bool pending_index_entry_ = false;
};

// ----------------------------------------------------------- the protos ---

// The source's BundleHeaderProto with num_shards = 1 (other fields as they are).
std::string rewrite_header(std::string_view source) {
  namespace bh = pb::BundleHeaderProto;
  wire::Writer w;
  w.varint_field(bh::kNumShards, 1);
  wire::Reader r(source, "BundleHeaderProto");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number != bh::kNumShards) w.field(f);
  }
  return w.data();
}

// The source's BundleEntryProto with shard_id 0 and offset `offset`, in field
// number order as protobuf writes it (zero values left out, as proto3 does).
std::string rewrite_entry(std::string_view source, uint64_t offset) {
  namespace be = pb::BundleEntryProto;
  wire::Writer w;
  bool offset_written = false;
  auto write_offset = [&] {
    if (!offset_written && offset != 0) w.varint_field(be::kOffset, offset);
    offset_written = true;
  };
  wire::Reader r(source, "BundleEntryProto");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number == be::kShardId || f.number == be::kOffset) continue;
    if (f.number > be::kOffset) write_offset();
    w.field(f);
  }
  write_offset();
  return w.data();
}

// ------------------------------------------------------------ the files ---

// An open file descriptor, closed on scope exit.
struct Fd {
  int fd = -1;
  Fd() = default;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// A new file under a temporary name beside `final_path`; removed on scope
// exit unless commit() renamed it to `final_path`.
class TempFile {
 public:
  explicit TempFile(std::string final_path) : final_(std::move(final_path)) {
    static std::atomic<uint64_t> counter{0};
    for (int attempt = 0;; ++attempt) {
      path_ = final_ + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0) return;
      if (errno == EINTR || (errno == EEXIST && attempt < 100)) continue;
      throw_errno(errno, "cannot create", path_);
    }
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }

  void write(const char* data, size_t n) {
    while (n > 0) {
      const ssize_t put = ::write(fd_, data, n);
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) throw_errno(errno, "cannot write", path_);
      data += put;
      n -= static_cast<size_t>(put);
      size_ += static_cast<uint64_t>(put);
    }
  }

  void write_zeros(size_t n) {
    static const char kZeros[4096] = {};
    while (n > 0) {
      const size_t k = std::min(n, sizeof(kZeros));
      write(kZeros, k);
      n -= k;
    }
  }

  uint64_t size() const { return size_; }

  // Flushes the file to disk and closes it (a close() error is a write error).
  void close() {
    if (::fsync(fd_) != 0) throw_errno(errno, "cannot flush", path_);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 && errno != EINTR) throw_errno(errno, "cannot write", path_);
  }

  void commit() {
    if (::rename(path_.c_str(), final_.c_str()) != 0) throw_errno(errno, "cannot rename " + path_ + " to", final_);
    committed_ = true;
  }

 private:
  std::string final_;
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool committed_ = false;
};

// (device, inode) of an existing file, or nothing.
bool file_id(const std::string& path, std::pair<uint64_t, uint64_t>* id) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  *id = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  return true;
}

void refuse_same_files(const BundleReader& source, const std::string& src_prefix, const std::string& dst_prefix,
                       const std::string& dst_index, const std::string& dst_data) {
  const std::string why = "cannot write the aligned checkpoint " + dst_prefix + " over its source " + src_prefix +
                          ": give another destination";
  if (src_prefix == dst_prefix) throw Error(kInvalidArgument, why);
  std::vector<std::pair<uint64_t, uint64_t>> sources;
  std::pair<uint64_t, uint64_t> id;
  if (file_id(source.index_path(), &id)) sources.push_back(id);
  for (int32_t s = 0; s < source.index().header().num_shards; ++s) {
    if (file_id(source.shard_path(s), &id)) sources.push_back(id);
  }
  for (const std::string& path : {dst_index, dst_data}) {
    if (file_id(path, &id) && std::find(sources.begin(), sources.end(), id) != sources.end()) {
      throw Error(kInvalidArgument, why + " (" + path + " is one of the source's files)");
    }
  }
}


// Checks a source entry as the reader does before its bytes are copied.
// Returns true when the copy must also match the entry's CRC-32C (numeric
// tensors, whose checksum is that of the stored bytes; the reader has
// already checked a string tensor's).
bool check_entry(const BundleReader& reader, const BundleEntry& e) {
  if (e.partitioned()) {
    reader.slice_parts(e);  // the slices are entries of their own, checked and copied as such
    return false;
  }
  if (e.dtype != pb::DT_STRING && bundle_dtype_size(e.dtype) > 0) {
    reader.tensor_bytes(e, false);  // dtype, shape, size, bounds: the bytes are read by the copy
    return true;
  }
  reader.verify_entry(e);  // strings: lengths and CRC-32C; DT_VARIANT and others: bounds
  return false;
}

}  // namespace

void write_aligned_bundle(const std::string& src_prefix, const std::string& dst_prefix, size_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > kMaxBundleAlignment) {
    throw Error(kInvalidArgument, "the alignment must be a power of two from 1 to " +
                                      std::to_string(kMaxBundleAlignment) + ", got " + std::to_string(alignment));
  }
  std::shared_ptr<BundleReader> reader = BundleReader::open(src_prefix);
  const std::string dst_index = dst_prefix + ".index";
  const std::string dst_data = dst_prefix + ".data-00000-of-00001";
  refuse_same_files(*reader, src_prefix, dst_prefix, dst_index, dst_data);

  // The index's entries as stored, to rewrite them field for field.
  const std::string index_bytes = MappedFile::read(reader->index_path());
  const sstable::Table table = sstable::read_table(index_bytes, reader->index_path());
  const std::vector<BundleEntry>& entries = reader->index().entries();
  if (table.entries.size() != entries.size() + 1) {
    throw Error(kDataLoss, "checkpoint index " + reader->index_path() + " changed while it was read");
  }

  TempFile data(dst_data);
  TableBuilder index;
  index.add("", rewrite_header(table.entries.front().value));
  std::map<int32_t, std::unique_ptr<Fd>> shards;
  std::vector<char> buffer;
  for (size_t i = 0; i < entries.size(); ++i) {
    const BundleEntry& e = entries[i];
    const sstable::Entry& stored = table.entries[i + 1];
    if (stored.key != e.key) {
      throw Error(kDataLoss, "checkpoint index " + reader->index_path() + " changed while it was read");
    }
    const bool verify_crc = check_entry(*reader, e);
    uint64_t offset = 0;
    if (e.size > 0) {
      const uint64_t pad = (alignment - data.size() % alignment) % alignment;
      data.write_zeros(static_cast<size_t>(pad));
      offset = data.size();
      const std::string path = reader->shard_path(e.shard_id);
      std::unique_ptr<Fd>& fd = shards[e.shard_id];
      if (!fd) {
        fd = std::make_unique<Fd>();
        size_t ignored;
        fd->fd = open_regular_file(path, &ignored);
      }
      if (buffer.empty()) buffer.resize(kCopyChunk);
      uint32_t crc = 0;
      uint64_t at = static_cast<uint64_t>(e.offset);
      for (uint64_t left = static_cast<uint64_t>(e.size); left > 0;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, buffer.size()));
        pread_exactly(fd->fd, buffer.data(), n, at, path);
        if (verify_crc) crc = crc32c::extend(crc, buffer.data(), n);
        data.write(buffer.data(), n);
        at += n;
        left -= n;
      }
      if (verify_crc && crc != crc32c::unmask(e.crc32c)) {
        throw Error(kDataLoss, "checkpoint entry " + quote_key(e.key) + " in " + reader->index_path() +
                                   " has data whose checksum does not match (CRC-32C of " + std::to_string(e.size) +
                                   " bytes at offset " + std::to_string(e.offset) + " of " + path +
                                   "): the data shard is corrupt");
      }
    }
    index.add(e.key, rewrite_entry(stored.value, offset));
  }
  data.close();

  TempFile index_file(dst_index);
  const std::string index_out = index.finish();
  index_file.write(index_out.data(), index_out.size());
  index_file.close();

  // No moment shows a bundle under the final names whose index and data disagree: the old index
  // goes first, the new one comes last.
  if (::unlink(dst_index.c_str()) != 0 && errno != ENOENT) throw_errno(errno, "cannot remove", dst_index);
  data.commit();
  index_file.commit();
  const size_t slash = dst_prefix.rfind('/');
  const std::string folder = slash == std::string::npos ? "." : slash == 0 ? "/" : dst_prefix.substr(0, slash);
  Fd dir;
  dir.fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir.fd >= 0) ::fsync(dir.fd);  // best effort: the renames reach the disk
}

}  // namespace tfbundle
