#include "mapping_guard.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

namespace tfbundle {
namespace {

struct Region {
  void* addr;
  size_t size;
};

struct Guard {
  std::mutex mu;
  std::map<int, Region> by_fd;  // the guarded mappings, by the fd that holds each lease
  pid_t watcher = 0;            // the watcher thread's id, once it runs
  std::condition_variable started;
};

Guard& guard() {
  static Guard* g = new Guard();  // never destroyed: the watcher may run until the process ends
  return *g;
}

// The signal the kernel sends the watcher when a lease must be broken: a real-time one, directed
// at the watcher thread alone (F_SETOWN_EX, F_OWNER_TID), which blocks it and waits for it.
int lease_signal() { return SIGRTMIN + 5; }

// Copies the region's pages into anonymous memory at the same address.
void detach(const Region& r) {
  void* copy = ::mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (copy == MAP_FAILED) return;  // nothing better to do: the writer waits out the lease time
  std::memcpy(copy, r.addr, r.size);
  if (::mremap(copy, r.size, r.size, MREMAP_MAYMOVE | MREMAP_FIXED, r.addr) == MAP_FAILED) ::munmap(copy, r.size);
}

void watch() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, lease_signal());
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  Guard& g = guard();
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.watcher = static_cast<pid_t>(::syscall(SYS_gettid));
  }
  g.started.notify_all();
  for (;;) {
    siginfo_t info;
    if (::sigwaitinfo(&set, &info) < 0) continue;
    std::lock_guard<std::mutex> lock(g.mu);
    auto it = g.by_fd.find(info.si_fd);
    if (it == g.by_fd.end()) continue;
    detach(it->second);
    ::fcntl(it->first, F_SETLEASE, F_UNLCK);  // the writer goes on
    ::close(it->first);
    g.by_fd.erase(it);
  }
}

pid_t watcher_thread() {
  Guard& g = guard();
  std::unique_lock<std::mutex> lock(g.mu);
  if (g.watcher == 0) {
    std::thread(watch).detach();
    g.started.wait(lock, [&] { return g.watcher != 0; });
  }
  return g.watcher;
}

}  // namespace

bool protect_mapping(int fd, void* addr, size_t size) {
  if (addr == nullptr || size == 0) return false;
  const pid_t watcher = watcher_thread();
  struct f_owner_ex owner {};
  owner.type = F_OWNER_TID;
  owner.pid = watcher;
  if (::fcntl(fd, F_SETSIG, lease_signal()) != 0 || ::fcntl(fd, F_SETOWN_EX, &owner) != 0) return false;
  Guard& g = guard();
  std::lock_guard<std::mutex> lock(g.mu);  // registered before a break can be handled
  if (::fcntl(fd, F_SETLEASE, F_RDLCK) != 0) return false;
  g.by_fd[fd] = Region{addr, size};
  return true;
}

bool can_guard_file(const std::string& path) {
  // O_NONBLOCK: a FIFO in place of a shard is not waited on (the restore refuses it later).
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fcntl(fd, F_SETLEASE, F_RDLCK) == 0;
  if (ok) ::fcntl(fd, F_SETLEASE, F_UNLCK);
  ::close(fd);
  return ok;
}

void release_mapping_guard(void* addr) {
  Guard& g = guard();
  std::lock_guard<std::mutex> lock(g.mu);
  for (auto it = g.by_fd.begin(); it != g.by_fd.end(); ++it) {
    if (it->second.addr != addr) continue;
    ::fcntl(it->first, F_SETLEASE, F_UNLCK);
    ::close(it->first);
    g.by_fd.erase(it);
    return;
  }
}

}  // namespace tfbundle
