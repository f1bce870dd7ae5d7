#include "sstable.h"

#include <algorithm>
#include <cstring>

#include "crc32c.h"
#include "status.h"
#include "wire.h"

namespace tfbundle::sstable {
namespace {

uint32_t load_fixed32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | (static_cast<uint32_t>(u[1]) << 8) |
         (static_cast<uint32_t>(u[2]) << 16) | (static_cast<uint32_t>(u[3]) << 24);
}

class TableReader {
 public:
  TableReader(std::string_view file, const std::string& file_name, const Options& options)
      : file_(file), name_(file_name), options_(options) {}

  Table read_all() {
    if (file_.size() < kFooterSize) {
      fail("is too short to be a TensorBundle index (" + std::to_string(file_.size()) +
           " bytes; an index ends with a 48-byte footer): the file is truncated or is not an index");
    }
    const char* footer = file_.data() + file_.size() - kFooterSize;
    const uint64_t magic = static_cast<uint64_t>(load_fixed32(footer + 40)) |
                           (static_cast<uint64_t>(load_fixed32(footer + 44)) << 32);
    if (magic != kMagic) {
      fail("has a bad magic number (not an SSTable): the file is truncated, corrupt or is not a "
           "TensorBundle index");
    }
    const char* p = footer;
    const char* end = footer + 40;
    BlockHandle metaindex, index;
    if (!decode_handle(&p, end, &metaindex) || !decode_handle(&p, end, &index)) {
      fail("has a malformed footer (bad block handles)");
    }
    // The metaindex block of a bundle is empty, but its bytes must still be sound.
    block(metaindex, "metaindex block");
    const std::string_view index_block = block(index, "index block");

    Table table;
    std::vector<Entry>& out = table.entries;
    std::string last_index_key;
    bool first_block = true;
    for_each_entry(index_block, "index block", [&](const std::string& key, std::string_view value) {
      if (!first_block && key <= last_index_key) fail("has index block keys out of order");
      first_block = false;
      last_index_key = key;
      const char* q = value.data();
      BlockHandle handle;
      if (!decode_handle(&q, value.data() + value.size(), &handle)) {
        fail("has a malformed block handle in its index block");
      }
      const std::string_view data = block(handle, "data block");
      for_each_entry(data, "data block", [&](const std::string& k, std::string_view v) {
        if (!out.empty() && k <= out.back().key) {
          fail("has keys out of order (\"" + printable(k) + "\" after \"" + printable(out.back().key) +
               "\")");
        }
        out.push_back(Entry{k, v});
      });
    });
    table.blocks = std::move(blocks_);
    return table;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(kDataLoss, "TensorBundle index " + name_ + " " + why);
  }

  static std::string printable(const std::string& key) {
    std::string out;
    for (unsigned char c : key.substr(0, 200)) {
      if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
        out.push_back(static_cast<char>(c));
      } else {
        static const char kHex[] = "0123456789abcdef";
        out += "\\x";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
      }
    }
    if (key.size() > 200) out += "...";
    return out;
  }

  static bool decode_handle(const char** p, const char* end, BlockHandle* h) {
    return wire::read_varint(p, end, &h->offset) && wire::read_varint(p, end, &h->size);
  }

  // The contents of the block at `h`, checked against its trailer and
  // decompressed if need be.
  std::string_view block(const BlockHandle& h, const char* what) {
    const uint64_t limit = file_.size() - kFooterSize;  // blocks precede the footer
    if (h.offset > limit || h.size > limit - h.offset || limit - h.offset - h.size < kBlockTrailerSize) {
      fail(std::string("has a ") + what + " handle past the end of the file (offset " +
           std::to_string(h.offset) + ", size " + std::to_string(h.size) + ", file " +
           std::to_string(file_.size()) + " bytes): the file is truncated or corrupt");
    }
    const char* data = file_.data() + h.offset;
    const size_t n = static_cast<size_t>(h.size);
    const unsigned char type = static_cast<unsigned char>(data[n]);
    if (options_.verify_checksums) {
      const uint32_t stored = crc32c::unmask(load_fixed32(data + n + 1));
      const uint32_t actual = crc32c::value(data, n + 1);  // block bytes and the type byte
      if (stored != actual) {
        fail(std::string("has a ") + what + " at offset " + std::to_string(h.offset) +
             " whose checksum does not match (block CRC-32C mismatch): the file is corrupt");
      }
    }
    if (type == 1) {
      auto out = std::make_unique<std::string>();
      // A block decompresses to at most what a table can describe; the cap
      // keeps a crafted length from allocating gigabytes.
      const size_t cap = std::max<size_t>(64 * file_.size(), 64u << 20);
      if (!snappy_uncompress(std::string_view(data, n), cap, out.get())) {
        fail(std::string("has a ") + what + " at offset " + std::to_string(h.offset) +
             " whose snappy compression is malformed: the file is corrupt");
      }
      blocks_.push_back(std::move(out));
      return *blocks_.back();
    }
    if (type != 0) {
      throw Error(kUnimplemented, "TensorBundle index " + name_ + " has a " + what + " with compression type " +
                                      std::to_string(type) + ", which tfbundle cannot read (0 = none and 1 = "
                                      "snappy are the types TensorFlow writes)");
    }
    return std::string_view(data, n);
  }

  // Calls fn(key, value) for each entry of a block.
  template <typename Fn>
  void for_each_entry(std::string_view block, const char* what, Fn&& fn) {
    if (block.size() < 4) fail(std::string("has a ") + what + " shorter than 4 bytes");
    const uint32_t num_restarts = load_fixed32(block.data() + block.size() - 4);
    const size_t max_restarts = (block.size() - 4) / 4;
    if (num_restarts > max_restarts) {
      fail(std::string("has a ") + what + " with a bad restart count (" + std::to_string(num_restarts) + ")");
    }
    const size_t restarts_offset = block.size() - 4 * (static_cast<size_t>(num_restarts) + 1);
    for (uint32_t i = 0; i < num_restarts; ++i) {
      const uint32_t r = load_fixed32(block.data() + restarts_offset + 4 * i);
      if (r > restarts_offset || (i == 0 && r != 0 && restarts_offset != 0)) {
        fail(std::string("has a ") + what + " with a restart point out of range");
      }
    }
    const char* p = block.data();
    const char* end = block.data() + restarts_offset;
    std::string key;
    while (p < end) {
      uint64_t shared, non_shared, value_length;
      if (!wire::read_varint(&p, end, &shared) || !wire::read_varint(&p, end, &non_shared) ||
          !wire::read_varint(&p, end, &value_length)) {
        fail(std::string("has a malformed entry in a ") + what);
      }
      const uint64_t left = static_cast<uint64_t>(end - p);
      if (shared > key.size() || non_shared > left || value_length > left - non_shared) {
        fail(std::string("has a malformed entry in a ") + what + " (lengths past the end of the block)");
      }
      key_bytes_ += shared + non_shared;
      if (key_bytes_ > key_budget()) fail("has implausibly long keys");
      key.resize(static_cast<size_t>(shared));
      key.append(p, static_cast<size_t>(non_shared));
      p += non_shared;
      fn(key, std::string_view(p, static_cast<size_t>(value_length)));
      p += value_length;
    }
  }

  // Prefix compression lets a small file describe long keys; cap what we
  // materialise so that a crafted index cannot make us copy gigabytes.
  uint64_t key_budget() const { return 64ull * file_.size() + (64ull << 20); }

  std::string_view file_;
  const std::string& name_;
  Options options_;
  uint64_t key_bytes_ = 0;
  std::vector<std::unique_ptr<std::string>> blocks_;
};

}  // namespace

Table read_table(std::string_view file, const std::string& file_name, const Options& options) {
  return TableReader(file, file_name, options).read_all();
}

bool snappy_uncompress(std::string_view in, size_t max_size, std::string* out) {
  // Raw snappy (google/snappy format_description.txt): a varint with the
  // uncompressed length, then elements whose tag byte's low two bits say
  // what follows: 0 a literal, 1-3 a copy of earlier output (with a 1-, 2-
  // or 4-byte offset).
  const char* p = in.data();
  const char* end = in.data() + in.size();
  uint64_t length;
  if (!wire::read_varint(&p, end, &length) || length > max_size || length > 0xffffffffu) return false;
  out->clear();
  out->reserve(static_cast<size_t>(length));
  auto left = [&] { return static_cast<size_t>(end - p); };
  while (p < end) {
    const uint8_t tag = static_cast<uint8_t>(*p++);
    switch (tag & 3) {
      case 0: {
        size_t len = tag >> 2;
        if (len >= 60) {
          const size_t extra = len - 59;  // 1..4 bytes of length - 1, little-endian
          if (left() < extra) return false;
          len = 0;
          for (size_t i = 0; i < extra; ++i) len |= static_cast<size_t>(static_cast<uint8_t>(p[i])) << (8 * i);
          p += extra;
        }
        len += 1;
        if (left() < len || len > length - out->size()) return false;
        out->append(p, len);
        p += len;
        break;
      }
      case 1: {
        if (left() < 1) return false;
        const size_t len = 4 + ((tag >> 2) & 7);
        const size_t offset = (static_cast<size_t>(tag >> 5) << 8) | static_cast<uint8_t>(*p++);
        if (offset == 0 || offset > out->size() || len > length - out->size()) return false;
        for (size_t i = 0; i < len; ++i) {
          const char c = (*out)[out->size() - offset];  // copies may overlap their source
          out->push_back(c);
        }
        break;
      }
      default: {
        const size_t nbytes = (tag & 3) == 2 ? 2 : 4;
        if (left() < nbytes) return false;
        size_t offset = 0;
        for (size_t i = 0; i < nbytes; ++i) offset |= static_cast<size_t>(static_cast<uint8_t>(p[i])) << (8 * i);
        p += nbytes;
        const size_t len = 1 + (tag >> 2);
        if (offset == 0 || offset > out->size() || len > length - out->size()) return false;
        for (size_t i = 0; i < len; ++i) {
          const char c = (*out)[out->size() - offset];  // copies may overlap their source
          out->push_back(c);
        }
        break;
      }
    }
  }
  return out->size() == length;
}

}  // namespace tfbundle::sstable
