// libFuzzer target: the protocol-buffer wire reader (cpp/wire.h) and the small decoders built
// directly on it (TensorShapeProto, StructuredValue, TrackableObjectGraph).
//
// The input is one serialized message. The target walks it field by field, descending into every
// length-delimited field as if it were a message (up to a fixed depth), and checks properties of
// the reader: a varint reads back what the writer writes, a message re-encoded with wire::Writer
// reads back as the same fields, packed and unpacked repeated varints are read alike.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "inspect.h"
#include "saved_model.h"
#include "tensor_bundle.h"
#include "wire.h"

namespace {

using tfbundle::fuzz::expect_ok_or_error;
namespace wire = tfbundle::wire;

struct Read {
  uint32_t number;
  int type;
  uint64_t value;
  std::string_view bytes;
};

// All fields of a message; throws tfbundle::Error when it is malformed.
std::vector<Read> read_fields(std::string_view data) {
  std::vector<Read> out;
  wire::Reader r(data, "fuzz input");
  wire::Field f;
  while (r.next(&f)) {
    FUZZ_CHECK(f.number != 0);
    FUZZ_CHECK(f.type == wire::kVarint || f.type == wire::kFixed64 || f.type == wire::kFixed32 ||
               f.type == wire::kLengthDelimited);
    if (f.type == wire::kLengthDelimited) {
      // A view into the input, never past its end.
      FUZZ_CHECK(f.bytes.data() >= data.data() && f.bytes.data() + f.bytes.size() <= data.data() + data.size());
    }
    if (f.type == wire::kFixed32) FUZZ_CHECK(f.value <= UINT32_MAX);
    out.push_back({f.number, f.type, f.type == wire::kLengthDelimited ? 0 : f.value, f.bytes});
  }
  return out;
}

void walk(std::string_view data, int depth) {
  std::vector<Read> fields;
  if (!expect_ok_or_error([&] { fields = read_fields(data); })) return;
  bool has_fixed32 = false;
  for (const Read& f : fields) {
    wire::Field field;
    field.number = f.number;
    field.type = f.type;
    field.value = f.value;
    field.bytes = f.bytes;
    size_t count = 0;
    const bool ok = wire::for_each_varint(field, [&](uint64_t) { ++count; });
    if (f.type == wire::kVarint) FUZZ_CHECK(ok && count == 1);
    if (f.type == wire::kFixed32 || f.type == wire::kFixed64) FUZZ_CHECK(!ok);
    if (f.type == wire::kFixed32) has_fixed32 = true;
    if (f.type == wire::kLengthDelimited && depth < 8) walk(f.bytes, depth + 1);
  }
  if (has_fixed32 || depth > 0) return;
  // Round trip: wire::Writer writes every field type the reader returns except fixed32.
  wire::Writer w;
  for (const Read& f : fields) {
    if (f.type == wire::kVarint) w.varint_field(f.number, f.value);
    if (f.type == wire::kFixed64) w.fixed64_field(f.number, f.value);
    if (f.type == wire::kLengthDelimited) w.bytes_field(f.number, f.bytes);
  }
  const std::vector<Read> again = read_fields(w.data());  // must not throw
  FUZZ_CHECK(again.size() == fields.size());
  for (size_t i = 0; i < fields.size(); ++i) {
    FUZZ_CHECK(again[i].number == fields[i].number && again[i].type == fields[i].type);
    FUZZ_CHECK(again[i].value == fields[i].value && again[i].bytes == fields[i].bytes);
  }
}

void check_varint(std::string_view data) {
  const char* p = data.data();
  const char* end = p + data.size();
  uint64_t v;
  if (!wire::read_varint(&p, end, &v)) return;
  const size_t used = static_cast<size_t>(p - data.data());
  FUZZ_CHECK(used >= 1 && used <= 10 && used <= data.size());
  wire::Writer w;
  w.varint_field(1, v);
  const std::string& enc = w.data();  // tag byte 0x08, then the canonical varint
  const char* q = enc.data() + 1;
  uint64_t back;
  FUZZ_CHECK(wire::read_varint(&q, enc.data() + enc.size(), &back) && back == v && q == enc.data() + enc.size());
  FUZZ_CHECK(enc.size() - 1 <= used);  // the canonical encoding is the shortest
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  check_varint(data);
  walk(data, 0);
  expect_ok_or_error([&] {
    const tfbundle::TensorShape shape = tfbundle::parse_tensor_shape(data);
    if (shape.unknown_rank) FUZZ_CHECK(shape.dims.empty());
  });
  expect_ok_or_error([&] {
    const tfbundle::StructuredValue value = tfbundle::parse_structured_value(data);
    value.decodable();
  });
  expect_ok_or_error([&] { tfbundle::parse_object_graph(data); });
  return 0;
}
