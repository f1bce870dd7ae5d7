// Experimental restore from memory-mapped shards (mmap_restore.h), exposed as
// the private _core._load_mapped (underscored: outside the stub of
// _core.pyi) for benchmarks and tests.
#include <pybind11/stl.h>

#include <filesystem>
#include <set>

#include "bindings.h"
#include "mmap_restore.h"
#include "model_files.h"
#include "status.h"

namespace py = pybind11;

namespace tfbundle {
namespace {

// Builds the model's session without a restore (NativeModel.from_meta_graph
// with no checkpoint prefix and no init op), restores its variables from the
// mapped shards, then runs the init op with the asset paths fed. Returns
// (NativeModel, stats).
py::tuple load_mapped(py::module_ core, const std::string& export_dir, const std::vector<std::string>& tags,
                      int intra, int inter, std::optional<bool> growth, std::optional<std::string> visible) {
  std::string bytes = meta_graph_bytes(export_dir, tags);
  const MetaGraph mg = parse_meta_graph(bytes);
  const std::string prefix = export_dir + "/variables/variables";
  const bool has_variables = is_file(prefix + ".index");
  if (!has_variables) {
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(export_dir + "/variables", ec)) {
      if (f.path().filename().string().rfind("variables", 0) == 0) {
        throw Error(kUnimplemented, "restore=\"mmap\" reads TensorBundle (V2) checkpoints; " + export_dir +
                                        "/variables holds an older checkpoint format: load it with the default restore");
      }
    }
  }
  if (has_variables) {
    if (!mg.saver.has_value() || mg.saver->restore_op_name.empty() ||
        find_restore_nodes(mg.graph_def, mg.saver->restore_op_name).empty()) {
      throw Error(kUnimplemented, "restore=\"mmap\" needs a graph-level RestoreV2 restore op (TF1 exports); the model in " +
                                      export_dir +
                                      " restores inside a function (a TF2 SavedModel): load it with the default restore");
    }
  }
  std::vector<std::pair<std::string, std::string>> assets;
  std::set<std::string> fed;
  for (const auto& a : meta_graph_assets(bytes)) {
    if (fed.insert(a.tensor_name).second) assets.emplace_back(a.tensor_name, export_dir + "/assets/" + a.filename);
  }
  const std::string init_op = mg.init_op_name();
  py::object native = core.attr("NativeModel").attr("from_meta_graph")(
      py::bytes(bytes), "", std::vector<std::pair<std::string, std::string>>{}, "", intra, inter, growth, visible);
  auto* session = reinterpret_cast<TF_Session*>(native.attr("session_handle")().cast<uintptr_t>());
  auto* graph = reinterpret_cast<TF_Graph*>(native.attr("graph_handle")().cast<uintptr_t>());
  MappedRestoreStats stats;
  {
    py::gil_scoped_release nogil;
    if (has_variables) stats = restore_from_mapped_shards(session, graph, mg, prefix);
    run_init_op(session, graph, init_op, assets);
  }
  py::dict d;
  d["tensors"] = stats.tensors;
  d["zero_copy_tensors"] = stats.zero_copy_tensors;
  d["zero_copy_bytes"] = stats.zero_copy_bytes;
  d["copied_tensors"] = stats.copied_tensors;
  d["copied_bytes"] = stats.copied_bytes;
  d["copied_sparse_bytes"] = stats.copied_sparse_bytes;
  d["tf_read_tensors"] = stats.tf_read_tensors;
  return py::make_tuple(native, d);
}

}  // namespace

void bind_restore(py::module_& m) {
  py::module_ core = m;
  m.def(
      "_load_mapped",
      [core](const std::string& export_dir, const std::vector<std::string>& tags, int intra_op_threads,
             int inter_op_threads, std::optional<bool> gpu_memory_growth, std::optional<std::string> visible_devices) {
        return load_mapped(core, export_dir, tags, intra_op_threads, inter_op_threads, gpu_memory_growth,
                           visible_devices);
      },
      py::arg("export_dir"), py::arg("tags"), py::arg("intra_op_threads") = 0, py::arg("inter_op_threads") = 0,
      py::arg("gpu_memory_growth") = py::none(), py::arg("visible_devices") = py::none(),
      "Experimental: load a TF1 SavedModel restoring its variables from memory-mapped shards. Returns "
      "(NativeModel, stats) where stats counts zero-copy and copied tensors and bytes.");
}

}  // namespace tfbundle
