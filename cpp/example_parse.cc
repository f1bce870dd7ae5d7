#include "example_parse.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "status.h"
#include "wire.h"

namespace tfbundle::example {

namespace {

// Field numbers of example.proto and feature.proto (TensorFlow's).
constexpr uint32_t kExampleFeatures = 1;  // Example.features: Features
constexpr uint32_t kFeaturesFeature = 1;  // Features.feature: map<string, Feature>
constexpr uint32_t kEntryKey = 1;         // the map entry's key
constexpr uint32_t kEntryValue = 2;       // the map entry's value: Feature
constexpr uint32_t kBytesList = 1;        // Feature.bytes_list (oneof kind)
constexpr uint32_t kFloatList = 2;        // Feature.float_list
constexpr uint32_t kInt64List = 3;        // Feature.int64_list
constexpr uint32_t kListValue = 1;        // BytesList/FloatList/Int64List.value

const char* list_name(int kind) {
  switch (kind) {
    case kFloat: return "float_list";
    case kInt64: return "int64_list";
    default: return "bytes_list";
  }
}

const char* value_name(int kind) {
  switch (kind) {
    case kFloat: return "float";
    case kInt64: return "int64";
    default: return "bytes";
  }
}

std::string quoted(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\'' || c == '\\') {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "'";
}

[[noreturn]] void record_error(int64_t index, const std::string& why) {
  throw Error(kInvalidArgument, "tf.Example record " + std::to_string(index) + " " + why);
}

[[noreturn]] void feature_error(int64_t index, const FeatureSpec& spec, const std::string& why) {
  throw Error(kInvalidArgument,
              "tf.Example record " + std::to_string(index) + ", feature " + quoted(spec.name) + ": " + why);
}

// Feature name -> spec index: a scan for a few features, a hash map for many.
class Lookup {
 public:
  explicit Lookup(const std::vector<FeatureSpec>& specs) {
    for (size_t i = 0; i < specs.size(); ++i) names_.emplace_back(specs[i].name);
    if (names_.size() > 8) {
      for (size_t i = 0; i < names_.size(); ++i) map_[names_[i]] = static_cast<int>(i);  // a repeat: the last
    }
  }
  int find(std::string_view key) const {
    if (!map_.empty()) {
      auto it = map_.find(key);
      return it == map_.end() ? -1 : it->second;
    }
    for (size_t i = names_.size(); i-- > 0;) {
      if (names_[i] == key) return static_cast<int>(i);
    }
    return -1;
  }

 private:
  std::vector<std::string_view> names_;
  std::unordered_map<std::string_view, int> map_;
};

float float_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

class Parser {
 public:
  Parser(const std::vector<FeatureSpec>& specs, const std::vector<Column>& columns)
      : specs_(specs), columns_(columns), lookup_(specs), entries_(specs.size()), found_(specs.size()) {}

  void parse(std::string_view record, int64_t index, size_t row) {
    index_ = index;
    std::fill(found_.begin(), found_.end(), 0);
    try {
      walk(record);
    } catch (const Error& e) {
      if (e.code() != kDataLoss) throw;
      record_error(index, std::string("is not a serialized tf.Example: ") + e.what());
    }
    for (size_t s = 0; s < specs_.size(); ++s) fill(s, row);
  }

 private:
  // Keeps, for each requested feature, the value occurrences of the last map entry with its key.
  void walk(std::string_view record) {
    wire::Reader example(record, "the Example");
    wire::Field f;
    while (example.next(&f)) {
      if (f.number != kExampleFeatures) continue;
      if (f.type != wire::kLengthDelimited) record_error(index_, "is not a serialized tf.Example: its features field is not a message");
      wire::Reader features(f.bytes, "its Features");
      wire::Field e;
      while (features.next(&e)) {
        if (e.number != kFeaturesFeature) continue;
        if (e.type != wire::kLengthDelimited) record_error(index_, "is not a serialized tf.Example: a feature map entry is not a message");
        wire::Reader entry(e.bytes, "a feature map entry");
        std::string_view key;
        values_.clear();
        wire::Field g;
        while (entry.next(&g)) {
          if (g.number != kEntryKey && g.number != kEntryValue) continue;
          if (g.type != wire::kLengthDelimited) {
            record_error(index_, "is not a serialized tf.Example: a feature map entry's key or value has the wrong wire type");
          }
          if (g.number == kEntryKey) {
            key = g.bytes;
          } else {
            values_.push_back(g.bytes);
          }
        }
        const int s = lookup_.find(key);
        if (s < 0) continue;
        entries_[s].swap(values_);
        found_[s] = 1;
      }
    }
  }

  // The kind set in the Feature made of `parts` (merged), and the occurrences of its list in parts_.
  int feature_kind(const std::vector<std::string_view>& parts, const FeatureSpec& spec) {
    int kind = -1;
    parts_.clear();
    for (std::string_view part : parts) {
      wire::Reader feature(part, "the Feature");
      wire::Field f;
      while (feature.next(&f)) {
        int k;
        switch (f.number) {
          case kBytesList: k = kBytes; break;
          case kFloatList: k = kFloat; break;
          case kInt64List: k = kInt64; break;
          default: continue;
        }
        if (f.type != wire::kLengthDelimited) feature_error(index_, spec, std::string("its ") + list_name(k) + " is not a message");
        if (k != kind) parts_.clear();  // another member of the oneof: protobuf drops the earlier one
        kind = k;
        parts_.push_back(f.bytes);
      }
    }
    return kind;
  }

  [[noreturn]] void count_error(const FeatureSpec& spec, int64_t have) {
    feature_error(index_, spec,
                  std::to_string(have) + (have > spec.count ? " or more " : " ") + value_name(spec.kind) +
                      " values where its shape " + spec.shape + " takes " + std::to_string(spec.count));
  }

  void fill(size_t s, size_t row) {
    const FeatureSpec& spec = specs_[s];
    const Column& col = columns_[s];
    const size_t base = row * static_cast<size_t>(spec.count);
    int kind = -1;
    if (found_[s]) {
      try {
        kind = feature_kind(entries_[s], spec);
      } catch (const Error& e) {
        if (e.code() != kDataLoss) throw;
        feature_error(index_, spec, std::string("its Feature is malformed: ") + e.what());
      }
    }
    if (kind < 0) {  // absent, or `feature {}`
      if (!spec.has_default) {
        feature_error(index_, spec,
                      std::string("missing, and its spec has no default value (a ") + value_name(spec.kind) +
                          " feature of shape " + spec.shape + ")");
      }
      switch (spec.kind) {
        case kFloat: std::copy(spec.default_float.begin(), spec.default_float.end(), col.floats + base); break;
        case kInt64: std::copy(spec.default_int64.begin(), spec.default_int64.end(), col.int64s + base); break;
        case kBytes:
          for (int64_t i = 0; i < spec.count; ++i) col.bytes[base + i] = spec.default_bytes[i];
          break;
      }
      return;
    }
    if (kind != spec.kind) {
      feature_error(index_, spec,
                    std::string("it holds ") + value_name(kind) + " values (" + list_name(kind) +
                        ") where the spec asks for " + value_name(spec.kind));
    }
    int64_t n = 0;
    const int64_t count = spec.count;
    try {
      for (std::string_view part : parts_) {
        wire::Reader list(part, "the value list");
        wire::Field f;
        while (list.next(&f)) {
          if (f.number != kListValue) continue;
          switch (kind) {
            case kFloat:
              if (f.type == wire::kFixed32) {
                if (n >= count) count_error(spec, n + 1);
                col.floats[base + n++] = float_bits(static_cast<uint32_t>(f.value));
              } else if (f.type == wire::kLengthDelimited) {
                if (f.bytes.size() % 4 != 0) feature_error(index_, spec, "its packed float_list has a partial value");
                const int64_t m = static_cast<int64_t>(f.bytes.size() / 4);
                if (n + m > count) count_error(spec, n + m);
                const char* p = f.bytes.data();
                for (int64_t i = 0; i < m; ++i, p += 4) {
                  uint32_t bits = static_cast<uint8_t>(p[0]) | static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 8 |
                                  static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 16 |
                                  static_cast<uint32_t>(static_cast<uint8_t>(p[3])) << 24;
                  col.floats[base + n++] = float_bits(bits);
                }
              } else {
                feature_error(index_, spec, "its float_list holds a value of the wrong wire type");
              }
              break;
            case kInt64:
              if (f.type == wire::kVarint) {
                if (n >= count) count_error(spec, n + 1);
                col.int64s[base + n++] = static_cast<int64_t>(f.value);
              } else if (f.type == wire::kLengthDelimited) {
                const char* p = f.bytes.data();
                const char* end = p + f.bytes.size();
                while (p < end) {
                  uint64_t v;
                  if (!wire::read_varint(&p, end, &v)) feature_error(index_, spec, "its packed int64_list is truncated");
                  if (n >= count) count_error(spec, n + 1);
                  col.int64s[base + n++] = static_cast<int64_t>(v);
                }
              } else {
                feature_error(index_, spec, "its int64_list holds a value of the wrong wire type");
              }
              break;
            default:
              if (f.type != wire::kLengthDelimited) feature_error(index_, spec, "its bytes_list holds a value of the wrong wire type");
              if (n >= count) count_error(spec, n + 1);
              col.bytes[base + n++] = f.bytes;
              break;
          }
        }
      }
    } catch (const Error& e) {
      if (e.code() != kDataLoss) throw;
      feature_error(index_, spec, std::string("its ") + list_name(kind) + " is malformed: " + e.what());
    }
    if (n != count) count_error(spec, n);
  }

  const std::vector<FeatureSpec>& specs_;
  const std::vector<Column>& columns_;
  Lookup lookup_;
  std::vector<std::vector<std::string_view>> entries_;  // per spec: the value occurrences of its entry
  std::vector<char> found_;                              // per spec: an entry with its key was seen
  std::vector<std::string_view> values_;                 // the current entry's value occurrences
  std::vector<std::string_view> parts_;                  // the current feature's list occurrences
  int64_t index_ = 0;
};

}  // namespace

void parse_batch(const std::vector<std::string_view>& records, const std::vector<FeatureSpec>& specs,
                 const std::vector<Column>& columns, int64_t first_index) {
  if (columns.size() != specs.size()) throw Error(kInternal, "parse_batch: one column per spec");
  for (const FeatureSpec& spec : specs) {
    const size_t have = spec.kind == kFloat ? spec.default_float.size()
                        : spec.kind == kInt64 ? spec.default_int64.size()
                                              : spec.default_bytes.size();
    if (spec.count < 0 || (spec.has_default && have != static_cast<size_t>(spec.count))) {
      throw Error(kInvalidArgument, "feature " + quoted(spec.name) + ": its default value has " + std::to_string(have) +
                                        " values where its shape " + spec.shape + " takes " +
                                        std::to_string(spec.count));
    }
  }
  Parser parser(specs, columns);
  for (size_t i = 0; i < records.size(); ++i) parser.parse(records[i], first_index + static_cast<int64_t>(i), i);
}

}  // namespace tfbundle::example
