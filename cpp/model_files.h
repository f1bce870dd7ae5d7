// The files of a SavedModel folder, read without TensorFlow.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "saved_model.h"

namespace tfbundle {

bool is_file(const std::string& path);

// The whole file; NOT_FOUND / DATA_LOSS naming the path on failure.
std::string read_file(const std::string& path);

// The tag-sets of the SavedModel in `export_dir` (saved_model.pb, else
// saved_model.pbtxt), in file order. Throws NOT_FOUND when neither exists and
// UNIMPLEMENTED for a folder holding only the chunked saved_model.cpb.
std::vector<std::vector<std::string>> saved_model_tag_sets(const std::string& export_dir);

// The serialized MetaGraphDef of saved_model.pb whose tag-set equals `tags`
// (as a set). Throws NOT_FOUND listing the tag-sets present.
std::string meta_graph_bytes(const std::string& export_dir, const std::vector<std::string>& tags);

// The asset files of a serialized MetaGraphDef: its asset_file_def field, or,
// where that is empty (TF1 SavedModelBuilder exports), the AssetFileDefs packed
// as Any in the "saved_model_assets" collection, as TensorFlow's loader reads them.
std::vector<AssetFile> meta_graph_assets(std::string_view meta_graph_bytes);

}  // namespace tfbundle
