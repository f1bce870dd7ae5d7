#include "saved_model.h"

#include <algorithm>

#include "proto_fields.h"
#include "status.h"
#include "wire.h"

namespace tfbundle {
namespace {

using wire::Field;
using wire::MergedMessage;
using wire::Reader;

std::string str(const Field& f) { return std::string(f.bytes); }
bool is_bytes(const Field& f) { return f.type == wire::kLengthDelimited; }
bool is_varint(const Field& f) { return f.type == wire::kVarint; }

}  // namespace

bool split_tensor_name(std::string_view name, std::string_view* op, int* index) {
  if (!name.empty() && name[0] == '^') {
    *op = name.substr(1);
    *index = -1;
    return true;
  }
  *op = name;
  *index = 0;
  const size_t colon = name.rfind(':');
  if (colon == std::string_view::npos) return true;
  const std::string_view digits = name.substr(colon + 1);
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  *op = name.substr(0, colon);
  *index = std::stoi(std::string(digits));
  return true;
}

TensorShape parse_tensor_shape(std::string_view bytes) {
  TensorShape shape;
  shape.unknown_rank = false;
  Reader r(bytes, "TensorShapeProto");
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::TensorShapeProto::kDim && is_bytes(f)) {
      int64_t size = 0;
      Reader d(f.bytes, "TensorShapeProto.Dim");
      Field g;
      while (d.next(&g)) {
        if (g.number == pb::TensorShapeProto::Dim::kSize && is_varint(g)) size = static_cast<int64_t>(g.value);
      }
      shape.dims.push_back(size);
    } else if (f.number == pb::TensorShapeProto::kUnknownRank && is_varint(f)) {
      shape.unknown_rank = f.value != 0;
    }
  }
  if (shape.unknown_rank) shape.dims.clear();
  return shape;
}

namespace {

// Composite tensors nest TensorInfos; a crafted file could nest them deeply
// enough to overflow the stack, so the depth is bounded (above what protobuf's
// own recursion limit of 100 messages lets a SavedModel hold).
constexpr int kMaxTensorInfoDepth = 64;

TensorInfo parse_tensor_info(std::string_view bytes, int depth = 0) {
  if (depth > kMaxTensorInfoDepth) throw Error(kDataLoss, "TensorInfo is malformed: composite tensors nested too deeply");
  namespace ti = pb::TensorInfo;
  TensorInfo info;
  MergedMessage shape;
  uint32_t encoding = 0;          // the member of the `encoding` oneof that came last
  MergedMessage encoding_message;  // coo_sparse or composite_tensor, merged since it was set
  Reader r(bytes, "TensorInfo");
  Field f;
  while (r.next(&f)) {
    if (ti::in_oneof_encoding(f.number)) {
      if (!is_bytes(f)) continue;  // all three members are length-delimited
      if (f.number != encoding) {
        encoding = f.number;
        encoding_message.clear();
      }
      if (f.number == ti::kName) {
        info.name = str(f);
      } else {
        encoding_message.add(f.bytes);
      }
    } else if (f.number == ti::kDtype && is_varint(f)) {
      info.dtype = static_cast<int32_t>(f.value);
    } else if (f.number == ti::kTensorShape && is_bytes(f)) {
      shape.add(f.bytes);
    }
  }
  info.shape = parse_tensor_shape(shape.bytes());  // an absent TensorShapeProto is a scalar
  if (encoding != ti::kName) info.name.clear();
  if (encoding == ti::kCooSparse) {
    info.encoding = TensorInfo::Encoding::kCooSparse;
    Reader c(encoding_message.bytes(), "TensorInfo.CooSparse");
    Field g;
    while (c.next(&g)) {
      if (!is_bytes(g)) continue;
      if (g.number == ti::CooSparse::kValuesTensorName) info.coo_values = str(g);
      if (g.number == ti::CooSparse::kIndicesTensorName) info.coo_indices = str(g);
      if (g.number == ti::CooSparse::kDenseShapeTensorName) info.coo_dense_shape = str(g);
    }
  } else if (encoding == ti::kCompositeTensor) {
    info.encoding = TensorInfo::Encoding::kComposite;
    Reader c(encoding_message.bytes(), "TensorInfo.CompositeTensor");
    Field g;
    while (c.next(&g)) {
      if (g.number == ti::CompositeTensor::kComponents && is_bytes(g)) {
        info.components.push_back(parse_tensor_info(g.bytes, depth + 1));
      }
    }
  }
  return info;
}

// A map<string, Message> entry: on_entry(key, value), the value's occurrences
// merged. Entries with one key: the caller keeps the last.
template <typename Fn>
void parse_map_entry(std::string_view bytes, const char* what, Fn&& on_entry) {
  std::string key;
  MergedMessage value;
  Reader r(bytes, what);
  Field f;
  while (r.next(&f)) {
    if (!is_bytes(f)) continue;
    if (f.number == pb::MapEntry::kKey) key = str(f);
    if (f.number == pb::MapEntry::kValue) value.add(f.bytes);
  }
  on_entry(std::move(key), value);
}

using NamedInfos = std::vector<std::pair<std::string, TensorInfo>>;

SignatureDef parse_signature(std::string key, std::string_view bytes) {
  SignatureDef sig;
  sig.key = std::move(key);
  std::map<std::string, TensorInfo> inputs, outputs;  // a key given twice: the last entry
  Reader r(bytes, "SignatureDef");
  Field f;
  while (r.next(&f)) {
    if (!is_bytes(f)) continue;
    if (f.number == pb::SignatureDef::kInputs || f.number == pb::SignatureDef::kOutputs) {
      auto& dst = f.number == pb::SignatureDef::kInputs ? inputs : outputs;
      parse_map_entry(f.bytes, "SignatureDef map entry", [&](std::string k, const MergedMessage& v) {
        dst[std::move(k)] = parse_tensor_info(v.bytes());
      });
    } else if (f.number == pb::SignatureDef::kMethodName) {
      sig.method_name = str(f);
    }
  }
  for (auto& [k, info] : inputs) sig.inputs.emplace_back(k, std::move(info));  // sorted by key
  for (auto& [k, info] : outputs) sig.outputs.emplace_back(k, std::move(info));
  return sig;
}

// One occurrence of meta_info_def: applied in file order, occurrences merge.
void parse_meta_info(std::string_view bytes, MetaGraph* mg) {
  namespace mi = pb::MetaGraphDef::MetaInfoDef;
  Reader r(bytes, "MetaInfoDef");
  Field f;
  while (r.next(&f)) {
    if (f.number == mi::kStrippedDefaultAttrs) {
      if (is_varint(f)) mg->stripped_default_attrs = f.value != 0;
      continue;
    }
    if (!is_bytes(f)) continue;
    switch (f.number) {
      case mi::kMetaGraphVersion: mg->meta_graph_version = str(f); break;
      case mi::kTags: mg->tags.push_back(str(f)); break;
      case mi::kTensorflowVersion: mg->tensorflow_version = str(f); break;
      case mi::kTensorflowGitVersion: mg->tensorflow_git_version = str(f); break;
      default: break;
    }
  }
}

SaverDef parse_saver(std::string_view bytes) {
  SaverDef s;
  Reader r(bytes, "SaverDef");
  Field f;
  while (r.next(&f)) {
    switch (f.number) {
      case pb::SaverDef::kFilenameTensorName: if (is_bytes(f)) s.filename_tensor_name = str(f); break;
      case pb::SaverDef::kSaveTensorName: if (is_bytes(f)) s.save_tensor_name = str(f); break;
      case pb::SaverDef::kRestoreOpName: if (is_bytes(f)) s.restore_op_name = str(f); break;
      case pb::SaverDef::kSharded: if (is_varint(f)) s.sharded = f.value != 0; break;
      case pb::SaverDef::kVersion: if (is_varint(f)) s.version = static_cast<int32_t>(f.value); break;
      default: break;
    }
  }
  return s;
}

AssetFile parse_asset(std::string_view bytes) {
  AssetFile a;
  MergedMessage tensor_info;
  Reader r(bytes, "AssetFileDef");
  Field f;
  while (r.next(&f)) {
    if (!is_bytes(f)) continue;
    if (f.number == pb::AssetFileDef::kTensorInfo) tensor_info.add(f.bytes);
    if (f.number == pb::AssetFileDef::kFilename) a.filename = str(f);
  }
  a.tensor_name = parse_tensor_info(tensor_info.bytes()).name;
  return a;
}

// The CollectionDef of `key` (the last map entry of that key, merged): the
// node names of a node_list, the initializers of the "local_variables"
// collection (a bytes_list of VariableDefs) and the AssetFileDefs of the
// "saved_model_assets" collection (an any_list) into `packed_assets`.
void parse_collection(const std::string& key, std::string_view bytes, MetaGraph* mg,
                      std::vector<AssetFile>* packed_assets) {
  uint32_t kind = 0;  // the member of the `kind` oneof that came last, merged since it was set
  MergedMessage list;
  {
    Reader r(bytes, "CollectionDef");
    Field f;
    while (r.next(&f)) {
      if (!pb::CollectionDef::in_oneof_kind(f.number) || !is_bytes(f)) continue;
      if (f.number != kind) {
        kind = f.number;
        list.clear();
      }
      list.add(f.bytes);
    }
  }
  auto& names = mg->node_collections[key];
  names.clear();
  if (kind == pb::CollectionDef::kNodeList) {
    Reader n(list.bytes(), "CollectionDef.NodeList");
    Field g;
    while (n.next(&g)) {
      if (g.number == pb::CollectionDef::NodeList::kValue && is_bytes(g)) names.push_back(str(g));
    }
  } else if (kind == pb::CollectionDef::kBytesList && key == "local_variables") {
    Reader values(list.bytes(), "CollectionDef.BytesList");
    Field g;
    while (values.next(&g)) {
      if (g.number != pb::CollectionDef::BytesList::kValue || !is_bytes(g)) continue;
      std::optional<std::string> initializer;
      Reader var(g.bytes, "VariableDef");
      Field h;
      while (var.next(&h)) {
        if (h.number == pb::VariableDef::kInitializerName && is_bytes(h)) initializer = str(h);
      }
      if (initializer) mg->local_variable_initializers.push_back(std::move(*initializer));
    }
  } else if (kind == pb::CollectionDef::kAnyList && key == "saved_model_assets") {
    Reader values(list.bytes(), "CollectionDef.AnyList");
    Field g;
    while (values.next(&g)) {
      if (g.number != pb::CollectionDef::AnyList::kValue || !is_bytes(g)) continue;
      std::string_view value;  // Any.value is `bytes`: the last occurrence, not merged
      Reader any(g.bytes, "Any");
      Field h;
      while (any.next(&h)) {
        if (h.number == pb::protobuf::Any::kValue && is_bytes(h)) value = h.bytes;
      }
      packed_assets->push_back(parse_asset(value));
    }
  }
}

}  // namespace

MetaGraph parse_meta_graph(std::string_view bytes) {
  MetaGraph mg;
  MergedMessage graph_def, saver_def, object_graph_def;
  std::map<std::string, MergedMessage> collections;  // of entries with one key, the last
  std::map<std::string, SignatureDef> signatures;    // likewise
  Reader r(bytes, "MetaGraphDef");
  Field f;
  while (r.next(&f)) {
    if (!is_bytes(f)) continue;
    switch (f.number) {
      case pb::MetaGraphDef::kMetaInfoDef: parse_meta_info(f.bytes, &mg); break;
      case pb::MetaGraphDef::kGraphDef: graph_def.add(f.bytes); break;
      case pb::MetaGraphDef::kSaverDef: saver_def.add(f.bytes); break;
      case pb::MetaGraphDef::kCollectionDef:
        parse_map_entry(f.bytes, "MetaGraphDef.collection_def entry",
                        [&](std::string k, const MergedMessage& v) { collections[std::move(k)] = v; });
        break;
      case pb::MetaGraphDef::kSignatureDef:
        parse_map_entry(f.bytes, "MetaGraphDef.signature_def entry", [&](std::string k, const MergedMessage& v) {
          signatures[k] = parse_signature(k, v.bytes());
        });
        break;
      case pb::MetaGraphDef::kAssetFileDef: mg.assets.push_back(parse_asset(f.bytes)); break;
      case pb::MetaGraphDef::kObjectGraphDef: object_graph_def.add(f.bytes); break;
      default: break;
    }
  }
  for (const MergedMessage* m : {&graph_def, &object_graph_def}) {
    if (m->storage()) mg.storage.push_back(m->storage());
  }
  mg.graph_def = graph_def.bytes();
  mg.has_object_graph = object_graph_def.present();
  mg.object_graph_def = object_graph_def.bytes();
  if (saver_def.present()) mg.saver = parse_saver(saver_def.bytes());
  std::vector<AssetFile> packed_assets;
  for (const auto& [key, value] : collections) parse_collection(key, value.bytes(), &mg, &packed_assets);
  // As TensorFlow's loader: asset_file_def, else the TF1 collection.
  if (mg.assets.empty()) mg.assets = std::move(packed_assets);
  for (auto& [key, sig] : signatures) mg.signatures.push_back(std::move(sig));  // sorted by key
  return mg;
}

SavedModelProto parse_saved_model(std::string_view bytes) {
  SavedModelProto sm;
  Reader r(bytes, "SavedModel");
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::SavedModel::kSavedModelSchemaVersion && is_varint(f)) {
      sm.schema_version = static_cast<int64_t>(f.value);
    }
    if (f.number == pb::SavedModel::kMetaGraphs && is_bytes(f)) {
      sm.meta_graphs.push_back(parse_meta_graph(f.bytes));
    }
  }
  return sm;
}

std::vector<std::string> MetaGraph::serving_roots() const {
  std::vector<std::string> roots;
  auto add = [&](std::string_view tensor) {  // "^a" / "a:1" / "a" -> "a"
    if (!tensor.empty() && tensor[0] == '^') tensor.remove_prefix(1);
    roots.emplace_back(tensor.substr(0, tensor.find(':')));
  };
  for (const auto& sig : signatures) {
    for (const auto* infos : {&sig.inputs, &sig.outputs}) {
      for (const auto& [key, info] : *infos) {
        add(info.name);
        for (const std::string* n : {&info.coo_values, &info.coo_indices, &info.coo_dense_shape}) {
          if (!n->empty()) add(*n);
        }
        for (const auto& c : info.components) add(c.name);
      }
    }
  }
  const std::string init = init_op_name();
  if (!init.empty()) add(init);
  return roots;
}

std::string MetaGraph::init_op_name() const {
  constexpr std::string_view kInitKey = "__saved_model_init_op";
  if (const SignatureDef* init = signature(kInitKey)) {
    for (const auto& [key, info] : init->outputs) {
      if (key == kInitKey) return info.name;
    }
    return "";  // TensorFlow's loader fails: the init signature lacks its output
  }
  auto it = node_collections.find("saved_model_main_op");
  if (it == node_collections.end()) it = node_collections.find("legacy_init_op");
  if (it == node_collections.end() || it->second.size() != 1) return "";  // none, or the loader fails
  return it->second.front();
}

const SignatureDef* MetaGraph::signature(std::string_view key) const {
  for (const auto& s : signatures) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

SavedObjectGraphParts split_saved_object_graph(std::string_view bytes) {
  SavedObjectGraphParts out;
  wire::Reader r(bytes, "SavedObjectGraph");
  wire::Field f;
  while (r.next(&f)) {
    if (f.type != wire::kLengthDelimited) continue;
    if (f.number == pb::SavedObjectGraph::kNodes) out.nodes.push_back(f.bytes);
    if (f.number == pb::SavedObjectGraph::kConcreteFunctions) {
      std::string key;
      wire::MergedMessage value;
      wire::Reader e(f.bytes, "SavedObjectGraph.concrete_functions entry");
      wire::Field g;
      while (e.next(&g)) {
        if (g.type != wire::kLengthDelimited) continue;
        if (g.number == pb::MapEntry::kKey) key = std::string(g.bytes);
        if (g.number == pb::MapEntry::kValue) value.add(g.bytes);
      }
      out.concrete_functions[key] = value;
    }
  }
  return out;
}

ObjectReference parse_object_reference(std::string_view bytes) {
  namespace ref = pb::TrackableObjectGraph::TrackableObject::ObjectReference;
  ObjectReference out;
  wire::Reader r(bytes, "ObjectReference");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number == ref::kNodeId && f.type == wire::kVarint) out.node_id = static_cast<int32_t>(f.value);
    if (f.number == ref::kLocalName && f.type == wire::kLengthDelimited) out.local_name = f.bytes;
  }
  return out;
}

}  // namespace tfbundle
