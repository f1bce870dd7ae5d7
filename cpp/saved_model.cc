#include "saved_model.h"

#include <algorithm>

#include "proto_fields.h"
#include "status.h"
#include "wire.h"

namespace tfbundle {
namespace {

using wire::Field;
using wire::Reader;

std::string str(const Field& f) { return std::string(f.bytes); }

}  // namespace

TensorShape parse_tensor_shape(std::string_view bytes) {
  TensorShape shape;
  shape.unknown_rank = false;
  Reader r(bytes, "TensorShapeProto");
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::TensorShapeProto::kDim && f.type == wire::kLengthDelimited) {
      int64_t size = 0;
      Reader d(f.bytes, "TensorShapeProto.Dim");
      Field g;
      while (d.next(&g)) {
        if (g.number == pb::TensorShapeProto::Dim::kSize && g.type == wire::kVarint) size = static_cast<int64_t>(g.value);
      }
      shape.dims.push_back(size);
    } else if (f.number == pb::TensorShapeProto::kUnknownRank && f.type == wire::kVarint) {
      shape.unknown_rank = f.value != 0;
    }
  }
  if (shape.unknown_rank) shape.dims.clear();
  return shape;
}

namespace {

// Composite tensors nest TensorInfos; a crafted file could nest them deeply
// enough to overflow the stack, so the depth is bounded.
constexpr int kMaxTensorInfoDepth = 64;

TensorInfo parse_tensor_info(std::string_view bytes, int depth = 0) {
  if (depth > kMaxTensorInfoDepth) throw Error(kDataLoss, "TensorInfo is malformed: composite tensors nested too deeply");
  TensorInfo info;
  info.shape.unknown_rank = false;  // an absent TensorShapeProto is a scalar
  Reader r(bytes, "TensorInfo");
  Field f;
  while (r.next(&f)) {
    switch (f.number) {
      case pb::TensorInfo::kName: info.name = str(f); break;
      case pb::TensorInfo::kDtype: info.dtype = static_cast<int>(f.value); break;
      case pb::TensorInfo::kTensorShape: info.shape = parse_tensor_shape(f.bytes); break;
      case pb::TensorInfo::kCooSparse: {
        info.encoding = TensorInfo::Encoding::kCooSparse;
        Reader c(f.bytes, "TensorInfo.CooSparse");
        Field g;
        while (c.next(&g)) {
          if (g.number == pb::TensorInfo::CooSparse::kValuesTensorName) info.coo_values = str(g);
          if (g.number == pb::TensorInfo::CooSparse::kIndicesTensorName) info.coo_indices = str(g);
          if (g.number == pb::TensorInfo::CooSparse::kDenseShapeTensorName) info.coo_dense_shape = str(g);
        }
        break;
      }
      case pb::TensorInfo::kCompositeTensor: {
        info.encoding = TensorInfo::Encoding::kComposite;
        Reader c(f.bytes, "TensorInfo.CompositeTensor");
        Field g;
        while (c.next(&g)) {
          if (g.number == pb::TensorInfo::CompositeTensor::kComponents && g.type == wire::kLengthDelimited) {
            info.components.push_back(parse_tensor_info(g.bytes, depth + 1));
          }
        }
        break;
      }
      default: break;
    }
  }
  return info;
}

// A map<string, Message> entry.
template <typename Fn>
void parse_map_entry(std::string_view bytes, const char* what, Fn&& on_entry) {
  std::string key;
  std::string_view value;
  Reader r(bytes, what);
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::MapEntry::kKey && f.type == wire::kLengthDelimited) key = str(f);
    if (f.number == pb::MapEntry::kValue && f.type == wire::kLengthDelimited) value = f.bytes;
  }
  on_entry(std::move(key), value);
}

using NamedInfos = std::vector<std::pair<std::string, TensorInfo>>;

void sort_by_key(NamedInfos* v) {
  std::sort(v->begin(), v->end(), [](const auto& a, const auto& b) { return a.first < b.first; });
}

SignatureDef parse_signature(std::string key, std::string_view bytes) {
  SignatureDef sig;
  sig.key = std::move(key);
  Reader r(bytes, "SignatureDef");
  Field f;
  while (r.next(&f)) {
    if ((f.number == pb::SignatureDef::kInputs || f.number == pb::SignatureDef::kOutputs) && f.type == wire::kLengthDelimited) {
      NamedInfos* dst = f.number == pb::SignatureDef::kInputs ? &sig.inputs : &sig.outputs;
      parse_map_entry(f.bytes, "SignatureDef map entry", [&](std::string k, std::string_view v) {
        dst->emplace_back(std::move(k), parse_tensor_info(v));
      });
    } else if (f.number == pb::SignatureDef::kMethodName && f.type == wire::kLengthDelimited) {
      sig.method_name = str(f);
    }
  }
  sort_by_key(&sig.inputs);
  sort_by_key(&sig.outputs);
  return sig;
}

void parse_meta_info(std::string_view bytes, MetaGraph* mg) {
  Reader r(bytes, "MetaInfoDef");
  Field f;
  while (r.next(&f)) {
    switch (f.number) {
      case pb::MetaGraphDef::MetaInfoDef::kMetaGraphVersion: mg->meta_graph_version = str(f); break;
      case pb::MetaGraphDef::MetaInfoDef::kTags: mg->tags.push_back(str(f)); break;
      case pb::MetaGraphDef::MetaInfoDef::kTensorflowVersion: mg->tensorflow_version = str(f); break;
      case pb::MetaGraphDef::MetaInfoDef::kTensorflowGitVersion: mg->tensorflow_git_version = str(f); break;
      case pb::MetaGraphDef::MetaInfoDef::kStrippedDefaultAttrs: mg->stripped_default_attrs = f.value != 0; break;
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
      case pb::SaverDef::kFilenameTensorName: s.filename_tensor_name = str(f); break;
      case pb::SaverDef::kSaveTensorName: s.save_tensor_name = str(f); break;
      case pb::SaverDef::kRestoreOpName: s.restore_op_name = str(f); break;
      case pb::SaverDef::kSharded: s.sharded = f.value != 0; break;
      case pb::SaverDef::kVersion: s.version = static_cast<int>(f.value); break;
      default: break;
    }
  }
  return s;
}

AssetFile parse_asset(std::string_view bytes) {
  AssetFile a;
  Reader r(bytes, "AssetFileDef");
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::AssetFileDef::kTensorInfo && f.type == wire::kLengthDelimited) {
      a.tensor_name = parse_tensor_info(f.bytes).name;
    }
    if (f.number == pb::AssetFileDef::kFilename) a.filename = str(f);
  }
  return a;
}

// Reads the node_list collections, the initializers of the "local_variables"
// collection (a bytes_list of VariableDefs) and the AssetFileDefs of the
// "saved_model_assets" collection (an any_list) into `packed_assets`.
void parse_collection(std::string key, std::string_view bytes, MetaGraph* mg, std::vector<AssetFile>* packed_assets) {
  Reader r(bytes, "CollectionDef");
  Field f;
  while (r.next(&f)) {
    if (f.type != wire::kLengthDelimited) continue;
    if (f.number == pb::CollectionDef::kNodeList) {
      auto& names = mg->node_collections[key];
      Reader n(f.bytes, "CollectionDef.NodeList");
      Field g;
      while (n.next(&g)) {
        if (g.number == pb::CollectionDef::NodeList::kValue) names.push_back(str(g));
      }
    } else if (f.number == pb::CollectionDef::kBytesList && key == "local_variables") {
      Reader list(f.bytes, "CollectionDef.BytesList");
      Field g;
      while (list.next(&g)) {
        if (g.number != pb::CollectionDef::BytesList::kValue || g.type != wire::kLengthDelimited) continue;
        Reader var(g.bytes, "VariableDef");
        Field h;
        while (var.next(&h)) {
          if (h.number == pb::VariableDef::kInitializerName && h.type == wire::kLengthDelimited) {
            mg->local_variable_initializers.push_back(str(h));
            break;
          }
        }
      }
    } else if (f.number == pb::CollectionDef::kAnyList && key == "saved_model_assets") {
      Reader list(f.bytes, "CollectionDef.AnyList");
      Field g;
      while (list.next(&g)) {
        if (g.number != pb::CollectionDef::AnyList::kValue || g.type != wire::kLengthDelimited) continue;
        Reader any(g.bytes, "Any");
        Field h;
        while (any.next(&h)) {
          if (h.number == pb::protobuf::Any::kValue && h.type == wire::kLengthDelimited) {
            packed_assets->push_back(parse_asset(h.bytes));
          }
        }
      }
    }
  }
}

void count_node_ops(std::string_view node_def, std::map<std::string, int64_t>* counts) {
  Reader r(node_def, "NodeDef");
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::NodeDef::kOp && f.type == wire::kLengthDelimited) ++(*counts)[str(f)];
  }
}

}  // namespace

MetaGraph parse_meta_graph(std::string_view bytes) {
  MetaGraph mg;
  std::vector<AssetFile> packed_assets;
  Reader r(bytes, "MetaGraphDef");
  Field f;
  while (r.next(&f)) {
    if (f.type != wire::kLengthDelimited) continue;
    switch (f.number) {
      case pb::MetaGraphDef::kMetaInfoDef: parse_meta_info(f.bytes, &mg); break;
      case pb::MetaGraphDef::kGraphDef: mg.graph_def = f.bytes; break;
      case pb::MetaGraphDef::kSaverDef: mg.saver = parse_saver(f.bytes); break;
      case pb::MetaGraphDef::kCollectionDef:
        parse_map_entry(f.bytes, "MetaGraphDef.collection_def entry",
                        [&](std::string k, std::string_view v) { parse_collection(std::move(k), v, &mg, &packed_assets); });
        break;
      case pb::MetaGraphDef::kSignatureDef:
        parse_map_entry(f.bytes, "MetaGraphDef.signature_def entry", [&](std::string k, std::string_view v) {
          mg.signatures.push_back(parse_signature(std::move(k), v));
        });
        break;
      case pb::MetaGraphDef::kAssetFileDef: mg.assets.push_back(parse_asset(f.bytes)); break;
      case pb::MetaGraphDef::kObjectGraphDef:
        mg.has_object_graph = true;
        mg.object_graph_def = f.bytes;
        break;
      default: break;
    }
  }
  if (mg.assets.empty()) mg.assets = std::move(packed_assets);
  std::sort(mg.signatures.begin(), mg.signatures.end(),
            [](const SignatureDef& a, const SignatureDef& b) { return a.key < b.key; });
  return mg;
}

SavedModelProto parse_saved_model(std::string_view bytes) {
  SavedModelProto sm;
  Reader r(bytes, "SavedModel");
  Field f;
  while (r.next(&f)) {
    if (f.number == pb::SavedModel::kSavedModelSchemaVersion && f.type == wire::kVarint) {
      sm.schema_version = static_cast<int64_t>(f.value);
    }
    if (f.number == pb::SavedModel::kMetaGraphs && f.type == wire::kLengthDelimited) {
      sm.meta_graphs.push_back(parse_meta_graph(f.bytes));
    }
  }
  return sm;
}

std::string MetaGraph::init_op_name() const {
  if (const SignatureDef* init = signature("__saved_model_init_op")) {
    for (const auto& [key, info] : init->outputs) {
      if (key == "__saved_model_init_op") return info.name;
    }
  }
  for (const char* key : {"saved_model_main_op", "legacy_init_op"}) {
    auto it = node_collections.find(key);
    if (it != node_collections.end() && !it->second.empty()) return it->second.front();
  }
  return "";
}

const SignatureDef* MetaGraph::signature(std::string_view key) const {
  for (const auto& s : signatures) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

std::string MetaGraph::tag_string() const {
  std::string out;
  for (const auto& t : tags) out += (out.empty() ? "" : ",") + t;
  return out;
}

std::map<std::string, int64_t> graph_op_counts(std::string_view graph_def) {
  std::map<std::string, int64_t> counts;
  Reader r(graph_def, "GraphDef");
  Field f;
  while (r.next(&f)) {
    if (f.type != wire::kLengthDelimited) continue;
    if (f.number == pb::GraphDef::kNode) {
      count_node_ops(f.bytes, &counts);
    } else if (f.number == pb::GraphDef::kLibrary) {
      Reader lib(f.bytes, "FunctionDefLibrary");
      Field g;
      while (lib.next(&g)) {
        if (g.number != pb::FunctionDefLibrary::kFunction || g.type != wire::kLengthDelimited) continue;
        Reader fn(g.bytes, "FunctionDef");
        Field h;
        while (fn.next(&h)) {
          if (h.number == pb::FunctionDef::kNodeDef && h.type == wire::kLengthDelimited) count_node_ops(h.bytes, &counts);
        }
      }
    }
  }
  return counts;
}

namespace {

// A tokenizer for protobuf text format, enough to walk nested messages.
class TextScanner {
 public:
  explicit TextScanner(std::string_view t) : t_(t) {}
  // Returns false at the end. Kinds: 'i' identifier, 's' string, or the
  // punctuation character itself ('{', '}', ':', '[', ']', ',', ';').
  bool next(char* kind, std::string* value) {
    skip_space();
    if (i_ >= t_.size()) return false;
    const char c = t_[i_];
    if (c == '"' || c == '\'') {
      *kind = 's';
      *value = read_string(c);
      return true;
    }
    if (c == '<') { ++i_; *kind = '{'; return true; }
    if (c == '>') { ++i_; *kind = '}'; return true; }
    if (c == '{' || c == '}' || c == ':' || c == '[' || c == ']' || c == ',' || c == ';') {
      ++i_;
      *kind = c;
      return true;
    }
    size_t j = i_;
    while (j < t_.size() && !isspace(static_cast<unsigned char>(t_[j])) &&
           std::string_view("{}<>:[],;\"'#").find(t_[j]) == std::string_view::npos)
      ++j;
    if (j == i_) throw Error(kDataLoss, "saved_model.pbtxt is malformed near offset " + std::to_string(i_));
    *kind = 'i';
    *value = std::string(t_.substr(i_, j - i_));
    i_ = j;
    return true;
  }

 private:
  void skip_space() {
    while (i_ < t_.size()) {
      if (t_[i_] == '#') {
        while (i_ < t_.size() && t_[i_] != '\n') ++i_;
      } else if (isspace(static_cast<unsigned char>(t_[i_]))) {
        ++i_;
      } else {
        break;
      }
    }
  }
  std::string read_string(char quote) {
    std::string out;
    ++i_;
    while (i_ < t_.size() && t_[i_] != quote) {
      if (t_[i_] == '\\' && i_ + 1 < t_.size()) {
        out.push_back(t_[i_ + 1]);  // tags are plain words; escapes are kept literally
        i_ += 2;
      } else {
        out.push_back(t_[i_++]);
      }
    }
    if (i_ >= t_.size()) throw Error(kDataLoss, "saved_model.pbtxt is malformed: unterminated string");
    ++i_;
    return out;
  }
  std::string_view t_;
  size_t i_ = 0;
};

}  // namespace

std::vector<std::vector<std::string>> pbtxt_tag_sets(std::string_view text) {
  std::vector<std::vector<std::string>> sets;
  std::vector<std::string> path;  // names of the open messages
  std::string field;
  TextScanner scan(text);
  char kind;
  std::string value;
  while (scan.next(&kind, &value)) {
    switch (kind) {
      case 'i': field = value; break;
      case '{':
        path.push_back(field);
        if (path.size() == 1 && field == "meta_graphs") sets.emplace_back();
        if (path.size() > 64) throw Error(kDataLoss, "saved_model.pbtxt is malformed: nested too deeply");
        break;
      case '}':
        if (path.empty()) throw Error(kDataLoss, "saved_model.pbtxt is malformed: unbalanced '}'");
        path.pop_back();
        break;
      case 's':
        if (path.size() == 2 && path[0] == "meta_graphs" && path[1] == "meta_info_def" && field == "tags" &&
            !sets.empty())
          sets.back().push_back(value);
        break;
      default: break;
    }
  }
  if (!path.empty()) throw Error(kDataLoss, "saved_model.pbtxt is malformed: unbalanced '{'");
  return sets;
}

}  // namespace tfbundle
