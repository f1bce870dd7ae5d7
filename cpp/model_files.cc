#include "model_files.h"

#include <dirent.h>
#include <fnmatch.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>

#include "mapped_file.h"
#include "proto_fields.h"
#include "saved_model.h"
#include "status.h"
#include "text_format.h"
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

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string read_file(const std::string& path) {
  // MappedFile::read opens without blocking and refuses a FIFO or another non-regular file.
  return MappedFile::read(path);
}

SavedModelBytes read_saved_model_bytes(const std::string& export_dir) {
  SavedModelBytes out;
  const std::string pb = export_dir + "/saved_model.pb";
  const std::string pbtxt = export_dir + "/saved_model.pbtxt";
  // A FIFO (socket, device) in place of one of them is an error, never skipped: TensorFlow's loader would open it.
  for (const std::string& path : {pb, pbtxt, export_dir + "/saved_model.cpb"}) require_not_special(path);
  if (is_file(pb)) {
    out.path = pb;
    out.format = "pb";
    out.mapped = MappedFile::open(pb);
  } else if (is_file(pbtxt)) {
    out.path = pbtxt;
    out.format = "pbtxt";
    out.converted = text_to_binary(MappedFile::read(pbtxt), "tensorflow.SavedModel", pbtxt);
  } else if (is_file(export_dir + "/saved_model.cpb")) {
    throw Error(kUnimplemented,
                export_dir + " holds only saved_model.cpb, the chunked SavedModel format (written with "
                             "SaveOptions(experimental_image_format=True)); tfbundle cannot read it and neither "
                             "can TensorFlow's C API: re-export the model without experimental_image_format");
  } else if (!is_dir(export_dir)) {
    throw Error(kNotFound, export_dir + " is not a folder");
  } else {
    throw Error(kNotFound, "no saved_model.pb or saved_model.pbtxt in " + export_dir);
  }
  return out;
}

std::vector<std::vector<std::string>> saved_model_tag_sets(const std::string& export_dir) {
  require_model_files_not_special(export_dir);  // a FIFO there would hang TensorFlow's loader later
  const SavedModelBytes file = read_saved_model_bytes(export_dir);
  std::vector<std::vector<std::string>> sets;
  for_each_meta_graph(file.bytes(), [&](std::string_view mg) { sets.push_back(tags_of(mg)); });
  if (sets.empty()) throw Error(kDataLoss, file.path + " holds no MetaGraphDef");
  return sets;
}

std::string_view find_meta_graph(std::string_view saved_model, const std::vector<std::string>& tags,
                                 const std::string& what) {
  const std::set<std::string> want(tags.begin(), tags.end());
  std::optional<std::string_view> found;
  std::vector<std::vector<std::string>> seen;
  for_each_meta_graph(saved_model, [&](std::string_view mg) {
    auto t = tags_of(mg);
    if (!found && std::set<std::string>(t.begin(), t.end()) == want) found = mg;
    seen.push_back(std::move(t));
  });
  if (!found) throw Error(kNotFound, what + " has no MetaGraphDef with these tags; it has " + describe_sets(seen));
  return *found;
}

std::string meta_graph_bytes(const std::string& export_dir, const std::vector<std::string>& tags) {
  const SavedModelBytes file = read_saved_model_bytes(export_dir);
  return std::string(find_meta_graph(file.bytes(), tags, file.path));
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

// ------------------------------------------------ what TensorFlow may read ---

void require_not_special(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return;  // missing (or unreadable): its reader says so
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) return;
  const char* kind = S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a device";
  throw Error(kFailedPrecondition, path + " is " + kind + ", not a regular file: reading it could block forever, "
                                              "so the model is not loaded");
}

void require_checkpoint_files_not_special(const std::string& prefix) {
  const size_t slash = prefix.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : prefix.substr(0, std::max<size_t>(slash, 1));
  const std::string base = slash == std::string::npos ? prefix : prefix.substr(slash + 1);
  if (base.empty()) return;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;  // no folder: no checkpoint there
  // fnmatch patterns (the prefix may hold the V1 shard pattern's '?' itself).
  const std::string patterns[] = {base, base + ".index", base + ".data-*", base + "-[0-9][0-9][0-9][0-9][0-9]-of-*"};
  std::vector<std::string> matches;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    for (const std::string& p : patterns) {
      if (::fnmatch(p.c_str(), name.c_str(), FNM_PERIOD) == 0) {
        matches.push_back(name);
        break;
      }
    }
  }
  ::closedir(d);
  for (const std::string& name : matches) require_not_special(dir + "/" + name);
}

void require_model_files_not_special(const std::string& export_dir) {
  for (const char* name : {"saved_model.pb", "saved_model.pbtxt", "saved_model.cpb", "fingerprint.pb"}) {
    require_not_special(export_dir + "/" + name);
  }
  require_checkpoint_files_not_special(export_dir + "/variables/variables");
}

namespace {

std::vector<std::string> path_components(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= path.size()) {
    const size_t j = std::min(path.find('/', i), path.size());
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string join_components(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

// `components` lies inside the folder `root` (both absolute, `root` as components).
bool within(const std::vector<std::string>& components, const std::vector<std::string>& root) {
  return components.size() >= root.size() && std::equal(root.begin(), root.end(), components.begin());
}

std::optional<std::string> real_path(const std::string& path) {
  char* r = ::realpath(path.c_str(), nullptr);
  if (r == nullptr) return std::nullopt;
  std::string out(r);
  std::free(r);
  return out;
}

// Resolves `relative` from the real (symlink-free) folder `root` one component
// at a time, following symlinks, without ever looking at a path outside
// `root`: returns the resolved path's components, or nullopt as soon as the
// next path to look at would be outside (or symlinks loop). Components that
// do not exist are taken as they are.
std::optional<std::vector<std::string>> resolve_within(const std::vector<std::string>& root,
                                                       const std::vector<std::string>& relative) {
  std::vector<std::string> at = root;
  std::vector<std::string> todo(relative.rbegin(), relative.rend());  // a stack: next component last
  int links = 0;
  bool missing = false;  // a component was not there: the rest is taken lexically
  while (!todo.empty()) {
    std::string c = std::move(todo.back());
    todo.pop_back();
    if (c == ".") continue;
    if (c == "..") {
      if (!at.empty()) at.pop_back();
      continue;
    }
    at.push_back(c);
    if (missing) continue;
    if (!within(at, root)) return std::nullopt;  // about to look outside the folder
    const std::string path = join_components(at);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      missing = true;
      continue;
    }
    if (!S_ISLNK(st.st_mode)) continue;
    if (++links > 40) return std::nullopt;  // a symlink loop (ELOOP to TensorFlow)
    std::string target(PATH_MAX, '\0');
    const ssize_t n = ::readlink(path.c_str(), &target[0], target.size());
    if (n < 0 || static_cast<size_t>(n) >= target.size()) return std::nullopt;
    target.resize(static_cast<size_t>(n));
    at.pop_back();
    if (!target.empty() && target[0] == '/') at.clear();
    const auto parts = path_components(target);
    todo.insert(todo.end(), parts.rbegin(), parts.rend());
  }
  if (!within(at, root)) return std::nullopt;
  return at;
}

}  // namespace

AssetCheck check_asset(const std::string& asset_dir, const std::string& filename, const std::string& model_dir) {
  AssetCheck out;
  out.path = asset_dir.empty() ? filename : asset_dir + "/" + filename;
  auto outside = [&](std::string why) {
    out.verdict = AssetCheck::kOutside;
    out.reason = std::move(why);
    return out;
  };
  if (!filename.empty() && filename[0] == '/') return outside("is an absolute path, outside the assets/ folder");
  const std::vector<std::string> parts = path_components(filename);
  if (std::find(parts.begin(), parts.end(), "..") != parts.end()) {
    return outside("climbs out of the assets/ folder with '..'");
  }
  // The folder's real path, and with model_dir, the check that it is inside the model.
  std::optional<std::vector<std::string>> root;
  if (!model_dir.empty()) {
    const auto model = real_path(model_dir);
    if (!model) return out;  // no model folder: nothing will be read
    const std::string rest = asset_dir.size() > model_dir.size() && asset_dir.compare(0, model_dir.size(), model_dir) == 0
                                 ? asset_dir.substr(model_dir.size())
                                 : std::string();
    if (rest.empty() || rest[0] != '/') {  // an asset folder given apart: judged on its own
      const auto dir = real_path(asset_dir);
      if (!dir) return out;
      root = path_components(*dir);
    } else {
      const auto resolved = resolve_within(path_components(*model), path_components(rest));
      if (!resolved) return outside("is in an assets/ folder that is a symlink leading out of the model folder");
      root = resolved;
    }
  } else {
    const auto dir = real_path(asset_dir.empty() ? "." : asset_dir);
    if (!dir) return out;  // no asset folder: nothing will be read
    root = path_components(*dir);
  }
  const auto resolved = resolve_within(*root, parts);
  if (!resolved) return outside("is a symlink leading out of the assets/ folder");
  struct stat st;
  if (::stat(join_components(*resolved).c_str(), &st) != 0) return out;  // not there
  if (S_ISREG(st.st_mode)) {
    out.exists = true;
  } else if (!S_ISDIR(st.st_mode)) {
    out.verdict = AssetCheck::kNotRegular;
    out.reason = std::string("is ") + (S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a device") +
                 ", not a regular file: reading it could block forever";
  }
  return out;
}

}  // namespace tfbundle
