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

enum class CheckpointFormat {
  kNone,  // no checkpoint at the prefix
  kV1,    // the file PREFIX, or shards PREFIX-00000-of-00002 (written before TensorBundle)
  kV2,    // a TensorBundle: PREFIX.index and PREFIX.data-*
};

// The format of the checkpoint at `prefix`, from the files there.
CheckpointFormat checkpoint_format(const std::string& prefix);

// What to feed a SaverDef's filename tensor to restore the checkpoint at
// `prefix`: the prefix itself, or for V1 shards their file pattern
// (PREFIX-?????-of-?????), which the V1 restore ops expand.
std::string saver_restore_path(const std::string& prefix);

}  // namespace tfbundle
