// libFuzzer target: the SavedModel and MetaGraphDef decoders (cpp/saved_model.h) and what
// inspection decodes from them (cpp/inspect.h): signatures, assets, collections, the SaverDef, the
// op types of the GraphDef and its function library, the policy walk, the object graph's concrete
// functions, the saver's RestoreV2 nodes (cpp/mmap_restore.h).
//
// The input is a serialized SavedModel (saved_model.pb); the seeds are real ones.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "inspect.h"
#include "mmap_restore.h"
#include "saved_model.h"

namespace {

using tfbundle::fuzz::expect_ok_or_error;

void use_meta_graph(const tfbundle::MetaGraph& mg) {
  mg.init_op_name();
  mg.tag_string();
  for (const tfbundle::SignatureDef& s : mg.signatures) FUZZ_CHECK(mg.signature(s.key) != nullptr);
  if (mg.saver && !mg.graph_def.empty()) {
    expect_ok_or_error([&] { tfbundle::find_restore_nodes(mg.graph_def, mg.saver->restore_op_name); });
  }
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
    expect_ok_or_error([&] { tfbundle::graph_op_counts(graph_def); });
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
