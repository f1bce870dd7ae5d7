// Helpers shared by the libFuzzer targets in fuzz/native.
//
// The core reports bad input by throwing tfbundle::Error; that is the expected outcome of most
// inputs, so a target swallows it. Anything else is a finding: another exception escapes to
// libFuzzer (which reports it as a crash), and ASan / UBSan / LeakSanitizer abort on memory errors,
// undefined behaviour and leaks. FUZZ_CHECK states a property that must hold for every input.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "status.h"

namespace tfbundle::fuzz {

// Runs fn(); a tfbundle::Error is an expected outcome. Returns whether fn() returned normally.
template <typename Fn>
bool expect_ok_or_error(Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const Error& e) {
    // Every error carries a code and a message; an empty message would tell the user nothing.
    if (e.code() == kOk || e.what()[0] == '\0') {
      std::fprintf(stderr, "tfbundle::Error with code %d and message \"%s\"\n", e.code(), e.what());
      std::abort();
    }
    return false;
  }
}

// A private folder <tmp>/tfbundle-fuzz-XXXXXX with a variables/ folder, for the entry points
// that take paths; what was written is removed at exit. In memory (/dev/shm) unless TMPDIR says
// otherwise: rewriting files on a disk file system can cost milliseconds each.
class TempFolder {
 public:
  TempFolder() {
    const char* base = std::getenv("TMPDIR");
    struct stat st;
    const bool shm = ::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0;
    std::string pattern = std::string(base && *base ? base : shm ? "/dev/shm" : "/tmp") + "/tfbundle-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr || mkdir((pattern + "/variables").c_str(), 0700) != 0) {
      std::perror("tfbundle fuzz: cannot make a temporary folder");
      std::abort();
    }
    path_ = pattern;
  }
  ~TempFolder() {
    for (const std::string& name : written_) unlink((path_ + "/" + name).c_str());
    rmdir((path_ + "/variables").c_str());
    rmdir(path_.c_str());
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;

  const std::string& path() const { return path_; }

  // Writes path()/name (a new file, not a truncated one: ext4 flushes those on close).
  bool write(const std::string& name, std::string_view bytes) {
    const std::string full = path_ + "/" + name;
    unlink(full.c_str());
    FILE* f = std::fopen(full.c_str(), "wb");
    if (f == nullptr) return false;
    bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    ok = std::fclose(f) == 0 && ok;
    bool known = false;
    for (const std::string& w : written_) known |= w == name;
    if (!known) written_.push_back(name);
    return ok;
  }

  void remove(const std::string& name) { unlink((path_ + "/" + name).c_str()); }

 private:
  std::string path_;
  std::vector<std::string> written_;
};

}  // namespace tfbundle::fuzz

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);     \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
