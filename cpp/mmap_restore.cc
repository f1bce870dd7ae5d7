#include "mmap_restore.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "graph_view.h"
#include "mapping_guard.h"
#include "proto_fields.h"
#include "status.h"
#include "tensor.h"
#include "tensor_bundle.h"
#include "wire.h"

namespace tfbundle {
namespace {

// A private, writable (copy-on-write) mapping of one data shard. Writable so
// that an op updating a restored variable in place (AssignAddVariableOp on a
// buffer it owns alone) writes to its own private copy of the page instead of
// faulting on a read-only one; untouched pages stay shared page-cache pages.
class PrivateMapping {
 public:
  // Null when `path` is no longer the file `checked` maps (replaced since the reader checked it).
  static std::shared_ptr<PrivateMapping> open(const std::string& path, const MappedFile& checked) {
    size_t size = 0;
    const int fd = open_regular_file(path, &size);  // a FIFO in place of a shard is refused, never waited on
    if (!checked.same_file(fd)) {
      ::close(fd);
      return nullptr;
    }
    auto m = std::shared_ptr<PrivateMapping>(new PrivateMapping());
    m->size_ = size;
    if (m->size_ > 0) {
      void* p = ::mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw Error(kResourceExhausted, "cannot map " + path + ": " + std::strerror(err));
      }
      m->data_ = static_cast<char*>(p);
      // The file rewritten in place later must not change or kill the model (mapping_guard.h).
      m->guarded_ = protect_mapping(fd, p, m->size_);
    }
    if (!m->guarded_) ::close(fd);
    return m;
  }
  ~PrivateMapping() {
    if (guarded_) release_mapping_guard(data_);
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  PrivateMapping() = default;
  char* data_ = nullptr;
  size_t size_ = 0;
  bool guarded_ = false;  // a lease guards it, and the guard owns the fd
};

void release_mapping(void* ctx) { delete static_cast<std::shared_ptr<PrivateMapping>*>(ctx); }

// "op", "op:2" -> (op, index); control inputs ("^op") -> index -1 (split_tensor_name).
std::pair<std::string, int> split_input(const std::string& input) {
  std::string_view op;
  int index;
  split_tensor_name(input, &op, &index);
  return {std::string(op), index};
}

TF_Output graph_output(TF_Graph* graph, const std::string& tensor) {
  const auto [op_name, index] = split_input(tensor);
  TF_Operation* op = tf_api().GraphOperationByName(graph, op_name.c_str());
  if (op == nullptr || index < 0 || index >= tf_api().OperationNumOutputs(op)) {
    throw Error(kNotFound, "the graph has no tensor '" + tensor + "'");
  }
  return TF_Output{op, index};
}

TF_Operation* graph_operation(TF_Graph* graph, const std::string& name) {
  const std::string op_name = split_input(name).first;  // "^op", "op:1" -> "op"
  TF_Operation* op = tf_api().GraphOperationByName(graph, op_name.c_str());
  if (op == nullptr) throw Error(kNotFound, "the graph has no operation named '" + op_name + "'");
  return op;
}

std::vector<TensorPtr> run(TF_Session* session, const std::vector<TF_Output>& feeds,
                           const std::vector<TF_Tensor*>& values, const std::vector<TF_Output>& fetches,
                           const std::vector<TF_Operation*>& targets) {
  std::vector<TF_Tensor*> out(fetches.size(), nullptr);
  TfStatus status;
  tf_api().SessionRun(session, nullptr, feeds.data(), values.data(), static_cast<int>(feeds.size()), fetches.data(),
                      out.data(), static_cast<int>(fetches.size()), targets.data(), static_cast<int>(targets.size()),
                      nullptr, status);
  std::vector<TensorPtr> result;
  for (TF_Tensor* t : out) result.emplace_back(t);
  status.throw_if_error();
  return result;
}

std::string name_scope(const std::string& op_name) {
  const size_t slash = op_name.rfind('/');
  return slash == std::string::npos ? std::string() : op_name.substr(0, slash + 1);
}

struct GraphNode {
  std::string name, op;
  std::vector<std::string> inputs;
  std::string_view bytes;  // the NodeDef, in the GraphDef's bytes
};

std::vector<GraphNode> graph_nodes(std::string_view graph_def) {
  std::vector<GraphNode> nodes;
  wire::Reader graph(graph_def, "GraphDef");
  wire::Field f;
  while (graph.next(&f)) {
    if (f.number != pb::GraphDef::kNode || f.type != wire::kLengthDelimited) continue;
    wire::Reader node(f.bytes, "NodeDef");
    wire::Field g;
    GraphNode n;
    n.bytes = f.bytes;
    while (node.next(&g)) {
      if (g.type != wire::kLengthDelimited) continue;
      if (g.number == pb::NodeDef::kName) n.name.assign(g.bytes);
      else if (g.number == pb::NodeDef::kOp) n.op.assign(g.bytes);
      else if (g.number == pb::NodeDef::kInput) n.inputs.emplace_back(g.bytes);
    }
    nodes.push_back(std::move(n));
  }
  return nodes;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// The RestoreV2 outputs ("node", index) that are assigned to resource
// variables which the graph reads or updates sparsely (ResourceGather,
// ResourceScatter*, ResourceSparseApply*). Those kernels copy a variable whose
// buffer TensorFlow does not own (EnsureSparseVariableAccess), so feeding them
// zero-copy would only leave the mapped pages resident beside the copy.
std::set<std::pair<std::string, int>> sparse_restore_outputs(const std::vector<GraphNode>& nodes) {
  std::set<std::string> sparse_handles;
  std::map<std::string, const GraphNode*> by_name;
  for (const GraphNode& n : nodes) {
    by_name[n.name] = &n;
    if (!n.inputs.empty() && (starts_with(n.op, "ResourceGather") || starts_with(n.op, "ResourceScatter") ||
                              starts_with(n.op, "ResourceSparseApply"))) {
      sparse_handles.insert(split_input(n.inputs[0]).first);
    }
  }
  std::set<std::pair<std::string, int>> out;
  if (sparse_handles.empty()) return out;
  for (const GraphNode& n : nodes) {
    if (n.op != "AssignVariableOp" || n.inputs.size() < 2) continue;
    if (sparse_handles.count(split_input(n.inputs[0]).first) == 0) continue;
    std::pair<std::string, int> value = split_input(n.inputs[1]);
    for (int hops = 0; hops < 16 && value.second >= 0; ++hops) {  // through Identity nodes
      auto it = by_name.find(value.first);
      if (it == by_name.end()) break;
      if (it->second->op == "RestoreV2") {
        out.insert(value);
        break;
      }
      if (it->second->op != "Identity" || it->second->inputs.empty()) break;
      value = split_input(it->second->inputs[0]);
    }
  }
  return out;
}

// The stored slice of the partitioned tensor `full` that RestoreV2's
// shape_and_slices `spec` asks for ("8 4 0,4:-": the full shape, then start,length
// or "-" per dimension), or nullptr when no stored slice has exactly those
// extents (the checkpoint was partitioned differently) or the spec is malformed.
const BundleEntry* stored_slice(const BundleReader& reader, const BundleEntry& full, std::string_view spec) {
  if (!full.partitioned()) return nullptr;
  std::vector<std::string> tokens;
  size_t pos = 0;
  while (pos < spec.size()) {
    const size_t end = std::min(spec.find(' ', pos), spec.size());
    if (end > pos) tokens.emplace_back(spec.substr(pos, end - pos));
    pos = end + 1;
  }
  const size_t rank = full.shape.size();
  if (tokens.size() != rank + 1) return nullptr;
  std::vector<SliceExtent> want;
  try {
    for (size_t d = 0; d < rank; ++d) {
      if (std::stoll(tokens[d]) != full.shape[d]) return nullptr;
    }
    const std::string& ext = tokens[rank];
    size_t p = 0;
    for (size_t d = 0; d < rank; ++d) {
      const size_t end = std::min(ext.find(':', p), ext.size());
      const std::string one = ext.substr(p, end - p);
      p = end + 1;
      if (one == "-") {
        want.push_back(SliceExtent{0, full.shape[d]});
        continue;
      }
      const size_t comma = one.find(',');
      if (comma == std::string::npos) return nullptr;
      want.push_back(SliceExtent{std::stoll(one.substr(0, comma)), std::stoll(one.substr(comma + 1))});
    }
    if (p < ext.size()) return nullptr;
  } catch (const std::exception&) {  // std::stoll on a malformed number
    return nullptr;
  }
  for (const SlicePart& part : reader.slice_parts(full)) {
    bool same = part.extents.size() == want.size();
    for (size_t d = 0; same && d < want.size(); ++d) {
      same = part.extents[d].start == want[d].start && part.extents[d].length == want[d].length;
    }
    if (same) return part.entry;
  }
  return nullptr;
}

// The tensors of one checkpoint, made for a restore: over a private mapping of the shards (no
// copy) where the caller allows it and the bytes are 64-byte-aligned and in this machine's byte
// order, else read into TensorFlow's own memory. Counts what it does in `stats`.
class ShardTensors {
 public:
  ShardTensors(std::shared_ptr<BundleReader> reader, MappedRestoreStats* stats)
      : reader_(std::move(reader)), swap_(reader_->needs_byte_swap()), stats_(stats) {}

  // `sparse`: the graph gathers from the variable (copied, see sparse_restore_outputs).
  TensorPtr make(const BundleEntry& entry, bool zero_copy, bool sparse) {
    TensorPtr value;
    stats_->tensors += 1;
    if (entry.dtype == pb::DT_STRING) {
      std::shared_ptr<const MappedFile> owner;
      const std::vector<std::string_view> elems = reader_->string_elements(entry, true, &owner);
      stats_->copied_tensors += 1;
      stats_->copied_bytes += entry.size;
      return make_string_tensor(entry.shape, elems);
    }
    const TensorBytes bytes = reader_->tensor_bytes(entry, true);  // bounds, sizes and CRC-32C checked
    if (bytes.size == 0) {
      stats_->copied_tensors += 1;
      return allocate_tensor(entry.dtype, entry.shape, 0);
    }
    const size_t offset = static_cast<size_t>(bytes.data - bytes.owner->data());
    // The address a tensor gets in a page-aligned mapping is 64-aligned exactly when its offset in
    // the file is. The shard is mapped again, privately: the very file whose bytes were just
    // checked; when its path names another file by now (replaced by a rename since the reader
    // read it), the tensor is copied from the checked bytes below.
    std::shared_ptr<PrivateMapping> mapping;
    const std::string path = reader_->shard_path(entry.shard_id);
    if (zero_copy && !swap_ && !sparse && offset % kTensorAlignment == 0 && replaced_.count(entry.shard_id) == 0) {
      mapping = mappings_[entry.shard_id];
      if (!mapping) mapping = mappings_[entry.shard_id] = PrivateMapping::open(path, *bytes.owner);
      if (!mapping) replaced_.insert(entry.shard_id);
    }
    if (mapping) {
      if (offset + bytes.size > mapping->size()) throw Error(kDataLoss, "the shard " + path + " changed while it was read");
      stats_->zero_copy_tensors += 1;
      stats_->zero_copy_bytes += static_cast<int64_t>(bytes.size);
      return wrap_tensor(entry.dtype, entry.shape, mapping->data() + offset, bytes.size, release_mapping,
                         new std::shared_ptr<PrivateMapping>(mapping));
    }
    // Copied from the bytes whose CRC-32C was just checked (they are in the page cache now).
    value = allocate_tensor(entry.dtype, entry.shape, bytes.size);
    char* out = static_cast<char*>(tf_api().TensorData(value.get()));
    std::memcpy(out, bytes.data, bytes.size);
    if (swap_) byte_swap_elements(out, bytes.size, entry.dtype);
    stats_->copied_tensors += 1;
    stats_->copied_bytes += static_cast<int64_t>(bytes.size);
    if (sparse && zero_copy) stats_->copied_sparse_bytes += static_cast<int64_t>(bytes.size);
    return value;
  }

  // A tensor stored partitioned (as slices), reassembled into TensorFlow's memory.
  TensorPtr assemble(const BundleEntry& full) {
    if (full.dtype == pb::DT_STRING) {
      throw Error(kUnimplemented, "the string tensor " + quote_key(full.key) + " is stored in slices");
    }
    const size_t item = tf_api().DataTypeSize(full.dtype);
    size_t total = item;
    for (int64_t d : full.shape) total *= static_cast<size_t>(d);
    TensorPtr value = allocate_tensor(full.dtype, full.shape, total);
    char* out = static_cast<char*>(tf_api().TensorData(value.get()));
    const size_t rank = full.shape.size();
    // Row-major strides of the full tensor, in bytes.
    std::vector<size_t> stride(rank, item);
    for (size_t d = rank; d-- > 1;) stride[d - 1] = stride[d] * static_cast<size_t>(full.shape[d]);
    for (const SlicePart& part : reader_->slice_parts(full)) {
      const TensorBytes bytes = reader_->tensor_bytes(*part.entry, true);  // CRC-32C checked
      const char* data = bytes.data;
      if (rank == 0) {
        std::memcpy(out, data, std::min(bytes.size, total));
        continue;
      }
      // Copy the slice's rows (its last dimension) to their places, odometer-style.
      const size_t row = static_cast<size_t>(part.extents[rank - 1].length) * item;
      if (row == 0) continue;
      std::vector<int64_t> at(rank, 0);
      for (size_t src = 0; src + row <= bytes.size; src += row) {
        size_t dst = static_cast<size_t>(part.extents[rank - 1].start) * item;
        for (size_t d = 0; d + 1 < rank; ++d) dst += static_cast<size_t>(part.extents[d].start + at[d]) * stride[d];
        std::memcpy(out + dst, data + src, row);
        for (size_t d = rank - 1; d-- > 0;) {
          if (++at[d] < part.extents[d].length) break;
          at[d] = 0;
        }
      }
    }
    if (swap_) byte_swap_elements(out, total, full.dtype);
    stats_->tensors += 1;
    stats_->copied_tensors += 1;
    stats_->copied_bytes += static_cast<int64_t>(total);
    return value;
  }

  const BundleReader& reader() const { return *reader_; }

 private:
  std::shared_ptr<BundleReader> reader_;
  bool swap_;
  MappedRestoreStats* stats_;
  std::map<int32_t, std::shared_ptr<PrivateMapping>> mappings_;  // the tensors keep what they use
  std::set<int32_t> replaced_;  // shards whose path names another file than the one checked
};

}  // namespace

namespace {

std::vector<RestoreNode> restore_nodes_of(const std::vector<GraphNode>& graph, const std::string& restore_op_name) {
  const std::string scope = name_scope(split_input(restore_op_name).first);  // "^save/restore_all" -> "save/"
  std::vector<RestoreNode> nodes;
  for (const GraphNode& n : graph) {
    if (n.op != "RestoreV2" || n.name.compare(0, scope.size(), scope) != 0) continue;
    const auto& inputs = n.inputs;
    if (inputs.size() < 3 || inputs[1].empty() || inputs[1][0] == '^' || inputs[2].empty() || inputs[2][0] == '^') {
      throw Error(kDataLoss, "the RestoreV2 node '" + n.name + "' does not have its three inputs");
    }
    nodes.push_back(RestoreNode{n.name, inputs[1], inputs[2]});
  }
  return nodes;
}

}  // namespace

std::vector<RestoreNode> find_restore_nodes(std::string_view graph_def, const std::string& restore_op_name) {
  return restore_nodes_of(graph_nodes(graph_def), restore_op_name);
}

MappedRestoreStats restore_from_mapped_shards(TF_Session* session, TF_Graph* graph, const MetaGraph& meta_graph,
                                              const std::shared_ptr<BundleReader>& reader) {
  const std::string& checkpoint_prefix = reader->prefix();
  const TfApi& api = tf_api();
  if (!meta_graph.saver.has_value() || meta_graph.saver->restore_op_name.empty()) {
    throw Error(kUnimplemented, "restore from mapped shards: the MetaGraph has no SaverDef restore op");
  }
  const SaverDef& saver = *meta_graph.saver;
  const std::vector<GraphNode> graph_def = graph_nodes(meta_graph.graph_def);  // walked once for both
  const std::vector<RestoreNode> nodes = restore_nodes_of(graph_def, saver.restore_op_name);
  const std::set<std::pair<std::string, int>> copy_outputs = sparse_restore_outputs(graph_def);
  if (nodes.empty()) {
    throw Error(kUnimplemented,
                "restore from mapped shards needs graph-level RestoreV2 ops (TF1 exports); this model's restore op '" +
                    saver.restore_op_name +
                    "' restores inside a function (a TF2 SavedModel): load it with TensorFlow's own restore");
  }

  // The names and slice specs each RestoreV2 reads: its two inputs, read from the GraphDef where
  // they are Const nodes with one string per output (as TensorFlow's savers write them), else
  // computed by a run of the graph (a run costs a graph optimization pass).
  std::map<std::string_view, const GraphNode*> by_name;
  for (const GraphNode& n : graph_def) by_name.emplace(n.name, &n);
  auto from_graph = [&](const std::string& input, size_t count) -> std::optional<std::vector<std::string_view>> {
    const InputRef ref = parse_input(input);
    if (ref.index != 0 || !ref.output.empty()) return std::nullopt;
    auto it = by_name.find(ref.node);
    if (it == by_name.end() || it->second->op != "Const") return std::nullopt;
    auto strings = const_strings(parse_node(it->second->bytes, true));
    if (!strings || strings->size() != count) return std::nullopt;
    return strings;
  };
  std::vector<std::vector<std::string_view>> names_of(nodes.size()), slices_of(nodes.size());
  std::vector<TF_Output> spec_fetches;
  std::vector<size_t> fetched;  // the nodes whose specs are fetched by a run
  for (size_t k = 0; k < nodes.size(); ++k) {
    const int outputs = api.OperationNumOutputs(graph_operation(graph, nodes[k].name));
    auto names = from_graph(nodes[k].tensor_names_input, static_cast<size_t>(outputs));
    auto slices = from_graph(nodes[k].shape_and_slices_input, static_cast<size_t>(outputs));
    if (names && slices) {
      names_of[k] = std::move(*names);
      slices_of[k] = std::move(*slices);
      continue;
    }
    fetched.push_back(k);
    spec_fetches.push_back(graph_output(graph, nodes[k].tensor_names_input));
    spec_fetches.push_back(graph_output(graph, nodes[k].shape_and_slices_input));
  }
  std::vector<TensorPtr> specs;  // owns what names_of / slices_of view for fetched nodes
  if (!spec_fetches.empty()) {
    try {
      specs = run(session, {}, {}, spec_fetches, {});
    } catch (const Error& e) {
      throw Error(e.code(), std::string("could not read the tensor names of the restore op: ") + e.what());
    }
    for (size_t i = 0; i < fetched.size(); ++i) {
      names_of[fetched[i]] = string_tensor_values(specs[2 * i].get());
      slices_of[fetched[i]] = string_tensor_values(specs[2 * i + 1].get());
    }
  }

  MappedRestoreStats stats;
  ShardTensors tensors(reader, &stats);
  std::vector<TF_Output> feeds;
  std::vector<TensorPtr> values;

  for (size_t k = 0; k < nodes.size(); ++k) {
    TF_Operation* op = graph_operation(graph, nodes[k].name);
    const std::vector<std::string_view>& names = names_of[k];
    const std::vector<std::string_view>& slices = slices_of[k];
    if (static_cast<int>(names.size()) != api.OperationNumOutputs(op) || slices.size() != names.size()) {
      throw Error(kInvalidArgument, "the RestoreV2 node '" + nodes[k].name + "' has " +
                                        std::to_string(api.OperationNumOutputs(op)) + " outputs for " +
                                        std::to_string(names.size()) + " tensor names");
    }
    // Each output's stored tensor: the entry itself, or for a slice of a
    // partitioned variable, the stored slice with exactly those extents.
    std::vector<const BundleEntry*> sources(names.size(), nullptr);
    bool all_found = true;
    for (size_t i = 0; i < names.size(); ++i) {
      const BundleEntry* entry = reader->index().find(names[i]);
      if (entry == nullptr) {
        throw Error(kNotFound, "the checkpoint " + checkpoint_prefix + " has no tensor " + quote_key(names[i]) +
                                   ", which the restore op '" + nodes[k].name + "' reads");
      }
      if (!slices[i].empty()) {
        entry = stored_slice(*reader, *entry, slices[i]);
        all_found = all_found && entry != nullptr;
      } else if (entry->partitioned()) {
        entry = nullptr;  // the whole of a partitioned variable: reassembled by TensorFlow
        all_found = false;
      }
      sources[i] = entry;
    }
    if (!all_found) {
      // RestoreV2 reads all its outputs or none: leave this one to TensorFlow.
      stats.tf_read_tensors += static_cast<int64_t>(names.size());
      continue;
    }
    for (size_t i = 0; i < names.size(); ++i) {
      const TF_Output out{op, static_cast<int>(i)};
      const BundleEntry* entry = sources[i];
      int want = api.OperationOutputType(out);
      if (want > 100) want -= 100;
      if (entry->dtype != want) {
        throw Error(kInvalidArgument, "the checkpoint tensor " + quote_key(names[i]) + " is " +
                                          dtype_name(entry->dtype) + " but the graph restores it as " +
                                          dtype_name(want));
      }
      const bool sparse = copy_outputs.count({nodes[k].name, static_cast<int>(i)}) > 0;
      feeds.push_back(out);
      values.push_back(tensors.make(*entry, true, sparse));
    }
  }

  if (stats.tf_read_tensors > 0) {
    // Some RestoreV2 still reads files itself: it needs the checkpoint prefix.
    feeds.push_back(graph_output(graph, saver.filename_tensor_name));
    values.push_back(make_string_tensor({}, {checkpoint_prefix}));
  }
  std::vector<TF_Tensor*> raw;
  for (const auto& v : values) raw.push_back(v.get());
  try {
    run(session, feeds, raw, {}, {graph_operation(graph, saver.restore_op_name)});
  } catch (const Error& e) {
    throw Error(e.code(), "could not restore the variables from " + checkpoint_prefix + ": " + e.what());
  }
  return stats;
}

MappedRestoreStats assign_from_checkpoint(TF_Session* session, TF_Graph* graph,
                                          const std::vector<VariableSource>& variables,
                                          const std::shared_ptr<BundleReader>& checkpoint, bool zero_copy) {
  const std::string& checkpoint_prefix = checkpoint->prefix();
  const TfApi& api = tf_api();
  MappedRestoreStats stats;
  if (variables.empty()) return stats;
  ShardTensors tensors(checkpoint, &stats);
  const BundleReader& reader = tensors.reader();
  std::vector<TF_Output> feeds;
  std::vector<TensorPtr> values;
  std::vector<TF_Operation*> assigns;
  // A name scope of its own, new on every restore of this graph.
  std::string scope = "tfbundle_restore";
  for (int n = 1; api.GraphOperationByName(graph, (scope + "/0/value").c_str()) != nullptr; ++n) {
    scope = "tfbundle_restore_" + std::to_string(n);
  }
  for (size_t i = 0; i < variables.size(); ++i) {
    const VariableSource& v = variables[i];
    const std::string named = "the variable " + v.what + " (checkpoint key " + quote_key(v.key) + ")";
    const BundleEntry* entry = reader.index().find(v.key);
    if (entry == nullptr) {
      throw Error(kNotFound, "the checkpoint " + checkpoint_prefix + " has no tensor for " + named);
    }
    if (!v.slice.empty()) {
      entry = stored_slice(reader, *entry, v.slice);
      if (entry == nullptr) {
        throw Error(kUnimplemented, named + " is restored from the slice \"" + v.slice +
                                        "\" of a partitioned tensor that the checkpoint does not store as such");
      }
    }
    if (v.dtype != 0 && entry->dtype != v.dtype) {
      throw Error(kInvalidArgument, "the checkpoint stores " + named + " as " + dtype_name(entry->dtype) +
                                        " but the graph's variable is " + dtype_name(v.dtype));
    }
    TF_Operation* handle = graph_operation(graph, v.handle);
    const std::string base = scope + "/" + std::to_string(i);
    TfStatus status;
    TF_OperationDescription* value = api.NewOperation(graph, "Placeholder", (base + "/value").c_str());
    api.SetAttrType(value, "dtype", entry->dtype);
    TF_Operation* placeholder = api.FinishOperation(value, status);
    status.throw_if_error("could not add the restore of " + named + " to the graph");
    TF_OperationDescription* assign = api.NewOperation(graph, "AssignVariableOp", (base + "/assign").c_str());
    api.AddInput(assign, TF_Output{handle, 0});
    api.AddInput(assign, TF_Output{placeholder, 0});
    api.SetAttrType(assign, "dtype", entry->dtype);
    TF_Operation* op = api.FinishOperation(assign, status);
    status.throw_if_error("could not add the restore of " + named + " to the graph");
    feeds.push_back(TF_Output{placeholder, 0});
    values.push_back(entry->partitioned() ? tensors.assemble(*entry) : tensors.make(*entry, zero_copy, v.sparse));
    assigns.push_back(op);
  }
  std::vector<TF_Tensor*> raw;
  for (const auto& v : values) raw.push_back(v.get());
  try {
    run(session, feeds, raw, {}, assigns);
  } catch (const Error& e) {
    throw Error(e.code(), "could not restore the variables from " + checkpoint_prefix + ": " + e.what());
  }
  return stats;
}

}  // namespace tfbundle
