// A file mapped read-only into memory, owned by shared_ptr.
//
// Numpy views of checkpoint tensors keep a shared_ptr to the mapping of their
// data shard, so a view stays valid after its reader is closed: the pages are
// unmapped only when the last owner lets go. Mapping reads nothing; pages are
// read from disk (or the page cache) when they are first touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tfbundle {

// Opens `path` read-only and checks it is a regular file; returns the open
// descriptor (the caller closes it) and stores the file's size. O_NONBLOCK: a
// FIFO in place of the file makes open() return instead of blocking until a
// writer comes. Throws as MappedFile::open, and FAILED_PRECONDITION for a
// folder or anything that is not a regular file.
int open_regular_file(const std::string& path, size_t* size);

// Throws the tfbundle::Error of a failed system call: `what` ("cannot open"), the path and
// strerror, with the code of errno `err` (NOT_FOUND, PERMISSION_DENIED, RESOURCE_EXHAUSTED, ...).
[[noreturn]] void throw_errno(int err, const std::string& what, const std::string& path);

// Reads exactly `n` bytes at `offset` of `fd` (the file `path`) into `out`, with pread (retried
// on EINTR and short reads; copies from the page cache without mapping). DATA_LOSS at the end of
// the file or on a read error.
void pread_exactly(int fd, char* out, size_t n, uint64_t offset, const std::string& path);

class MappedFile {
 public:
  // Maps the whole file `path`. Throws tfbundle::Error: NOT_FOUND if it does
  // not exist, FAILED_PRECONDITION if it is a folder, PERMISSION_DENIED, or
  // the code of the failing system call, each naming the file.
  static std::shared_ptr<const MappedFile> open(const std::string& path);

  // Wraps bytes already in memory (tests and the fuzz target use this, so
  // they exercise the same checks without files).
  static std::shared_ptr<const MappedFile> from_bytes(std::string bytes, std::string name);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return data_; }
  size_t size() const { return size_; }
  std::string_view view() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  // Whether the open file `fd` is the file this maps (same device and inode): a path can name
  // another file by now (replaced by a rename). False for bytes in memory.
  bool same_file(int fd) const;

  // Hints that [offset, offset + n) will be read once, front to back (e.g.
  // by a checksum pass). Best effort; never fails.
  void advise_sequential(size_t offset, size_t n) const;

  // How many mappings are alive in this process (for lifetime tests).
  static int64_t live_count();

  // Reads a whole (small) file into memory, with the errors of open().
  static std::string read(const std::string& path);

 private:
  MappedFile() = default;

  const char* data_ = nullptr;
  size_t size_ = 0;
  void* map_ = nullptr;   // non-null when data_ came from mmap
  std::string owned_;     // used by from_bytes
  std::string path_;
  uint64_t dev_ = 0, ino_ = 0;  // the mapped file's identity (open only)
};

}  // namespace tfbundle
