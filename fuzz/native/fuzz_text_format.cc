// libFuzzer target: the protocol-buffer text-format parser (cpp/text_format.h) with the
// tensorflow.SavedModel schema, as `tfbundle show` reads saved_model.pbtxt, then the SavedModel
// decoders on what it produced; and the light tag-set scanner of saved_model.pbtxt
// (pbtxt_tag_sets in cpp/saved_model.h), which must agree with the full parser.
//
// The input is a saved_model.pbtxt; the seeds are real ones, the dictionary holds the syntax.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "inspect.h"
#include "saved_model.h"
#include "text_format.h"
#include "wire.h"

namespace {

using tfbundle::fuzz::expect_ok_or_error;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);

  std::vector<std::vector<std::string>> scanned;
  const bool scanned_ok = expect_ok_or_error([&] { scanned = tfbundle::pbtxt_tag_sets(text); });

  std::string binary;
  if (!expect_ok_or_error([&] { binary = tfbundle::text_to_binary(text, "tensorflow.SavedModel", "saved_model.pbtxt"); })) {
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
    return 0;
  }
  for (const tfbundle::MetaGraphEntry& e : contents.meta_graphs) {
    expect_ok_or_error([&] { tfbundle::graph_ops(e.meta_graph.graph_def, &e.meta_graph); });
  }
  expect_ok_or_error([&] { tfbundle::list_concrete_functions(contents); });
  // `tfbundle show` lists tag-sets with the scanner and loads with the parser: they must agree
  // (the scanner keeps escapes literally, so text with backslashes is left out).
  if (scanned_ok && text.find('\\') == std::string_view::npos) {
    FUZZ_CHECK(scanned.size() == contents.meta_graphs.size());
    for (size_t i = 0; i < scanned.size(); ++i) FUZZ_CHECK(scanned[i] == contents.meta_graphs[i].meta_graph.tags);
  }
  return 0;
}
