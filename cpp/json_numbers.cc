#include "json_numbers.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <system_error>

#include "dtypes.h"
#include "status.h"

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

template <class T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

void append_element(std::string& out, const unsigned char* p, int dtype) {
  switch (dtype) {
    case pb::DT_FLOAT:
      return append_float(out, load<float>(p), true);
    case pb::DT_DOUBLE:
      return append_float(out, load<double>(p), false);
    case pb::DT_INT8:
      return append_integer(out, load<int8_t>(p));
    case pb::DT_INT16:
      return append_integer(out, load<int16_t>(p));
    case pb::DT_INT32:
      return append_integer(out, load<int32_t>(p));
    case pb::DT_INT64:
      return append_integer(out, load<int64_t>(p));
    case pb::DT_UINT8:
      return append_integer(out, load<uint8_t>(p));
    case pb::DT_UINT32:
      return append_integer(out, load<uint32_t>(p));
    case pb::DT_UINT64:
      return append_integer(out, load<uint64_t>(p));
    case pb::DT_BOOL:
      out.append(*p ? "true" : "false");
      return;
    default:
      return;  // not reached: append_tensor takes only what writes_json() takes
  }
}

struct Writer {
  std::string& out;
  const unsigned char* p;
  int dtype;
  size_t item;
  const int64_t* shape;
  size_t ndim;

  void level(size_t d) {
    if (d == ndim) {
      append_element(out, p, dtype);
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
  char buf[40];  // "-1.2345678901234567e-308" at the longest
  size_t n = general(buf, sizeof buf, value, 6);
  if (!reads_back(buf, n, value, float32)) n = general(buf, sizeof buf, value, float32 ? 9 : 17);
  out.append(buf, n);
  if (std::memchr(buf, '.', n) == nullptr && std::memchr(buf, 'e', n) == nullptr) out.append(".0");
}

bool writes_json(int dtype) {
  switch (dtype) {
    case pb::DT_FLOAT:
    case pb::DT_DOUBLE:
    case pb::DT_INT8:
    case pb::DT_INT16:
    case pb::DT_INT32:
    case pb::DT_INT64:
    case pb::DT_UINT8:
    case pb::DT_UINT32:
    case pb::DT_UINT64:
    case pb::DT_BOOL:
      return true;
    default:
      return false;
  }
}

void append_tensor(std::string& out, const void* data, int dtype, const int64_t* shape, size_t ndim) {
  if (!writes_json(dtype)) throw Error(kInvalidArgument, "TF Serving writes no JSON for " + dtype_name(dtype));
  size_t count = 1;
  for (size_t d = 0; d < ndim; ++d) count *= static_cast<size_t>(shape[d] > 0 ? shape[d] : 0);
  // About the longest float form ("-1.23456789e-38") and a separator per element.
  out.reserve(out.size() + count * (dtype == pb::DT_DOUBLE ? 25 : 16) + 2 * ndim + 2);
  const auto item = static_cast<size_t>(find_data_type(dtype)->element_size);
  Writer w{out, static_cast<const unsigned char*>(data), dtype, item, shape, ndim};
  w.level(0);
}

}  // namespace tfbundle::json
