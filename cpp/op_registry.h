// TensorFlow's op registry, as facts: which op types TensorFlow knows, how many
// tensors a node of each type makes and which attrs it must carry.
//
// `tfbundle show --all` prints what saved_model_cli prints, and saved_model_cli
// loads the model with TensorFlow's Python loader to list its concrete
// functions. Predicting that loader (an unknown op type makes it fail; the
// names it gives functions depend on how many tensors each node makes) needs
// the registry, which TensorFlow's C library holds but inspection must not
// load. cpp/op_registry_data.inc is generated from TensorFlow's own registry
// (see tests/_inspect_models.py gen-op-registry); TensorFlow never removes an op,
// so an op type absent from it is a custom op or one newer than the table.
#pragma once

#include <cstdint>
#include <string_view>

namespace tfbundle {

struct RegisteredOp {
  const char* name;
  // Outputs, comma-separated: "1" one tensor; "#attr=d" as many as the int attr
  // `attr` (default d, "#attr" when it has none); "@attr=d" one per type in the
  // type-list attr `attr`.
  const char* outputs;
  // The attrs without a default value, comma-separated.
  const char* required_attrs;
};

// The registry entry of `op`, or nullptr when TensorFlow does not register it.
const RegisteredOp* find_registered_op(std::string_view op);

// The TensorFlow version the table was generated from ("2.21.0").
const char* op_registry_version();

// Number of op types in the table.
int64_t op_registry_size();

}  // namespace tfbundle
