// The files of a SavedModel folder, read without TensorFlow.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mapped_file.h"
#include "saved_model.h"

namespace tfbundle {

bool is_file(const std::string& path);
bool is_dir(const std::string& path);

// The whole file; NOT_FOUND / DATA_LOSS naming the path on failure.
std::string read_file(const std::string& path);

struct SavedModelBytes {
  std::string path;    // the file read: <dir>/saved_model.pb or <dir>/saved_model.pbtxt
  std::string format;  // "pb" or "pbtxt"
  std::shared_ptr<const MappedFile> mapped;  // saved_model.pb, memory-mapped
  std::string converted;                      // saved_model.pbtxt re-encoded (text_format.h)
  std::string_view bytes() const { return mapped ? mapped->view() : std::string_view(converted); }
};

// Reads saved_model.pb (preferred, as TensorFlow does) or saved_model.pbtxt in
// `export_dir`. Throws NOT_FOUND when there is neither, UNIMPLEMENTED when the
// folder holds only the chunked saved_model.cpb, DATA_LOSS for a malformed
// pbtxt, each naming the folder or file.
SavedModelBytes read_saved_model_bytes(const std::string& export_dir);

// The tag-sets of the SavedModel in `export_dir` (read_saved_model_bytes), in
// file order. Throws as read_saved_model_bytes does, and DATA_LOSS for a file
// holding no MetaGraphDef.
std::vector<std::vector<std::string>> saved_model_tag_sets(const std::string& export_dir);

// The serialized MetaGraphDef of the SavedModel in `export_dir`
// (read_saved_model_bytes) whose tag-set equals `tags` (as a set), copied out.
// Throws NOT_FOUND listing the tag-sets present.
std::string meta_graph_bytes(const std::string& export_dir, const std::vector<std::string>& tags);

// The first MetaGraphDef in the serialized SavedModel `saved_model` whose
// tag-set equals `tags` (as TensorFlow's loader chooses), a view into it.
// Throws NOT_FOUND naming `what` and listing the tag-sets present.
std::string_view find_meta_graph(std::string_view saved_model, const std::vector<std::string>& tags,
                                 const std::string& what);

// ------------------------------------------------ what TensorFlow may read ---
//
// TensorFlow's loader opens the files of a model folder with a plain open():
// a FIFO (or a socket, a terminal) there blocks the process forever, and its
// init op reads the asset files at paths it joins from the folder and each
// AssetFileDef's filename, whatever that filename says. So before TensorFlow
// is given a folder, the load plan (session.h) checks what it will read.

// Throws FAILED_PRECONDITION naming `path` when something is there that is
// neither a regular file nor a folder (a FIFO, a socket, a device): reading it
// could block forever. A missing path is fine (its reader reports it).
void require_not_special(const std::string& path);

// require_not_special() for each file of a SavedModel folder that
// TensorFlow's loader opens: saved_model.pb / .pbtxt / .cpb, fingerprint.pb,
// and the checkpoint in variables/ (see require_checkpoint_files_not_special).
void require_model_files_not_special(const std::string& export_dir);

// require_not_special() for each file of the checkpoint at `prefix` (which
// may hold the V1 shard pattern's '?'): PREFIX, PREFIX.index,
// PREFIX.data-*, PREFIX-ddddd-of-ddddd.
void require_checkpoint_files_not_special(const std::string& prefix);

// Where an asset file resolves, judged without reading it.
struct AssetCheck {
  enum Verdict {
    kInside,      // inside the asset folder (or not there: nothing will be read)
    kOutside,     // an absolute path, a '..' component, or a symlink leading out of the folder
    kNotRegular,  // inside, but a FIFO, a socket or a device
  };
  Verdict verdict = kInside;
  std::string reason;  // why, for kOutside and kNotRegular ("is an absolute path")
  std::string path;    // the path TensorFlow is fed: asset_dir/filename
  bool exists = false;  // inside and a regular file (never looked up outside the folder)
};

// Judges the AssetFileDef filename `filename` of a model whose assets are in
// `asset_dir` (empty: relative to the working folder). With `model_dir`, the
// asset folder must itself resolve inside it (assets/ a symlink leading out
// of the model is refused too). Symlinks are followed one component at a
// time and the walk stops at the first step out of the folder, so the verdict
// never depends on what exists outside it: inspecting a model reveals nothing
// about the rest of the file system.
AssetCheck check_asset(const std::string& asset_dir, const std::string& filename, const std::string& model_dir = "");

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
