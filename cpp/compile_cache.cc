#include "compile_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "crc32c.h"
#include "status.h"
#include "wire.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace tfbundle {
namespace {

constexpr char kMagic[8] = {'T', 'F', 'B', 'C', 'A', 'C', 'H', 'E'};
constexpr size_t kPrefix = 24;  // magic, format, header length, payload length
constexpr size_t kTrailer = 4;  // the CRC

uint64_t get_le(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string hex(uint64_t v, int digits) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%0*llx", digits, static_cast<unsigned long long>(v));
  return buf;
}

#if defined(__x86_64__) || defined(__i386__)
std::string x86_features() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0, &a, &b, &c, &d) == 0) return "x86:no-cpuid";
  const unsigned max_leaf = a;
  char vendor[13];
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  vendor[12] = '\0';
  std::string out = std::string("x86:") + vendor;
  bool osxsave = false;
  if (max_leaf >= 1) {
    __cpuid(1, a, b, c, d);
    osxsave = (c & (1u << 27)) != 0;
    // Leaf 1: ECX and EDX are feature bits; EAX (family/model/stepping) is not a feature.
    out += ":1=" + hex(c, 8) + hex(d, 8);
  }
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    out += ":7=" + hex(b, 8) + hex(c, 8) + hex(d, 8);
    if (a >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      out += ":7.1=" + hex(a, 8);  // AVX-VNNI, AVX512-BF16, ...
    }
  }
  if (__get_cpuid(0x80000001u, &a, &b, &c, &d) != 0) out += ":e1=" + hex(c, 8) + hex(d, 8);
  if (osxsave) {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    out += ":xcr0=" + hex((static_cast<uint64_t>(hi) << 32) | lo, 16);
  }
  return out;
}
#else
std::string proc_cpuinfo_features() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0 || line.rfind("Features", 0) == 0) {
      const size_t colon = line.find(':');
      return "cpuinfo:" + (colon == std::string::npos ? line : line.substr(colon + 1));
    }
  }
  return "unknown";
}
#endif

std::string stat_fingerprint(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "absent";
  return std::to_string(static_cast<long long>(st.st_size)) + "/" + std::to_string(static_cast<long long>(st.st_mtim.tv_sec)) +
         "." + std::to_string(static_cast<long long>(st.st_mtim.tv_nsec)) + "/" +
         std::to_string(static_cast<unsigned long long>(st.st_ino));
}

std::string absolute(const std::string& path) {
  if (char* real = ::realpath(path.c_str(), nullptr)) {
    std::string out(real);
    std::free(real);
    return out;
  }
  return path;
}

// Why the first key field that differs makes the entry unusable.
std::string key_mismatch(const CompileCacheKey& stored, const CompileCacheKey& key) {
  if (stored.tfbundle != key.tfbundle) return "written by tfbundle " + stored.tfbundle + " (this is " + key.tfbundle + ")";
  if (stored.tensorflow != key.tensorflow) {
    return "written by TensorFlow " + stored.tensorflow + " (this is " + key.tensorflow + ")";
  }
  if (stored.cpu != key.cpu) return "written for a CPU with other features";
  if (stored.model != key.model) return "the model changed since the cache was written";
  if (stored.options != key.options) return "written for other load options";
  return {};
}

}  // namespace

const std::string& cpu_features() {
#if defined(__x86_64__) || defined(__i386__)
  static const std::string features = x86_features();
#else
  static const std::string features = proc_cpuinfo_features();
#endif
  return features;
}

std::string model_fingerprint(const std::string& export_dir, std::string_view meta_graph,
                              const std::string& checkpoint_prefix) {
  std::string out = "meta_graph=" + std::to_string(meta_graph.size()) + "/" +
                    hex(crc32c::value(meta_graph.data(), meta_graph.size()), 8);
  const std::string fingerprint_pb = export_dir + "/fingerprint.pb";
  struct stat st;
  if (!export_dir.empty() && ::stat(fingerprint_pb.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (1 << 20)) {
    std::ifstream in(fingerprint_pb, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    out += ";fingerprint.pb=" + std::to_string(bytes.size()) + "/" + hex(crc32c::value(bytes.data(), bytes.size()), 8);
  }
  if (!checkpoint_prefix.empty()) out += ";index=" + stat_fingerprint(checkpoint_prefix + ".index");
  return out;
}

std::string cache_file_path(const std::string& cache_dir, const std::string& export_dir,
                            const std::vector<std::string>& tags, const std::string& kind) {
  const std::string dir = absolute(export_dir);
  std::string id = dir + '\0';
  for (const std::string& t : tags) id += t + '\0';
  id += kind;
  // Two CRCs of the identity (forward, and with a different seed) name the file: 64 bits.
  const uint32_t a = crc32c::value(id.data(), id.size());
  const uint32_t b = crc32c::extend(0x9e3779b9u, id.data(), id.size());
  std::string base = dir;
  const size_t slash = base.find_last_of('/');
  if (slash != std::string::npos) base = base.substr(slash + 1);
  std::string readable;
  for (char ch : base) readable += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_') ? ch : '_';
  if (readable.size() > 40) readable.resize(40);
  return cache_dir + "/" + (readable.empty() ? "model" : readable) + "-" + hex(a, 8) + hex(b, 8) + ".tfbcache";
}

std::string encode_cache_bytes(const CompileCacheKey& key, std::string_view payload) {
  wire::Writer header;
  header.bytes_field(1, key.tfbundle);
  header.bytes_field(2, key.tensorflow);
  header.bytes_field(3, key.cpu);
  header.bytes_field(4, key.model);
  header.bytes_field(5, key.options);
  std::string out(kMagic, sizeof(kMagic));
  wire::append_fixed32(&out, kCompileCacheFormat);
  wire::append_fixed32(&out, static_cast<uint32_t>(header.data().size()));
  wire::append_fixed64(&out, payload.size());
  out += header.data();
  out.append(payload.data(), payload.size());
  wire::append_fixed32(&out, crc32c::mask(crc32c::value(out.data(), out.size())));
  return out;
}

std::string parse_cache_bytes(std::string_view bytes, const CompileCacheKey& key, std::string* payload) {
  if (bytes.size() < kPrefix + kTrailer || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return bytes.size() < kPrefix + kTrailer ? "the cache file is truncated" : "not a tfbundle cache file";
  }
  const uint64_t format = get_le(bytes.data() + 8, 4);
  if (format != kCompileCacheFormat) {
    return "the cache file's format is version " + std::to_string(format) + " (this reads " +
           std::to_string(kCompileCacheFormat) + ")";
  }
  const uint64_t header_len = get_le(bytes.data() + 12, 4);
  const uint64_t payload_len = get_le(bytes.data() + 16, 8);
  const uint64_t body = bytes.size() - kPrefix - kTrailer;
  if (header_len > body || payload_len > body - header_len) return "the cache file is truncated";
  if (header_len + payload_len != body) return "the cache file has bytes after its end";
  const size_t end = bytes.size() - kTrailer;
  const uint32_t stored = static_cast<uint32_t>(get_le(bytes.data() + end, 4));
  if (crc32c::unmask(stored) != crc32c::value(bytes.data(), end)) return "the cache file is corrupt (checksum mismatch)";
  CompileCacheKey found;
  try {
    wire::Reader r(bytes.substr(kPrefix, header_len), "compile cache header");
    wire::Field f;
    while (r.next(&f)) {
      if (f.type != wire::kLengthDelimited) continue;
      std::string* field = f.number == 1   ? &found.tfbundle
                           : f.number == 2 ? &found.tensorflow
                           : f.number == 3 ? &found.cpu
                           : f.number == 4 ? &found.model
                           : f.number == 5 ? &found.options
                                           : nullptr;
      if (field != nullptr) field->assign(f.bytes.data(), f.bytes.size());
    }
  } catch (const Error&) {
    return "the cache file's header is malformed";
  }
  std::string why = key_mismatch(found, key);
  if (!why.empty()) return why;
  payload->assign(bytes.data() + kPrefix + header_len, payload_len);
  return {};
}

CacheLookup read_cache_file(const std::string& path, const CompileCacheKey& key) {
  CacheLookup out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    out.miss = errno == ENOENT ? "no cache file" : "cannot read the cache file: " + std::string(std::strerror(errno));
    return out;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    out.miss = "the cache entry is not a regular file";
    return out;
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, &bytes[done], bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(done);
  std::string payload;
  out.miss = parse_cache_bytes(bytes, key, &payload);
  if (out.miss.empty()) out.payload = std::move(payload);
  return out;
}

std::string write_cache_file(const std::string& path, const CompileCacheKey& key, std::string_view payload) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) {
    return "cannot make the cache folder " + dir + ": " + std::strerror(errno);
  }
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = dir + "/.tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)) + "-" +
                          path.substr(slash + 1);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot write in the cache folder " + dir + ": " + std::strerror(errno);
  const std::string bytes = encode_cache_bytes(key, payload);
  size_t done = 0;
  int err = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return "cannot write the cache file " + path + ": " + std::strerror(err);
  }
  return {};
}

}  // namespace tfbundle
