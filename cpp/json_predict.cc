#include "json_predict.h"

#include <charconv>
#include <system_error>

namespace tfbundle::json {
namespace {

constexpr int64_t kFloat64Exact = int64_t{1} << 53;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Reader {
 public:
  explicit Reader(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  std::optional<PredictBody> body() {
    PredictBody out;
    bool has_name = false, has_tensor = false;
    skip_ws();
    if (!eat('{')) return std::nullopt;
    while (true) {
      skip_ws();
      std::string_view key;
      if (!string(key)) return std::nullopt;
      skip_ws();
      if (!eat(':')) return std::nullopt;
      skip_ws();
      if (key == "signature_name") {
        std::string_view name;
        if (has_name || !string(name)) return std::nullopt;
        out.signature_name.assign(name);
        has_name = true;
      } else if (key == "instances" || key == "inputs") {
        if (has_tensor || at_end() || *p_ != '[') return std::nullopt;  // both keys: the full rules' error
        out.row = key == "instances";
        if (!list(0, out)) return std::nullopt;
        has_tensor = true;
      } else {
        return std::nullopt;
      }
      skip_ws();
      if (eat(',')) continue;
      if (eat('}')) break;
      return std::nullopt;
    }
    skip_ws();
    if (!at_end() || !has_tensor || out.shape.size() != rank_) return std::nullopt;
    return out;
  }

 private:
  bool at_end() const { return p_ == end_; }

  bool eat(char c) {
    if (p_ != end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  void skip_ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  // A string of printable ASCII without escapes (anything else is left to the full rules).
  bool string(std::string_view& out) {
    if (!eat('"')) return false;
    const char* start = p_;
    while (p_ != end_ && *p_ != '"') {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '\\' || c < 0x20 || c >= 0x7f) return false;
      ++p_;
    }
    if (p_ == end_) return false;
    out = std::string_view(start, static_cast<size_t>(p_ - start));
    ++p_;
    return true;
  }

  // The list at `level` (at its '['); its length must equal the first one of its level.
  bool list(size_t level, PredictBody& out) {
    if (level >= kMaxPredictRank) return false;
    ++p_;  // '['
    if (out.shape.size() <= level) out.shape.resize(level + 1, -1);
    int64_t count = 0;
    while (true) {
      skip_ws();
      if (at_end()) return false;
      if (*p_ == '[') {
        if (rank_ != 0 && level + 1 >= rank_) return false;  // a list where numbers were
        if (!list(level + 1, out)) return false;
      } else {
        if (rank_ == 0) rank_ = level + 1;  // the first number fixes the rank
        if (level + 1 != rank_ || !number(out)) return false;
      }
      ++count;
      skip_ws();
      if (eat(',')) continue;
      if (eat(']')) break;
      return false;
    }
    int64_t& expected = out.shape[level];
    if (expected == -1) {
      expected = count;
    } else if (expected != count) {
      return false;
    }
    return true;
  }

  // A JSON number (RFC 8259's grammar), as the full rules read it.
  bool number(PredictBody& out) {
    const char* start = p_;
    eat('-');
    if (at_end() || !is_digit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ != end_ && is_digit(*p_)) ++p_;
    }
    bool integer = true;
    if (eat('.')) {
      integer = false;
      if (at_end() || !is_digit(*p_)) return false;
      while (p_ != end_ && is_digit(*p_)) ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (!eat('+')) eat('-');
      if (at_end() || !is_digit(*p_)) return false;
      while (p_ != end_ && is_digit(*p_)) ++p_;
    }
    if (integer) {
      // A Python int first (so "-0" is 0, not -0.0); beyond 2^53 the float64 is not exact.
      if (p_ - start > 17) return false;
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(start, p_, v);
      if (ec != std::errc() || ptr != p_ || v > kFloat64Exact || v < -kFloat64Exact) return false;
      out.values.push_back(static_cast<double>(v));
      return true;
    }
    double v = 0;
    auto [ptr, ec] = std::from_chars(start, p_, v);
    if (ec != std::errc() || ptr != p_) return false;  // out of range: the full rules decide
    out.values.push_back(v);
    return true;
  }

  const char* p_;
  const char* end_;
  size_t rank_ = 0;  // 0 until the first number
};

}  // namespace

std::optional<PredictBody> parse_predict_body(std::string_view body) { return Reader(body).body(); }

}  // namespace tfbundle::json
