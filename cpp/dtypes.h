// The project's one DataType table. The enum's values and names (DT_FLOAT,
// tf.float32's "float32") are generated from proto/ into proto_fields.h
// (pb::DataType, pb::kDataTypes); this adds what conversion needs: numpy's
// name of each element type, where numpy finds it, its size in a checkpoint,
// and whether a model's inputs and outputs convert it. The bindings expose it
// to Python as _core.DTYPES (read by tfbundle._base.dtypes), so Python keeps
// no copy of its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto_fields.h"

namespace tfbundle {

struct DataTypeInfo {
  int32_t value = 0;
  std::string_view name;         // TensorFlow's enum name: "DT_FLOAT", "DT_FLOAT_REF"
  std::string_view python_name;  // tf.DType.name: "float32", "float32_ref"; empty for DT_INVALID
  // numpy's name of the element type ("float32"; "object" for strings; the
  // quantized types as their integers), or one of the ml_dtypes package
  // ("bfloat16", "float8_e5m2", "int4", ...); empty when there is no numpy
  // form (DT_RESOURCE, DT_VARIANT). A *_REF type has its base type's.
  std::string_view numpy_name;
  bool ml_dtypes = false;  // numpy_name names a type of the ml_dtypes package
  // A model's inputs and outputs convert it between numpy and TF_Tensor (the
  // types before the narrow float8/int4 families, *_REF excluded). The
  // checkpoint reader converts every type with a numpy form.
  bool runnable = false;
  // Bytes per element in a TensorBundle; 0 when not fixed-size (strings,
  // resources, variants) and for the *_REF types, which a bundle never holds.
  int element_size = 0;
};

// Every value of the generated enum, in its order.
const std::vector<DataTypeInfo>& data_types();

// The entry of a DataType value, or nullptr for a value the enum does not have.
const DataTypeInfo* find_data_type(int value);

// "DT_FLOAT", "DT_FLOAT_REF", ...; "DT_<value>" for a value the enum does not have.
std::string dtype_name(int value);

}  // namespace tfbundle
