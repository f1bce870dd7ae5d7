// libFuzzer target: the SavedModel and MetaGraphDef decoders (cpp/saved_model.h) and what
// inspection decodes from them (cpp/inspect.h): signatures, assets, collections, the SaverDef, the
// op types of the GraphDef and its function library, the policy walk, the object graph's concrete
// functions, the saver's RestoreV2 nodes (cpp/mmap_restore.h), the load plan (cpp/session.h), the
// TF2 restore plan (cpp/tf2_restore.h); and,
// for some inputs, the same bytes as the files of a SavedModel folder (cpp/model_files.h and
// cpp/inspect.h read saved_model.pb and fingerprint.pb by path).
//
// The input is a serialized SavedModel (saved_model.pb); the seeds are real ones.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "crc32c.h"
#include "graph_prune.h"
#include "graph_view.h"
#include "inspect.h"
#include "mmap_restore.h"
#include "model_files.h"
#include "saved_model.h"
#include "session.h"
#include "tensor_bundle.h"
#include "tf2_restore.h"

namespace {

using tfbundle::fuzz::expect_ok_or_error;

void use_meta_graph(const tfbundle::MetaGraph& mg) {
  mg.init_op_name();
  for (const tfbundle::SignatureDef& s : mg.signatures) FUZZ_CHECK(mg.signature(s.key) != nullptr);
  tfbundle::LoadRequest request;  // a serialized MetaGraphDef with no checkpoint: reads no file
  request.restore = tfbundle::RestoreMode::kGraph;
  request.init_local_variables = true;
  const tfbundle::LoadPlan plan = tfbundle::plan_load(mg, request);
  FUZZ_CHECK(plan.checkpoint_prefix.empty() && plan.asset_feeds.size() <= mg.assets.size());
  if (mg.saver && !mg.graph_def.empty()) {
    expect_ok_or_error([&] { tfbundle::find_restore_nodes(mg.graph_def, mg.saver->restore_op_name); });
  }
  // Where a TF2 restore takes each variable from; the input's own object graph stands in for the
  // checkpoint's (the same message shape: nodes of children by node id and local name).
  expect_ok_or_error([&] {
    const tfbundle::Tf2RestorePlan plan =
        tfbundle::plan_tf2_restore(mg, [&] { return tfbundle::parse_object_graph(mg.object_graph_def); });
    std::vector<tfbundle::VariableSource> all = plan.from_restore_function;
    for (const auto& v : plan.from_object_graph) FUZZ_CHECK(!v.key.empty() && v.used);
    for (const auto& v : plan.unrestorable) FUZZ_CHECK(v.key.empty() && v.used);
    all.insert(all.end(), plan.from_object_graph.begin(), plan.from_object_graph.end());
    for (const auto& v : all) FUZZ_CHECK(!v.handle.empty() && !v.what.empty() && plan.tf2);
    tfbundle::mark_sparse_variables(mg, &all);
  });
  // The graph the mapped restore imports: the saver's calls dropped. A pruned graph is itself a
  // well-formed GraphDef that has nothing more to drop.
  if (mg.saver && !mg.graph_def.empty()) {
    expect_ok_or_error([&] {
      const std::string_view save = tfbundle::input_node(mg.saver->save_tensor_name);
      const std::string_view restore = tfbundle::input_node(mg.saver->restore_op_name);
      const tfbundle::PrunedGraph pruned = tfbundle::prune_graph_def(mg.graph_def, {std::string(save), std::string(restore)});
      if (!pruned.graph_def.empty()) {
        const tfbundle::PrunedGraph again = tfbundle::prune_graph_def(pruned.graph_def, {std::string(save), std::string(restore)});
        FUZZ_CHECK(again.dropped_nodes == 0);
      }
    });
  }
}

// The input as saved_model.pb and fingerprint.pb of a folder. Writing files is slow, so only
// inputs whose CRC-32C is a multiple of 8 take this path (deterministically: crashes reproduce).
void read_folder(std::string_view data) {
  if (tfbundle::crc32c::value(data.data(), data.size()) % 8 != 0) return;
  static tfbundle::fuzz::TempFolder folder;
  if (!folder.write("saved_model.pb", data) || !folder.write("fingerprint.pb", data)) return;
  const std::string& dir = folder.path();
  expect_ok_or_error([&] {
    const tfbundle::SavedModelBytes bytes = tfbundle::read_saved_model_bytes(dir);
    FUZZ_CHECK(bytes.format == "pb" && bytes.bytes() == data);
  });
  std::vector<std::vector<std::string>> tag_sets;
  expect_ok_or_error([&] { tag_sets = tfbundle::saved_model_tag_sets(dir); });
  for (const auto& tags : tag_sets) {
    expect_ok_or_error([&] { use_meta_graph(tfbundle::parse_meta_graph(tfbundle::meta_graph_bytes(dir, tags))); });
  }
  expect_ok_or_error([&] { tfbundle::read_fingerprint(dir); });
  expect_ok_or_error([&] { tfbundle::summarize_variables(dir); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);

  tfbundle::SavedModelProto proto;
  const bool proto_ok = expect_ok_or_error([&] { proto = tfbundle::parse_saved_model(data); });
  if (proto_ok) {
    for (const tfbundle::MetaGraph& mg : proto.meta_graphs) use_meta_graph(mg);
  }

  // The input read as one MetaGraphDef, as the loaders read meta_graph_bytes().
  expect_ok_or_error([&] { use_meta_graph(tfbundle::parse_meta_graph(data)); });

  read_folder(data);

  tfbundle::SavedModelContents contents;
  if (!expect_ok_or_error([&] { contents = tfbundle::parse_saved_model_contents(data, "saved_model.pb"); })) {
    return 0;
  }
  // Both decoders of the SavedModel proto read the same bytes alike.
  FUZZ_CHECK(proto_ok);
  FUZZ_CHECK(contents.schema_version == proto.schema_version);
  FUZZ_CHECK(contents.meta_graphs.size() == proto.meta_graphs.size());
  for (const tfbundle::MetaGraphEntry& e : contents.meta_graphs) {
    const std::string_view graph_def = e.meta_graph.graph_def;
    expect_ok_or_error([&] { tfbundle::graph_ops(graph_def, &e.meta_graph); });
  }
  expect_ok_or_error([&] {
    const tfbundle::FunctionListing listing = tfbundle::list_concrete_functions(contents);
    for (const tfbundle::RootFunction& fn : listing.functions) {
      for (const tfbundle::ConcreteFunctionEntry& c : fn.concrete_functions) {
        tfbundle::clean_function_name(c.name);
        c.input_signature.decodable();
      }
    }
  });
  return 0;
}
