// libFuzzer target: the protocol-buffer text-format parser (cpp/text_format.h) with the
// tensorflow.SavedModel schema, as tfbundle reads saved_model.pbtxt, then the SavedModel decoders
// on what it produced; and, for some inputs, the same text as saved_model.pbtxt of a folder
// (saved_model_tag_sets of cpp/model_files.h, read_saved_model_bytes of cpp/inspect.h), whose
// tag-sets must be those of the parsed MetaGraphDefs.
//
// The input is a saved_model.pbtxt; the seeds are real ones, the dictionary holds the syntax.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crc32c.h"
#include "fuzz_common.h"
#include "inspect.h"
#include "model_files.h"
#include "saved_model.h"
#include "text_format.h"
#include "wire.h"

namespace {

using tfbundle::fuzz::expect_ok_or_error;

// The text as saved_model.pbtxt of a folder. Writing files is slow, so only inputs whose CRC-32C
// is a multiple of 8 take this path (deterministically, so that crashes reproduce).
void read_folder(std::string_view text, const tfbundle::SavedModelContents* parsed) {
  if (tfbundle::crc32c::value(text.data(), text.size()) % 8 != 0) return;
  static tfbundle::fuzz::TempFolder folder;
  if (!folder.write("saved_model.pbtxt", text)) return;
  std::vector<std::vector<std::string>> tag_sets;
  const bool ok = expect_ok_or_error([&] { tag_sets = tfbundle::saved_model_tag_sets(folder.path()); });
  if (parsed != nullptr) {
    // The tag-sets a load chooses from are those of the MetaGraphDefs it then reads.
    FUZZ_CHECK(ok && tag_sets.size() == parsed->meta_graphs.size());
    for (size_t i = 0; i < tag_sets.size(); ++i) FUZZ_CHECK(tag_sets[i] == parsed->meta_graphs[i].meta_graph.tags);
  }
  expect_ok_or_error([&] { tfbundle::read_saved_model_bytes(folder.path()); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);

  std::string binary;
  if (!expect_ok_or_error([&] { binary = tfbundle::text_to_binary(text, "tensorflow.SavedModel", "saved_model.pbtxt"); })) {
    read_folder(text, nullptr);
    return 0;
  }
  // The encoder writes well-formed wire format: the top level reads without an error.
  {
    tfbundle::wire::Reader r(binary, "text_to_binary output");
    tfbundle::wire::Field f;
    while (r.next(&f)) {
    }
  }
  tfbundle::SavedModelContents contents;
  if (!expect_ok_or_error([&] { contents = tfbundle::parse_saved_model_contents(binary, "saved_model.pbtxt"); })) {
    read_folder(text, nullptr);
    return 0;
  }
  read_folder(text, &contents);
  for (const tfbundle::MetaGraphEntry& e : contents.meta_graphs) {
    expect_ok_or_error([&] { tfbundle::graph_ops(e.meta_graph.graph_def, &e.meta_graph); });
  }
  expect_ok_or_error([&] { tfbundle::list_concrete_functions(contents); });
  return 0;
}
