#include "mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "status.h"

namespace tfbundle {
namespace {

std::atomic<int64_t> g_live{0};

// An open file descriptor, closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens `path` read-only and returns its size; rejects folders and other
// non-regular files (a FIFO would block a reader forever). O_NONBLOCK: opening
// a FIFO for reading otherwise blocks until a writer comes, before fstat()
// could refuse it; on a regular file the flag changes nothing.
size_t open_regular(const std::string& path, Fd* fd) {
  do {
    fd->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd->fd < 0 && errno == EINTR);
  if (fd->fd < 0) throw_errno(errno, "cannot open", path);
  struct stat st;
  if (::fstat(fd->fd, &st) != 0) throw_errno(errno, "cannot stat", path);
  if (S_ISDIR(st.st_mode)) throw Error(kFailedPrecondition, path + " is a folder, not a file");
  if (!S_ISREG(st.st_mode)) throw Error(kFailedPrecondition, path + " is not a regular file");
  return static_cast<size_t>(st.st_size);
}

}  // namespace

void throw_errno(int err, const std::string& what, const std::string& path) {
  int code = kUnknown;
  switch (err) {
    case ENOENT:
    case ENOTDIR: code = kNotFound; break;
    case EACCES:
    case EPERM:
    case EROFS: code = kPermissionDenied; break;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
    case ENOMEM:
    case EMFILE:
    case ENFILE: code = kResourceExhausted; break;
    case EISDIR: code = kFailedPrecondition; break;
    default: break;
  }
  // A file to read that is not there: said plainly ("cannot create ...: No such file or directory"
  // keeps its cause: a missing folder).
  std::string message = what + " " + path + ": " + std::strerror(err);
  if (code == kNotFound && what == "cannot open") message = "file not found: " + path;
  throw Error(code, message);
}

void pread_exactly(int fd, char* out, size_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    const ssize_t got = ::pread(fd, out, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      throw Error(kDataLoss, "cannot read " + path + " at offset " + std::to_string(offset) + ": " +
                                 (got == 0 ? std::string("unexpected end of file") : std::strerror(errno)));
    }
    out += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
}

int open_regular_file(const std::string& path, size_t* size) {
  Fd fd;
  *size = open_regular(path, &fd);
  const int out = fd.fd;
  fd.fd = -1;  // the caller's now
  return out;
}

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  Fd fd;
  const size_t size = open_regular(path, &fd);
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = size;
  struct stat st;
  if (::fstat(fd.fd, &st) == 0) {
    file->dev_ = static_cast<uint64_t>(st.st_dev);
    file->ino_ = static_cast<uint64_t>(st.st_ino);
  }
  if (size == 0) {
    file->data_ = "";  // mmap refuses length 0; an empty file is a valid (empty) shard
  } else {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.fd, 0);
    if (p == MAP_FAILED) throw_errno(errno, "cannot map", path);
    file->map_ = p;
    file->data_ = static_cast<const char*>(p);
  }
  g_live.fetch_add(1, std::memory_order_relaxed);
  return file;
}

std::shared_ptr<const MappedFile> MappedFile::from_bytes(std::string bytes, std::string name) {
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->owned_ = std::move(bytes);
  file->path_ = std::move(name);
  file->data_ = file->owned_.data();
  file->size_ = file->owned_.size();
  g_live.fetch_add(1, std::memory_order_relaxed);
  return file;
}

bool MappedFile::same_file(int fd) const {
  if (!owned_.empty() || ino_ == 0) return false;
  struct stat st;
  return ::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_dev) == dev_ && static_cast<uint64_t>(st.st_ino) == ino_;
}

MappedFile::~MappedFile() {
  if (map_ != nullptr) ::munmap(map_, size_);
  g_live.fetch_sub(1, std::memory_order_relaxed);
}

void MappedFile::advise_sequential(size_t offset, size_t n) const {
  if (map_ == nullptr || n == 0 || offset >= size_) return;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t begin = offset / page * page;
  const size_t end = std::min(size_, offset + n);
  ::madvise(static_cast<char*>(map_) + begin, end - begin, MADV_SEQUENTIAL);
}

int64_t MappedFile::live_count() { return g_live.load(std::memory_order_relaxed); }

std::string MappedFile::read(const std::string& path) {
  Fd fd;
  const size_t size = open_regular(path, &fd);
  std::string out(size, '\0');
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd.fd, &out[done], size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, "cannot read", path);
    }
    if (n == 0) break;  // the file shrank while we read it
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

}  // namespace tfbundle
