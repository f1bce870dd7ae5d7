// A batch parser of serialized tf.Example protos into dense columns: what
// tf.io.parse_example does with FixedLenFeature specs, without TensorFlow.
//
// Each record is walked once with the zero-copy wire reader (wire.h): the map
// entries of Example.features whose key is a requested feature are kept as
// views, every other entry is skipped unread; then each requested feature's
// values are decoded straight into the caller's column (floats and int64s) or
// kept as views into the record (bytes). Nothing allocates per record once the
// first record has sized the scratch vectors.
//
// Protobuf's semantics where they matter: a key given twice in the map is the
// last one; Example.features or a map entry's value given twice merge; the
// Feature's kind (bytes_list, float_list, int64_list) is the last one set; a
// packed or an unpacked repeated field is read either way. A Feature with no
// kind set (`feature {}`) counts as missing, as in TensorFlow's parser.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tfbundle::example {

enum Kind : int { kFloat = 0, kInt64 = 1, kBytes = 2 };

struct FeatureSpec {
  std::string name;
  Kind kind = kFloat;
  int64_t count = 1;  // values per record: the product of the feature's shape
  std::string shape;  // "[2, 3]", for messages
  // The value of a record that lacks the feature (count values of `kind`);
  // without one such a record is an error.
  bool has_default = false;
  std::vector<float> default_float;
  std::vector<int64_t> default_int64;
  std::vector<std::string> default_bytes;
};

// Where one feature's column goes: records.size() * count values, record-major.
// The pointer of the spec's kind is used; the others may be null.
struct Column {
  float* floats = nullptr;
  int64_t* int64s = nullptr;
  // Views into the records (or into the spec's default_bytes): valid while both live.
  std::string_view* bytes = nullptr;
};

// Parses every record into `columns` (one per spec, same order). Throws
// tfbundle::Error (INVALID_ARGUMENT) naming the record's index and, where it
// is about one feature, the feature: a record that is not a serialized
// Example, a feature of another kind than its spec's, or with another number
// of values, or missing where the spec has no default. `first_index` is
// added to the index in messages (the batch's position in a larger input).
void parse_batch(const std::vector<std::string_view>& records, const std::vector<FeatureSpec>& specs,
                 const std::vector<Column>& columns, int64_t first_index = 0);

}  // namespace tfbundle::example
