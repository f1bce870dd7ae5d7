// libFuzzer target: the TFRecord framing scanner (cpp/tfrecord.h), which reads users' TFRecord
// files piece by piece. Properties: every record found lies inside the piece, in order and without
// overlap; `pos` never passes the piece's end; and scanning the same bytes in two calls (split
// at the first call's stopping point) finds the same records as one call.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "tfrecord.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tfbundle::tfrecord::scan;
  const std::string_view piece(reinterpret_cast<const char*>(data), size);
  for (bool check : {true, false}) {
    const auto all = scan(piece, 0, SIZE_MAX, check);
    FUZZ_CHECK(all.pos <= size);
    const char* last_end = piece.data();
    for (std::string_view r : all.records) {
      FUZZ_CHECK(r.data() >= last_end + 12);
      FUZZ_CHECK(r.data() + r.size() + 4 <= piece.data() + size);
      last_end = r.data() + r.size() + 4;
    }
    const size_t half = all.records.size() / 2;
    const auto first = scan(piece, 0, half, check);
    const auto second = scan(piece, first.pos, SIZE_MAX, check);
    FUZZ_CHECK(first.records.size() == half);
    FUZZ_CHECK(first.records.size() + second.records.size() == all.records.size());
    FUZZ_CHECK(second.pos == all.pos && second.error == all.error && second.need == all.need);
  }
  return 0;
}
