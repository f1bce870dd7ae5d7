#include "model_files.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "proto_fields.h"
#include "saved_model.h"
#include "status.h"
#include "wire.h"

namespace tfbundle {
namespace {

std::string describe_sets(const std::vector<std::vector<std::string>>& sets) {
  std::string out;
  for (const auto& s : sets) {
    std::string joined;
    for (const auto& t : s) joined += (joined.empty() ? "" : ",") + t;
    out += (out.empty() ? "" : ", ") + ("{" + joined + "}");
  }
  return out.empty() ? "none" : out;
}

std::vector<std::string> tags_of(std::string_view meta_graph) {
  std::vector<std::string> tags;
  wire::Reader r(meta_graph, "MetaGraphDef");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number != pb::MetaGraphDef::kMetaInfoDef || f.type != wire::kLengthDelimited) continue;
    wire::Reader info(f.bytes, "MetaInfoDef");
    wire::Field g;
    while (info.next(&g)) {
      if (g.number == pb::MetaGraphDef::MetaInfoDef::kTags && g.type == wire::kLengthDelimited) tags.emplace_back(g.bytes);
    }
  }
  return tags;
}

template <typename Fn>
void for_each_meta_graph(std::string_view saved_model, Fn&& fn) {
  wire::Reader r(saved_model, "saved_model.pb");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number == pb::SavedModel::kMetaGraphs && f.type == wire::kLengthDelimited) fn(f.bytes);
  }
}

}  // namespace

bool is_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw Error(err == ENOENT ? kNotFound : kPermissionDenied, "cannot open " + path + ": " + std::strerror(err));
  }
  std::string data;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw Error(kDataLoss, "cannot read " + path);
  data.resize(static_cast<size_t>(size));
  in.seekg(0, std::ios::beg);
  if (size > 0 && !in.read(&data[0], size)) throw Error(kDataLoss, "cannot read " + path);
  return data;
}

std::vector<std::vector<std::string>> saved_model_tag_sets(const std::string& export_dir) {
  const std::string pb = export_dir + "/saved_model.pb";
  const std::string pbtxt = export_dir + "/saved_model.pbtxt";
  std::vector<std::vector<std::string>> sets;
  if (is_file(pb)) {
    const std::string data = read_file(pb);
    for_each_meta_graph(data, [&](std::string_view mg) { sets.push_back(tags_of(mg)); });
  } else if (is_file(pbtxt)) {
    sets = pbtxt_tag_sets(read_file(pbtxt));
  } else if (is_file(export_dir + "/saved_model.cpb")) {
    throw Error(kUnimplemented, export_dir + " holds only saved_model.cpb, the chunked SavedModel format, which "
                                             "TensorFlow's C API cannot load; re-export it without "
                                             "experimental_image_format=True");
  } else {
    throw Error(kNotFound, "no saved_model.pb or saved_model.pbtxt in " + export_dir);
  }
  if (sets.empty()) throw Error(kDataLoss, export_dir + "/saved_model.pb holds no MetaGraphDef");
  return sets;
}

std::string meta_graph_bytes(const std::string& export_dir, const std::vector<std::string>& tags) {
  const std::string data = read_file(export_dir + "/saved_model.pb");
  const std::set<std::string> want(tags.begin(), tags.end());
  std::string found;
  std::vector<std::vector<std::string>> seen;
  for_each_meta_graph(data, [&](std::string_view mg) {
    auto t = tags_of(mg);
    if (found.empty() && std::set<std::string>(t.begin(), t.end()) == want) found = std::string(mg);
    seen.push_back(std::move(t));
  });
  if (found.empty()) {
    throw Error(kNotFound, export_dir + "/saved_model.pb has no MetaGraphDef with these tags; it has " +
                               describe_sets(seen));
  }
  return found;
}

namespace {

// "variables-00000-of-00002" for base "variables": a V1 shard.
bool is_v1_shard(const std::string& name, const std::string& base) {
  static constexpr char kDigits[] = "-ddddd-of-ddddd";
  if (name.size() != base.size() + sizeof(kDigits) - 1 || name.compare(0, base.size(), base) != 0) return false;
  for (size_t i = 0; i + 1 < sizeof(kDigits); ++i) {
    const char c = name[base.size() + i];
    if (kDigits[i] == 'd' ? (c < '0' || c > '9') : c != kDigits[i]) return false;
  }
  return true;
}

bool has_v1_shards(const std::string& prefix) {
  const std::filesystem::path p(prefix);
  const std::string base = p.filename().string();
  std::error_code ec;
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (is_v1_shard(it->path().filename().string(), base)) return true;
  }
  return false;
}

}  // namespace

CheckpointFormat checkpoint_format(const std::string& prefix) {
  if (is_file(prefix + ".index")) return CheckpointFormat::kV2;
  if (is_file(prefix) || has_v1_shards(prefix)) return CheckpointFormat::kV1;
  return CheckpointFormat::kNone;
}

std::string saver_restore_path(const std::string& prefix) {
  if (is_file(prefix + ".index") || is_file(prefix) || !has_v1_shards(prefix)) return prefix;
  return prefix + "-?????" + "-of-?????";  // two literals: "??-" would be a trigraph
}

}  // namespace tfbundle
