#include "wire.h"

#include "status.h"

namespace tfbundle::wire {

bool read_varint(const char** pp, const char* end, uint64_t* out) {
  const char* p = *pp;
  uint64_t result = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (p >= end) return false;
    const uint8_t byte = static_cast<uint8_t>(*p++);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *out = result;
      *pp = p;
      return true;
    }
  }
  return false;  // more than 10 bytes
}

void Reader::fail(const char* why) const {
  throw Error(kDataLoss, std::string(what_) + " is malformed: " + why);
}

uint64_t Reader::varint() {
  uint64_t v;
  if (!read_varint(&p_, end_, &v)) fail("truncated varint");
  return v;
}

void Reader::skip_group(uint32_t number, int depth) {
  // Groups are deprecated but legal: skip to the matching end-group tag.
  if (depth > 64) fail("groups nested too deeply");
  while (true) {
    if (p_ >= end_) fail("unterminated group");
    const uint64_t tag = varint();
    if (tag > 0xFFFFFFFFu) fail("field number out of range");
    const int type = static_cast<int>(tag & 7);
    const uint32_t num = static_cast<uint32_t>(tag >> 3);
    if (num == 0) fail("field number 0");
    switch (type) {
      case kEndGroup:
        if (num != number) fail("mismatched end of group");
        return;
      case kStartGroup: skip_group(num, depth + 1); break;
      case kVarint: varint(); break;
      case kFixed64: skip(8); break;
      case kFixed32: skip(4); break;
      case kLengthDelimited: skip(varint()); break;
      default: fail("bad wire type");
    }
  }
}

void Reader::skip(uint64_t n) {
  if (n > static_cast<uint64_t>(end_ - p_)) fail("length past the end");
  p_ += n;
}

bool Reader::next(Field* f) {
  while (true) {
    if (p_ >= end_) return false;
    const uint64_t tag = varint();
    // A tag is 32 bits (field numbers up to 2^29 - 1): protobuf refuses a longer one, which
    // truncated would alias a real field.
    if (tag > 0xFFFFFFFFu) fail("field number out of range");
    f->type = static_cast<int>(tag & 7);
    f->number = static_cast<uint32_t>(tag >> 3);
    if (f->number == 0) fail("field number 0");
    switch (f->type) {
      case kVarint:
        f->value = varint();
        return true;
      case kFixed64: {
        if (end_ - p_ < 8) fail("truncated fixed64");
        uint64_t v = 0;
        for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p_[i]);
        p_ += 8;
        f->value = v;
        return true;
      }
      case kFixed32: {
        if (end_ - p_ < 4) fail("truncated fixed32");
        uint32_t v = 0;
        for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p_[i]);
        p_ += 4;
        f->value = v;
        return true;
      }
      case kLengthDelimited: {
        const uint64_t len = varint();
        if (len > static_cast<uint64_t>(end_ - p_)) fail("length past the end");
        f->bytes = std::string_view(p_, static_cast<size_t>(len));
        p_ += len;
        return true;
      }
      case kStartGroup:
        skip_group(f->number, 0);
        continue;  // groups carry nothing tfbundle reads
      default:
        fail("bad wire type");
    }
  }
}

void append_varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void append_fixed32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void append_fixed64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void Writer::varint_field(uint32_t number, uint64_t value) {
  raw_varint((static_cast<uint64_t>(number) << 3) | kVarint);
  raw_varint(value);
}

void Writer::bytes_field(uint32_t number, std::string_view bytes) {
  raw_varint((static_cast<uint64_t>(number) << 3) | kLengthDelimited);
  raw_varint(bytes.size());
  out_.append(bytes.data(), bytes.size());
}

void Writer::fixed64_field(uint32_t number, uint64_t value) {
  raw_varint((static_cast<uint64_t>(number) << 3) | kFixed64);
  append_fixed64(&out_, value);
}

void Writer::fixed32_field(uint32_t number, uint32_t value) {
  raw_varint((static_cast<uint64_t>(number) << 3) | kFixed32);
  append_fixed32(&out_, value);
}

void Writer::field(const Field& f) {
  switch (f.type) {
    case kVarint: varint_field(f.number, f.value); break;
    case kFixed64: fixed64_field(f.number, f.value); break;
    case kFixed32: fixed32_field(f.number, static_cast<uint32_t>(f.value)); break;
    case kLengthDelimited: bytes_field(f.number, f.bytes); break;
    default: break;
  }
}

}  // namespace tfbundle::wire
