#include "graph_view.h"

#include <charconv>
#include <system_error>

#include "proto_fields.h"
#include "wire.h"

namespace tfbundle {

using wire::Field;
using wire::Reader;

NodeView parse_node(std::string_view bytes, bool with_attrs) {
  NodeView n;
  Reader r(bytes, "NodeDef");
  Field f;
  while (r.next(&f)) {
    if (f.type != wire::kLengthDelimited) continue;
    if (f.number == pb::NodeDef::kName) {
      n.name = f.bytes;
    } else if (f.number == pb::NodeDef::kOp) {
      n.op = f.bytes;
    } else if (f.number == pb::NodeDef::kInput) {
      n.inputs.push_back(f.bytes);
    } else if (f.number == pb::NodeDef::kAttr && with_attrs) {
      std::string_view key;
      wire::MergedMessage value;
      Reader e(f.bytes, "NodeDef.attr entry");
      Field g;
      while (e.next(&g)) {
        if (g.type != wire::kLengthDelimited) continue;
        if (g.number == pb::MapEntry::kKey) key = g.bytes;
        if (g.number == pb::MapEntry::kValue) value.add(g.bytes);
      }
      if (value.storage()) n.storage.push_back(value.storage());
      bool replaced = false;
      for (auto& [k, v] : n.attrs) {
        if (k == key) {
          v = value.bytes();
          replaced = true;
          break;
        }
      }
      if (!replaced) n.attrs.emplace_back(key, value.bytes());
    }
  }
  return n;
}


// The wire type of each member of AttrValue's oneof: another wire type makes
// the field an unknown one, which protobuf skips.
namespace {

int attr_member_wire_type(uint32_t number) {
  namespace av = pb::AttrValue;
  if (number == av::kI || number == av::kB || number == av::kType) return wire::kVarint;
  if (number == av::kF) return wire::kFixed32;
  return wire::kLengthDelimited;
}

bool attr_member_is_message(uint32_t number) {
  namespace av = pb::AttrValue;
  return number == av::kList || number == av::kShape || number == av::kTensor || number == av::kFunc;
}

}  // namespace

AttrOneof attr_oneof(std::string_view attr_value) {
  AttrOneof out;
  wire::MergedMessage message;
  Reader r(attr_value, "AttrValue");
  Field f;
  while (r.next(&f)) {
    if (!pb::AttrValue::in_oneof_value(f.number) || f.type != attr_member_wire_type(f.number)) continue;
    if (f.number != out.number) message.clear();
    out.number = f.number;
    if (attr_member_is_message(f.number)) {
      message.add(f.bytes);
      out.bytes = message.bytes();
    } else {
      out.bytes = f.bytes;
      out.value = f.value;
    }
  }
  out.storage = message.storage();
  return out;
}

std::string_view name_attr_list_name(std::string_view bytes) {
  std::string_view name;
  Reader r(bytes, "NameAttrList");
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::NameAttrList::kName && f.type == wire::kLengthDelimited) name = f.bytes;
  }
  return name;
}

std::string attr_func_name(std::string_view attr_value) {
  const AttrOneof v = attr_oneof(attr_value);
  if (v.number != pb::AttrValue::kFunc) return {};
  return std::string(name_attr_list_name(v.bytes));
}




namespace {

std::string_view arg_def_name(std::string_view bytes) {
  std::string_view name;
  Reader r(bytes, "OpDef.ArgDef");
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::OpDef::ArgDef::kName && f.type == wire::kLengthDelimited) name = f.bytes;
  }
  return name;
}

void parse_op_def_signature(std::string_view bytes, LibraryFunction* fn) {
  Reader r(bytes, "OpDef");
  Field f;
  while (r.next(&f)) {
    if (f.type != wire::kLengthDelimited) continue;
    if (f.number == pb::OpDef::kName) fn->name = std::string(f.bytes);
    if (f.number == pb::OpDef::kInputArg) {
      ++fn->input_args;
      fn->input_arg_names.push_back(arg_def_name(f.bytes));
    }
    if (f.number == pb::OpDef::kOutputArg) ++fn->output_args;
  }
}

}  // namespace

Library parse_library(std::string_view graph_def) {
  Library lib;
  Reader r(graph_def, "GraphDef");
  Field f;
  while (r.next(&f)) {
    if (f.number != pb::GraphDef::kLibrary || f.type != wire::kLengthDelimited) continue;
    Reader l(f.bytes, "FunctionDefLibrary");
    Field g;
    while (l.next(&g)) {
      if (g.type != wire::kLengthDelimited) continue;
      if (g.number == pb::FunctionDefLibrary::kFunction) {
        LibraryFunction fn;
        Reader d(g.bytes, "FunctionDef");
        Field h;
        while (d.next(&h)) {
          if (h.type != wire::kLengthDelimited) continue;
          if (h.number == pb::FunctionDef::kSignature) parse_op_def_signature(h.bytes, &fn);
          if (h.number == pb::FunctionDef::kNodeDef) fn.nodes.push_back(h.bytes);
        }
        lib.by_name[fn.name] = lib.functions.size();
        lib.functions.push_back(std::move(fn));
      } else if (g.number == pb::FunctionDefLibrary::kRegisteredGradients) {
        std::string func, op_type;
        Reader d(g.bytes, "RegisteredGradient");
        Field h;
        while (d.next(&h)) {
          if (h.type != wire::kLengthDelimited) continue;
          if (h.number == pb::RegisteredGradient::kGradientFunc) func = std::string(h.bytes);
          if (h.number == pb::RegisteredGradient::kRegisteredOpType) op_type = std::string(h.bytes);
        }
        if (!op_type.empty()) lib.gradient_names[op_type] = func;
      }
    }
  }
  return lib;
}

std::optional<std::vector<std::string_view>> const_strings(const NodeView& node) {
  const std::string_view* value = node.attr("value");
  if (node.op != "Const" || value == nullptr) return std::nullopt;
  const AttrOneof v = attr_oneof(*value);
  if (v.number != pb::AttrValue::kTensor) return std::nullopt;
  std::vector<std::string_view> out;
  Reader r(v.bytes, "TensorProto");
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::TensorProto::kStringVal && f.type == wire::kLengthDelimited) out.push_back(f.bytes);
  }
  return out;
}

bool is_call_op(std::string_view op) { return op == "PartitionedCall" || op == "StatefulPartitionedCall"; }

void attr_functions(const NodeView& node, std::vector<std::string>* out) {
  for (const auto& [key, value] : node.attrs) {
    const AttrOneof v = attr_oneof(value);
    if (v.number == pb::AttrValue::kFunc) {
      out->emplace_back(name_attr_list_name(v.bytes));
    } else if (v.number == pb::AttrValue::kList) {
      Reader l(v.bytes, "AttrValue.ListValue");
      Field g;
      while (l.next(&g)) {
        if (g.number == pb::AttrValue::ListValue::kFunc && g.type == wire::kLengthDelimited) {
          out->emplace_back(name_attr_list_name(g.bytes));
        }
      }
    }
  }
}

void node_functions(const NodeView& node, const Library& lib, std::vector<std::string>* out) {
  if (lib.by_name.count(std::string(node.op))) out->emplace_back(node.op);
  attr_functions(node, out);
}

std::string_view input_node(std::string_view input) {
  if (!input.empty() && input[0] == '^') input.remove_prefix(1);
  const size_t colon = input.find(':');
  return colon == std::string_view::npos ? input : input.substr(0, colon);
}

std::optional<std::string_view> string_attr(const NodeView& node, std::string_view key) {
  if (const std::string_view* a = node.attr(key)) {
    const AttrOneof v = attr_oneof(*a);
    if (v.number == pb::AttrValue::kS) return v.bytes;
  }
  return std::nullopt;
}

InputRef parse_input(std::string_view input) {
  InputRef r;
  const size_t first = input.find(':');
  r.node = input.substr(0, first);
  if (first == std::string_view::npos) return r;
  const size_t last = input.rfind(':');
  if (last != first) r.output = input.substr(first + 1, last - first - 1);
  const std::string_view digits = input.substr(last + 1);
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), r.index);
  if (error != std::errc() || end != digits.data() + digits.size()) r.index = InputRef::kNoIndex;
  return r;
}

std::vector<std::string_view> data_inputs(const NodeView& node) {
  std::vector<std::string_view> out;
  for (std::string_view in : node.inputs) {
    if (!in.empty() && in[0] != '^') out.push_back(in);
  }
  return out;
}

}  // namespace tfbundle
