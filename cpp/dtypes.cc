#include "dtypes.h"

namespace tfbundle {
namespace {

// The columns the generated table does not have, by base type. A type not
// listed has no numpy form (DT_INVALID, DT_RESOURCE, DT_VARIANT).
struct NumpyForm {
  pb::DataType value;
  std::string_view numpy_name;
  bool ml_dtypes;
  int element_size;
};

constexpr NumpyForm kNumpyForms[] = {
    {pb::DT_FLOAT, "float32", false, 4},
    {pb::DT_DOUBLE, "float64", false, 8},
    {pb::DT_INT32, "int32", false, 4},
    {pb::DT_UINT8, "uint8", false, 1},
    {pb::DT_INT16, "int16", false, 2},
    {pb::DT_INT8, "int8", false, 1},
    {pb::DT_STRING, "object", false, 0},
    {pb::DT_COMPLEX64, "complex64", false, 8},
    {pb::DT_INT64, "int64", false, 8},
    {pb::DT_BOOL, "bool", false, 1},
    {pb::DT_QINT8, "int8", false, 1},
    {pb::DT_QUINT8, "uint8", false, 1},
    {pb::DT_QINT32, "int32", false, 4},
    {pb::DT_BFLOAT16, "bfloat16", true, 2},
    {pb::DT_QINT16, "int16", false, 2},
    {pb::DT_QUINT16, "uint16", false, 2},
    {pb::DT_UINT16, "uint16", false, 2},
    {pb::DT_COMPLEX128, "complex128", false, 16},
    {pb::DT_HALF, "float16", false, 2},
    {pb::DT_UINT32, "uint32", false, 4},
    {pb::DT_UINT64, "uint64", false, 8},
    {pb::DT_FLOAT8_E5M2, "float8_e5m2", true, 1},
    {pb::DT_FLOAT8_E4M3FN, "float8_e4m3fn", true, 1},
    {pb::DT_FLOAT8_E4M3FNUZ, "float8_e4m3fnuz", true, 1},
    {pb::DT_FLOAT8_E4M3B11FNUZ, "float8_e4m3b11fnuz", true, 1},
    {pb::DT_FLOAT8_E5M2FNUZ, "float8_e5m2fnuz", true, 1},
    {pb::DT_INT4, "int4", true, 1},
    {pb::DT_UINT4, "uint4", true, 1},
    {pb::DT_INT2, "int2", true, 1},
    {pb::DT_UINT2, "uint2", true, 1},
    {pb::DT_FLOAT4_E2M1FN, "float4_e2m1fn", true, 1},
};

// TensorFlow's *_REF types (TF1 reference variables) are the base value + 100.
constexpr int kRefOffset = 100;

struct Table {
  std::vector<DataTypeInfo> entries;
  std::vector<int> index;  // value -> position in entries, -1 if none
};

const Table& table() {
  static const Table* t = [] {
    auto* out = new Table();  // never destroyed: used until the process ends
    int max_value = 0;
    for (const pb::DataTypeName& d : pb::kDataTypes) {
      DataTypeInfo info;
      info.value = d.value;
      info.name = d.name;
      info.python_name = d.short_name;
      const bool ref = d.value > kRefOffset;
      const int base = ref ? d.value - kRefOffset : d.value;
      for (const NumpyForm& f : kNumpyForms) {
        if (f.value != base) continue;
        info.numpy_name = f.numpy_name;
        info.ml_dtypes = f.ml_dtypes;
        info.element_size = ref ? 0 : f.element_size;  // a bundle never stores a *_REF type
        info.runnable = !ref && base <= pb::DT_UINT64;
      }
      out->entries.push_back(info);
      if (d.value > max_value) max_value = d.value;
    }
    out->index.assign(static_cast<size_t>(max_value) + 1, -1);
    for (size_t i = 0; i < out->entries.size(); ++i) {
      out->index[static_cast<size_t>(out->entries[i].value)] = static_cast<int>(i);
    }
    return out;
  }();
  return *t;
}

}  // namespace

const std::vector<DataTypeInfo>& data_types() { return table().entries; }

const DataTypeInfo* find_data_type(int value) {
  const Table& t = table();
  if (value < 0 || static_cast<size_t>(value) >= t.index.size()) return nullptr;
  const int i = t.index[static_cast<size_t>(value)];
  return i < 0 ? nullptr : &t.entries[static_cast<size_t>(i)];
}

std::string dtype_name(int value) {
  const DataTypeInfo* d = find_data_type(value);
  return d != nullptr ? std::string(d->name) : "DT_" + std::to_string(value);
}

}  // namespace tfbundle
