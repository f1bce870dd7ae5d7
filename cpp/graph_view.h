// Views of the NodeDefs and the function library of a GraphDef, read with the wire reader as
// protobuf reads them (the last scalar wins, repeated messages merge): what inspection, the
// policy walk and the asset-path analysis need, nothing else. Views point into the GraphDef's
// bytes, which must outlive them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tfbundle {

// The fields of a NodeDef that inspection needs, read as protobuf reads them.
struct NodeView {
  std::string_view name;                 // the last `name` field
  std::string_view op;                   // the last `op` field
  std::vector<std::string_view> inputs;  // as written: "a", "a:1", "^a"; in a function "a:out:0"
  // The attr map: key -> AttrValue bytes, one entry per key (of entries with
  // one key the last, as protobuf's map parsing keeps; an entry's value given
  // twice merged), in the order the keys first came.
  std::vector<std::pair<std::string_view, std::string_view>> attrs;
  std::vector<std::shared_ptr<const std::string>> storage;  // merged values that `attrs` views

  // The value of `key`, or null.
  const std::string_view* attr(std::string_view key) const {
    for (const auto& [k, v] : attrs) {
      if (k == key) return &v;
    }
    return nullptr;
  }
};

// A NodeDef's name, op, inputs and (when `with_attrs`) attrs.
NodeView parse_node(std::string_view bytes, bool with_attrs);

// The set member of AttrValue's `value` oneof (the last one present wins, as
// in protobuf; a message member given more than once since it was set is
// merged), with its payload.
struct AttrOneof {
  uint32_t number = 0;     // 0: none set
  uint64_t value = 0;      // i, b, type (varint), f (fixed32 bits)
  std::string_view bytes;  // s, placeholder; list, shape, tensor, func (merged)
  std::shared_ptr<const std::string> storage;  // what `bytes` views when merged
};

AttrOneof attr_oneof(std::string_view attr_value);

// NameAttrList.name.
std::string_view name_attr_list_name(std::string_view bytes);

// AttrValue.func.name ("" when the attr holds no function).
std::string attr_func_name(std::string_view attr_value);

// The string value of attr `key`, or nullopt when it is absent or not a string.
std::optional<std::string_view> string_attr(const NodeView& node, std::string_view key);

// The strings of a Const node's `value` attr (TensorProto.string_val, as written: a TensorProto
// may hold fewer values than its shape has elements); nullopt when the node is not a Const with a
// tensor value.
std::optional<std::vector<std::string_view>> const_strings(const NodeView& node);

// The node a tensor or control input names: "^a" / "a:1" / "a" -> "a".
std::string_view input_node(std::string_view input);

// A data input as written in a NodeDef: "a", "a:1" in the graph; "arg", "a:output_arg:1" in a
// function body.
struct InputRef {
  static constexpr size_t kNoIndex = static_cast<size_t>(-1);
  std::string_view node;    // up to the first ':'
  std::string_view output;  // a function body's output arg ("output" of "a:output:1"), else ""
  size_t index = 0;         // after the last ':' (0 without one); kNoIndex when not a number
};
InputRef parse_input(std::string_view input);

// The data inputs of a node, in order (control inputs "^a", and empty ones, left out).
std::vector<std::string_view> data_inputs(const NodeView& node);

// One FunctionDef of the library.
struct LibraryFunction {
  std::string name;
  int64_t input_args = 0;
  std::vector<std::string_view> input_arg_names;  // OpDef.input_arg[i].name, in order
  int64_t output_args = 0;
  std::vector<std::string_view> nodes;  // NodeDef bytes
};

// GraphDef.library.
struct Library {
  std::vector<LibraryFunction> functions;                        // library order
  std::unordered_map<std::string, size_t> by_name;               // last definition wins
  std::unordered_map<std::string, std::string> gradient_names;   // registered_op_type -> gradient_func
};

Library parse_library(std::string_view graph_def);

// PartitionedCall or StatefulPartitionedCall: a call of the function in attr "f".
bool is_call_op(std::string_view op);

// The functions a node's attrs name: every function-valued attr (f, then_branch, body, ...) and
// every function in a list attr.
void attr_functions(const NodeView& node, std::vector<std::string>* out);

// Library functions a node refers to: its op (a call by name) and its attrs.
void node_functions(const NodeView& node, const Library& lib, std::vector<std::string>* out);

}  // namespace tfbundle
