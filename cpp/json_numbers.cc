#include "json_numbers.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <system_error>

namespace tfbundle::json {
namespace {

// std::to_chars with a precision formats as printf's "%.*g" does, without the locale and
// several times faster than snprintf; std::from_chars reads back as strtod does.
size_t general(char* buf, size_t size, double value, int precision) {
  auto [end, ec] = std::to_chars(buf, buf + size, value, std::chars_format::general, precision);
  return ec == std::errc() ? static_cast<size_t>(end - buf) : 0;
}

bool reads_back(const char* buf, size_t n, double value, bool float32) {
  double back = 0;
  auto [end, ec] = std::from_chars(buf, buf + n, back);
  if (ec != std::errc() || end != buf + n) return false;
  // Read as a double, then rounded to float32: the two roundings of the reference (a float64
  // array of the strings cast to float32), not one.
  return float32 ? static_cast<float>(back) == static_cast<float>(value) : back == value;
}

template <class T>
void append_integer(std::string& out, T value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, static_cast<size_t>(end - buf));
}

void append_element(std::string& out, const unsigned char* p, Number kind) {
  switch (kind) {
    case Number::kFloat32: {
      float v;
      std::memcpy(&v, p, sizeof v);
      append_float(out, v, true);
      return;
    }
    case Number::kFloat64: {
      double v;
      std::memcpy(&v, p, sizeof v);
      append_float(out, v, false);
      return;
    }
#define TFB_INTEGER(K, T)     \
  case Number::K: {           \
    T v;                      \
    std::memcpy(&v, p, sizeof v); \
    append_integer(out, v);   \
    return;                   \
  }
      TFB_INTEGER(kInt8, int8_t)
      TFB_INTEGER(kInt16, int16_t)
      TFB_INTEGER(kInt32, int32_t)
      TFB_INTEGER(kInt64, int64_t)
      TFB_INTEGER(kUInt8, uint8_t)
      TFB_INTEGER(kUInt16, uint16_t)
      TFB_INTEGER(kUInt32, uint32_t)
      TFB_INTEGER(kUInt64, uint64_t)
#undef TFB_INTEGER
    case Number::kBool:
      out.append(*p ? "true" : "false");
      return;
  }
}

size_t element_size(Number kind) {
  switch (kind) {
    case Number::kInt8:
    case Number::kUInt8:
    case Number::kBool:
      return 1;
    case Number::kInt16:
    case Number::kUInt16:
      return 2;
    case Number::kFloat32:
    case Number::kInt32:
    case Number::kUInt32:
      return 4;
    case Number::kFloat64:
    case Number::kInt64:
    case Number::kUInt64:
      return 8;
  }
  return 1;
}

struct Writer {
  std::string& out;
  const unsigned char* p;
  Number kind;
  size_t item;
  const int64_t* shape;
  size_t ndim;

  void level(size_t d) {
    if (d == ndim) {
      append_element(out, p, kind);
      p += item;
      return;
    }
    out.push_back('[');
    for (int64_t i = 0; i < shape[d]; ++i) {
      if (i > 0) out.push_back(',');
      level(d + 1);
    }
    out.push_back(']');
  }
};

}  // namespace

void append_float(std::string& out, double value, bool float32) {
  if (std::isnan(value)) {
    out.append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out.append(value < 0 ? "-Infinity" : "Infinity");
    return;
  }
  char buf[40];
  size_t n = general(buf, sizeof buf, value, 6);
  if (n == 0 || !reads_back(buf, n, value, float32)) n = general(buf, sizeof buf, value, float32 ? 9 : 17);
  out.append(buf, n);
  if (std::memchr(buf, '.', n) == nullptr && std::memchr(buf, 'e', n) == nullptr) out.append(".0");
}

void append_tensor(std::string& out, const void* data, Number kind, const int64_t* shape, size_t ndim) {
  size_t count = 1;
  for (size_t d = 0; d < ndim; ++d) count *= static_cast<size_t>(shape[d] > 0 ? shape[d] : 0);
  // About the longest float form ("-1.23456789e-38") and a separator per element.
  out.reserve(out.size() + count * (kind == Number::kFloat64 ? 25 : 16) + 2 * ndim + 2);
  Writer w{out, static_cast<const unsigned char*>(data), kind, element_size(kind), shape, ndim};
  w.level(0);
}

}  // namespace tfbundle::json
