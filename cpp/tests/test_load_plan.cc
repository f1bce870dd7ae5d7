// Unit tests of the load plan (session.h: plan_load, parse_restore_mode) and
// what it is decided from: the MetaGraph's assets, init op and local
// initializers (saved_model.h) and the checkpoint format (model_files.h). On
// MetaGraphDefs built here and files in a temporary folder; no TensorFlow.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "check.h"
#include "model_files.h"
#include "proto_fields.h"
#include "saved_model.h"
#include "session.h"
#include "status.h"
#include "wire.h"

using namespace tfbundle;
using tfbundle::testing::g_failures;

namespace {




using Feeds = std::vector<std::pair<std::string, std::string>>;

std::string asset_file_def(const std::string& tensor, const std::string& filename) {
  wire::Writer info;
  info.bytes_field(pb::TensorInfo::kName, tensor);
  wire::Writer a;
  a.bytes_field(pb::AssetFileDef::kTensorInfo, info.data());
  a.bytes_field(pb::AssetFileDef::kFilename, filename);
  return a.data();
}

// A MetaGraphDef collection_def map entry.
std::string collection(const std::string& key, uint32_t kind, const std::vector<std::string>& values) {
  wire::Writer list;
  for (const auto& v : values) list.bytes_field(1, v);  // NodeList / BytesList / AnyList: value = 1
  wire::Writer def;
  def.bytes_field(kind, list.data());
  wire::Writer entry;
  entry.bytes_field(pb::MetaGraphDef::CollectionDefEntry::kKey, key);
  entry.bytes_field(pb::MetaGraphDef::CollectionDefEntry::kValue, def.data());
  return entry.data();
}

std::string any_of(const std::string& payload) {
  wire::Writer any;
  any.bytes_field(1, "type.googleapis.com/tensorflow.AssetFileDef");  // Any: type_url = 1, value = 2
  any.bytes_field(2, payload);
  return any.data();
}

std::string variable_def(const std::string& initializer) {
  wire::Writer v;
  v.bytes_field(pb::VariableDef::kInitializerName, initializer);
  return v.data();
}

std::string saver_def() {
  wire::Writer s;
  s.bytes_field(pb::SaverDef::kFilenameTensorName, "save/Const:0");
  s.bytes_field(pb::SaverDef::kRestoreOpName, "save/restore_all");
  return s.data();
}

void write_file(const std::filesystem::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary);
  out << data;
}

void test_restore_modes() {
  CHECK(parse_restore_mode("tensorflow") == RestoreMode::kTensorFlow);
  CHECK(parse_restore_mode("graph") == RestoreMode::kGraph);
  CHECK(parse_restore_mode("mmap") == RestoreMode::kMapped);
  CHECK(parse_restore_mode("none") == RestoreMode::kNone);
  CHECK(parse_restore_mode("auto") == RestoreMode::kAuto);
  for (RestoreMode m : {RestoreMode::kTensorFlow, RestoreMode::kGraph, RestoreMode::kMapped, RestoreMode::kNone,
                        RestoreMode::kAuto}) {
    CHECK(parse_restore_mode(restore_mode_name(m)) == m);
  }
  EXPECT_ERROR(kInvalidArgument, "unknown restore mode 'tf'", parse_restore_mode("tf"));
}

void test_assets_and_init_op() {
  // TF1 SavedModelBuilder: no asset_file_def, the assets packed as Any in a
  // collection (one listed twice), and a main_op.
  wire::Writer mg;
  mg.bytes_field(pb::MetaGraphDef::kCollectionDef,
                 collection("saved_model_assets", pb::CollectionDef::kAnyList,
                            {any_of(asset_file_def("a:0", "vocab.txt")), any_of(asset_file_def("a:0", "vocab.txt")),
                             any_of(asset_file_def("b:0", "labels.txt"))}));
  mg.bytes_field(pb::MetaGraphDef::kCollectionDef,
                 collection("saved_model_main_op", pb::CollectionDef::kNodeList, {"main_op"}));
  mg.bytes_field(pb::MetaGraphDef::kCollectionDef,
                 collection("legacy_init_op", pb::CollectionDef::kNodeList, {"legacy"}));
  const MetaGraph m = parse_meta_graph(mg.data());
  CHECK(m.assets.size() == 3);
  LoadRequest r;
  r.export_dir = "/models/m";
  r.restore = RestoreMode::kGraph;
  r.extra_assets = {{"b:0", "/elsewhere/b"}, {"c:0", "/elsewhere/c"}};
  LoadPlan plan = plan_load(m, r);
  CHECK((plan.asset_feeds == Feeds{{"a:0", "/models/m/assets/vocab.txt"},
                                   {"b:0", "/models/m/assets/labels.txt"},
                                   {"c:0", "/elsewhere/c"}}));
  CHECK(plan.init_op == "main_op");
  CHECK(plan.checkpoint_prefix.empty());  // no SaverDef, no checkpoint there
  r.init_op = "serving_init";
  r.asset_dir = "/bundle/assets";
  plan = plan_load(m, r);
  CHECK(plan.init_op == "serving_init");
  CHECK(plan.asset_feeds.front().second == "/bundle/assets/vocab.txt");

  // asset_file_def wins over the collection.
  wire::Writer mg2;
  mg2.bytes_field(pb::MetaGraphDef::kAssetFileDef, asset_file_def("x:0", "x.txt"));
  mg2.bytes_field(pb::MetaGraphDef::kCollectionDef,
                  collection("saved_model_assets", pb::CollectionDef::kAnyList, {any_of(asset_file_def("a:0", "a"))}));
  const MetaGraph m2 = parse_meta_graph(mg2.data());
  CHECK(m2.assets.size() == 1 && m2.assets[0].tensor_name == "x:0");
}

void test_local_initializers() {
  wire::Writer mg;
  mg.bytes_field(pb::MetaGraphDef::kCollectionDef,
                 collection("local_variables", pb::CollectionDef::kBytesList,
                            {variable_def("local/Assign"), variable_def("count/Assign")}));
  mg.bytes_field(pb::MetaGraphDef::kCollectionDef,
                 collection("table_initializer", pb::CollectionDef::kNodeList, {"init_table"}));
  const MetaGraph m = parse_meta_graph(mg.data());
  CHECK((m.local_variable_initializers == std::vector<std::string>{"local/Assign", "count/Assign"}));
  LoadRequest r;
  r.meta_graph = mg.data();
  r.restore = RestoreMode::kGraph;
  CHECK(plan_load(m, r).init_targets.empty());  // only when asked (checkpoint graphs)
  r.init_local_variables = true;
  CHECK((plan_load(m, r).init_targets == std::vector<std::string>{"local/Assign", "count/Assign", "init_table"}));
  r.init_op = "my_init";  // an init op of its own: nothing else
  CHECK(plan_load(m, r).init_targets.empty());
}

void test_checkpoint_formats(const std::filesystem::path& dir) {
  const std::string prefix = (dir / "variables").string();
  CHECK(checkpoint_format(prefix) == CheckpointFormat::kNone);
  write_file(dir / "variables-00000-of-00002", "v1 shard");
  write_file(dir / "variables-00001-of-00002", "v1 shard");
  CHECK(checkpoint_format(prefix) == CheckpointFormat::kV1);
  CHECK(saver_restore_path(prefix) == prefix + "-?????" + "-of-?????");
  write_file(dir / "variables", "v1");
  CHECK(checkpoint_format(prefix) == CheckpointFormat::kV1);
  CHECK(saver_restore_path(prefix) == prefix);
  write_file(dir / "variables.index", "v2");
  CHECK(checkpoint_format(prefix) == CheckpointFormat::kV2);
  CHECK(checkpoint_format((dir / "variables-0").string()) == CheckpointFormat::kNone);
}

void test_checkpoint_plan(const std::filesystem::path& export_dir) {
  std::filesystem::create_directories(export_dir / "variables");
  wire::Writer mg;
  mg.bytes_field(pb::MetaGraphDef::kSaverDef, saver_def());
  const MetaGraph m = parse_meta_graph(mg.data());
  LoadRequest r;
  r.export_dir = export_dir.string();
  r.restore = RestoreMode::kGraph;
  CHECK(plan_load(m, r).checkpoint_prefix.empty());  // no checkpoint in variables/
  write_file(export_dir / "variables" / "variables", "v1");
  LoadPlan plan = plan_load(m, r);
  CHECK(plan.checkpoint_format == CheckpointFormat::kV1);
  CHECK(plan.checkpoint_prefix == export_dir.string() + "/variables/variables");
  CHECK(plan.restore_path == plan.checkpoint_prefix);
  r.restore = RestoreMode::kNone;
  CHECK(plan_load(m, r).checkpoint_prefix.empty());
  // A prefix given is fed as it is, whatever is on disk.
  r.restore = RestoreMode::kGraph;
  r.export_dir.clear();
  r.meta_graph = mg.data();
  r.checkpoint_prefix = "/train/model.ckpt-?????" "-of-00002";
  plan = plan_load(m, r);
  CHECK(plan.restore_path == "/train/model.ckpt-?????" "-of-00002");
  // Without a SaverDef nothing can be restored.
  r.checkpoint_prefix = "/train/model.ckpt";
  CHECK(plan_load(parse_meta_graph(""), r).checkpoint_prefix.empty());
}

// Assets must resolve inside the asset folder, and nothing TensorFlow opens may be a FIFO
// (model_files.h: check_asset, require_model_files_not_special).
void test_files_tensorflow_would_read(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  const fs::path model = root / "files";
  fs::create_directories(model / "assets" / "sub");
  fs::create_directories(model / "variables");
  write_file(root / "secret.txt", "outside");
  write_file(model / "assets" / "vocab.txt", "inside");
  auto plan_with = [&](const std::string& filename) {
    wire::Writer mg;
    mg.bytes_field(pb::MetaGraphDef::kAssetFileDef, asset_file_def("a:0", filename));
    LoadRequest r;
    r.export_dir = model.string();
    r.restore = RestoreMode::kGraph;
    return plan_load(parse_meta_graph(mg.data()), r);
  };
  CHECK(plan_with("vocab.txt").asset_feeds.front().second == model.string() + "/assets/vocab.txt");
  plan_with("missing.txt");  // not there: nothing will be read
  for (const char* bad : {"../../secret.txt", "sub/../../secret.txt", "/etc/passwd"}) {
    EXPECT_ERROR(kPermissionDenied, "outside the model", plan_with(bad));
  }
  fs::create_symlink("../../secret.txt", model / "assets" / "out");
  fs::create_symlink(root / "nowhere", model / "assets" / "dangling");
  fs::create_symlink("vocab.txt", model / "assets" / "alias");
  fs::create_symlink("..", model / "assets" / "sub" / "up");
  EXPECT_ERROR(kPermissionDenied, "symlink leading out", plan_with("out"));
  EXPECT_ERROR(kPermissionDenied, "symlink leading out", plan_with("dangling"));
  CHECK(plan_with("alias").asset_feeds.size() == 1);
  CHECK(plan_with("sub/up/vocab.txt").asset_feeds.size() == 1);  // a link that stays inside
  CHECK(check_asset((model / "assets").string(), "alias", model.string()).exists);
  CHECK(!check_asset((model / "assets").string(), "out", model.string()).exists);
  // A SessionBundle's serving_assets, given as paths in the asset folder.
  {
    LoadRequest r;
    r.meta_graph = "x";
    r.restore = RestoreMode::kGraph;
    r.asset_dir = (model / "assets").string();
    r.extra_assets = {{"b:0", *r.asset_dir + "/../../secret.txt"}};
    EXPECT_ERROR(kPermissionDenied, "climbs out", plan_load(parse_meta_graph(""), r));
    r.extra_assets = {{"b:0", *r.asset_dir + "/vocab.txt"}};
    CHECK(plan_load(parse_meta_graph(""), r).asset_feeds.size() == 1);
  }
  // FIFOs where TensorFlow reads.
  CHECK(::mkfifo((model / "assets" / "pipe").c_str(), 0600) == 0);
  EXPECT_ERROR(kFailedPrecondition, "is a FIFO", plan_with("pipe"));
  CHECK(::mkfifo((model / "variables" / "variables.data-00000-of-00001").c_str(), 0600) == 0);
  EXPECT_ERROR(kFailedPrecondition, "variables.data-00000-of-00001 is a FIFO", plan_with("vocab.txt"));
  fs::remove(model / "variables" / "variables.data-00000-of-00001");
  CHECK(::mkfifo((model / "fingerprint.pb").c_str(), 0600) == 0);
  EXPECT_ERROR(kFailedPrecondition, "fingerprint.pb is a FIFO", plan_with("vocab.txt"));
  EXPECT_ERROR(kFailedPrecondition, "fingerprint.pb is a FIFO", saved_model_tag_sets(model.string()));
}

// A message field given twice is merged, and the merged bytes outlive the parse.
void test_merged_fields() {
  wire::Writer first, second;
  first.bytes_field(pb::GraphDef::kNode, "a");
  second.bytes_field(pb::GraphDef::kNode, "b");
  wire::Writer mg;
  mg.bytes_field(pb::MetaGraphDef::kGraphDef, first.data());
  mg.bytes_field(pb::MetaGraphDef::kGraphDef, second.data());
  MetaGraph copy;
  {
    const MetaGraph m = parse_meta_graph(mg.data());
    CHECK(m.graph_def == first.data() + second.data());
    copy = m;
  }
  CHECK(copy.graph_def == first.data() + second.data());  // still valid: the storage is shared
  wire::Writer one;
  one.bytes_field(pb::MetaGraphDef::kGraphDef, first.data());
  const std::string single = one.data();
  const MetaGraph m = parse_meta_graph(single);
  CHECK(m.storage.empty() && m.graph_def.data() >= single.data() &&
        m.graph_def.data() < single.data() + single.size());  // once: a view, no copy
}

void test_request_errors() {
  LoadRequest neither;
  EXPECT_ERROR(kInvalidArgument, "either a SavedModel folder or a serialized MetaGraphDef", Session::load(neither));
  LoadRequest both;
  both.export_dir = "/m";
  both.meta_graph = "x";
  EXPECT_ERROR(kInvalidArgument, "either a SavedModel folder or a serialized MetaGraphDef", Session::load(both));
  LoadRequest bytes_with_tf;
  bytes_with_tf.meta_graph = "x";
  EXPECT_ERROR(kInvalidArgument, "SavedModel folders only", Session::load(bytes_with_tf));
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/tfbundle-load-plan-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (dir == nullptr) {
    std::perror("mkdtemp");
    return 2;
  }
  const std::filesystem::path root(dir);
  std::filesystem::create_directories(root / "formats");
  test_restore_modes();
  test_assets_and_init_op();
  test_local_initializers();
  test_checkpoint_formats(root / "formats");
  test_checkpoint_plan(root / "model");
  test_files_tensorflow_would_read(root);
  test_merged_fields();
  test_request_errors();
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  if (g_failures > 0) {
    std::fprintf(stderr, "%d check(s) failed\n", g_failures);
    return 1;
  }
  std::printf("test_load_plan: all checks passed\n");
  return 0;
}
