#include "model_files.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

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
  // MetaGraphDef.meta_info_def = 1; MetaInfoDef.tags = 4.
  std::vector<std::string> tags;
  wire::Reader r(meta_graph, "MetaGraphDef");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number != 1 || f.type != wire::kLengthDelimited) continue;
    wire::Reader info(f.bytes, "MetaInfoDef");
    wire::Field g;
    while (info.next(&g)) {
      if (g.number == 4 && g.type == wire::kLengthDelimited) tags.emplace_back(g.bytes);
    }
  }
  return tags;
}

template <typename Fn>
void for_each_meta_graph(std::string_view saved_model, Fn&& fn) {
  wire::Reader r(saved_model, "saved_model.pb");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number == 2 && f.type == wire::kLengthDelimited) fn(f.bytes);
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

std::vector<AssetFile> meta_graph_assets(std::string_view meta_graph_bytes) {
  const MetaGraph mg = parse_meta_graph(meta_graph_bytes);
  if (!mg.assets.empty()) return mg.assets;
  // MetaGraphDef.collection_def = 4 (map entry: key = 1, value = 2);
  // CollectionDef.any_list = 5; AnyList.value = 1; Any.value = 2 (an AssetFileDef:
  // tensor_info = 1 (TensorInfo.name = 1), filename = 2).
  std::vector<AssetFile> out;
  wire::Reader r(meta_graph_bytes, "MetaGraphDef");
  wire::Field f;
  while (r.next(&f)) {
    if (f.number != 4 || f.type != wire::kLengthDelimited) continue;
    std::string_view key, value;
    wire::Reader entry(f.bytes, "collection_def entry");
    wire::Field g;
    while (entry.next(&g)) {
      if (g.number == 1 && g.type == wire::kLengthDelimited) key = g.bytes;
      if (g.number == 2 && g.type == wire::kLengthDelimited) value = g.bytes;
    }
    if (key != "saved_model_assets") continue;
    wire::Reader coll(value, "CollectionDef");
    while (coll.next(&g)) {
      if (g.number != 5 || g.type != wire::kLengthDelimited) continue;
      wire::Reader list(g.bytes, "CollectionDef.AnyList");
      wire::Field any;
      while (list.next(&any)) {
        if (any.number != 1 || any.type != wire::kLengthDelimited) continue;
        wire::Reader any_r(any.bytes, "Any");
        wire::Field h;
        while (any_r.next(&h)) {
          if (h.number != 2 || h.type != wire::kLengthDelimited) continue;
          AssetFile a;
          wire::Reader asset(h.bytes, "AssetFileDef");
          wire::Field k;
          while (asset.next(&k)) {
            if (k.number == 2 && k.type == wire::kLengthDelimited) a.filename = std::string(k.bytes);
            if (k.number == 1 && k.type == wire::kLengthDelimited) {
              wire::Reader info(k.bytes, "TensorInfo");
              wire::Field t;
              while (info.next(&t)) {
                if (t.number == 1 && t.type == wire::kLengthDelimited) a.tensor_name = std::string(t.bytes);
              }
            }
          }
          out.push_back(std::move(a));
        }
      }
    }
  }
  return out;
}

}  // namespace tfbundle
