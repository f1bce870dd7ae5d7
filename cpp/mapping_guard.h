// Keeps a private mapping of a file valid when the file is rewritten in place.
//
// The mapped restore hands TensorFlow variables whose bytes are a private (copy-on-write) mapping
// of a checkpoint shard. Pages not written since are the file's page-cache pages: if the file is
// truncated or overwritten in place (`cp new.data-00000-of-00001 variables/`, rather than written
// aside and renamed as TensorFlow's savers do), the variables change under the model, or the next
// read of a page past the new end kills the process with SIGBUS.
//
// protect() takes a read lease on the file (fcntl F_SETLEASE, F_RDLCK): the kernel then holds any
// open() for writing or truncate() of it, and signals a watcher thread of ours first. The watcher
// copies the mapping's pages into anonymous memory at the same address (mremap over it: the
// variables keep their addresses and values) and releases the lease; the writer then proceeds
// and the model never sees the new bytes. Linux only; a lease needs the file to be the process's
// own (same uid) or CAP_LEASE, and no writer open at the time: where it cannot be taken,
// protect() returns false and the mapping is as unguarded as before.
#pragma once

#include <cstddef>
#include <string>

namespace tfbundle {

// Guards the mapping [addr, addr + size) of the file open as `fd` (read-only). On success the
// guard owns `fd` (closed by release()); on failure the caller keeps it.
bool protect_mapping(int fd, void* addr, size_t size);

// True when protect_mapping() could guard a mapping of the file at `path` now: a read lease on
// it can be taken (probed: taken and given back at once). The mapped restore is the default only
// where this holds for every shard (a mapping no lease guards changes with the file).
bool can_guard_file(const std::string& path);

// Forgets the mapping at `addr` (before it is unmapped): releases its lease and closes its fd.
void release_mapping_guard(void* addr);

}  // namespace tfbundle
