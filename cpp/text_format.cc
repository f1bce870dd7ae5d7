#include "text_format.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <vector>

#include "proto_fields.h"
#include "status.h"

namespace tfbundle {
namespace {

// ------------------------------------------------------------------ schema ---

struct SchemaFieldRow {
  const char* message;
  const char* name;
  int number;
  char kind;  // see text_schema_data.inc
  const char* type;
};

struct SchemaEnumRow {
  const char* enum_name;
  const char* value_name;
  int number;
};

const SchemaFieldRow kFieldRows[] = {
#define TFBUNDLE_SCHEMA_FIELDS
#include "text_schema_data.inc"
#undef TFBUNDLE_SCHEMA_FIELDS
};

const SchemaEnumRow kEnumRows[] = {
#define TFBUNDLE_SCHEMA_ENUMS
#include "text_schema_data.inc"
#undef TFBUNDLE_SCHEMA_ENUMS
};

struct FieldSchema {
  std::string name;
  uint32_t number = 0;
  char kind = 0;
  std::string type;
};

struct Schema {
  std::map<std::string, std::map<std::string, FieldSchema, std::less<>>, std::less<>> messages;
  std::map<std::string, std::map<std::string, int32_t, std::less<>>, std::less<>> enums;
};

const Schema& schema() {
  static const Schema* s = [] {
    auto* out = new Schema;
    for (const auto& row : kFieldRows) {
      if (row.number == 0) {  // a message without fields
        out->messages[row.message];
        continue;
      }
      FieldSchema f;
      f.name = row.name;
      f.number = static_cast<uint32_t>(row.number);
      f.kind = row.kind;
      f.type = row.type;
      out->messages[row.message][row.name] = std::move(f);
    }
    for (const auto& row : kEnumRows) out->enums[row.enum_name][row.value_name] = row.number;
    return out;
  }();
  return *s;
}

// ---------------------------------------------------------------- encoding ---

void put_varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void put_tag(std::string* out, uint32_t number, int wire_type) {
  put_varint(out, (static_cast<uint64_t>(number) << 3) | static_cast<uint64_t>(wire_type));
}

void put_fixed(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_bytes_field(std::string* out, uint32_t number, std::string_view bytes) {
  put_tag(out, number, 2);
  put_varint(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

// --------------------------------------------------------------- tokenizer ---

struct Token {
  enum Kind { kEnd, kIdent, kString, kPunct } kind = kEnd;
  std::string text;  // identifier / number / unescaped string / the punctuation char
  int line = 0;
};

class Lexer {
 public:
  Lexer(std::string_view t, const std::string& what) : t_(t), what_(what) {}

  const Token& peek() {
    if (!has_peeked_) {
      peeked_ = lex();
      has_peeked_ = true;
    }
    return peeked_;
  }
  Token next() {
    peek();
    has_peeked_ = false;
    return std::move(peeked_);
  }
  bool peek_punct(char c) {
    const Token& t = peek();
    return t.kind == Token::kPunct && t.text[0] == c;
  }
  void expect_punct(char c, const char* context) {
    Token t = next();
    if (t.kind != Token::kPunct || t.text[0] != c) fail(t.line, std::string("expected '") + c + "' " + context + ", found " + describe(t));
  }
  // Reads raw characters up to the closing ']' of an extension / Any type name.
  std::string raw_until_bracket() {
    has_peeked_ = false;  // callers only use this right after consuming '['
    std::string out;
    while (i_ < t_.size() && t_[i_] != ']') {
      if (!isspace(static_cast<unsigned char>(t_[i_]))) out.push_back(t_[i_]);
      if (t_[i_] == '\n') ++line_;
      ++i_;
    }
    if (i_ >= t_.size()) fail(line_, "unterminated '[' type name");
    ++i_;
    return out;
  }

  int line() const { return has_peeked_ ? peeked_.line : line_; }

  [[noreturn]] void fail(int line, const std::string& why) const {
    throw Error(kDataLoss, what_ + " is malformed: line " + std::to_string(line) + ": " + why);
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Token::kEnd: return "the end of the file";
      case Token::kIdent: return "'" + t.text + "'";
      case Token::kString: return "a string";
      case Token::kPunct: return "'" + t.text + "'";
    }
    return "?";
  }

 private:
  Token lex() {
    skip_space();
    Token tok;
    tok.line = line_;
    if (i_ >= t_.size()) return tok;
    const char c = t_[i_];
    if (c == '"' || c == '\'') {
      tok.kind = Token::kString;
      tok.text = read_string(c);
      return tok;
    }
    if (std::strchr("{}<>:[],;", c) != nullptr) {
      tok.kind = Token::kPunct;
      tok.text = std::string(1, c);
      ++i_;
      return tok;
    }
    size_t j = i_;
    while (j < t_.size()) {
      const unsigned char d = static_cast<unsigned char>(t_[j]);
      if (isalnum(d) || d == '_' || d == '.' || d == '-' || d == '+') {
        ++j;
      } else {
        break;
      }
    }
    if (j == i_) fail(line_, std::string("unexpected character '") + c + "'");
    tok.kind = Token::kIdent;
    tok.text = std::string(t_.substr(i_, j - i_));
    i_ = j;
    return tok;
  }

  void skip_space() {
    while (i_ < t_.size()) {
      const char c = t_[i_];
      if (c == '#') {
        while (i_ < t_.size() && t_[i_] != '\n') ++i_;
      } else if (isspace(static_cast<unsigned char>(c))) {
        if (c == '\n') ++line_;
        ++i_;
      } else {
        break;
      }
    }
  }

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  static void append_utf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  std::string read_string(char quote) {
    const int start_line = line_;
    std::string out;
    ++i_;
    while (true) {
      if (i_ >= t_.size() || t_[i_] == '\n') fail(start_line, "unterminated string");
      const char c = t_[i_];
      if (c == quote) {
        ++i_;
        return out;
      }
      if (c != '\\') {
        out.push_back(c);
        ++i_;
        continue;
      }
      if (i_ + 1 >= t_.size()) fail(line_, "unterminated string");
      const char e = t_[i_ + 1];
      i_ += 2;
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'v': out.push_back('\v'); break;
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case '?': out.push_back('?'); break;
        case 'x':
        case 'X': {
          int v = 0, n = 0;
          while (n < 2 && i_ < t_.size() && hex_value(t_[i_]) >= 0) v = v * 16 + hex_value(t_[i_++]), ++n;
          if (n == 0) fail(line_, "\\x with no hex digits in a string");
          out.push_back(static_cast<char>(v));
          break;
        }
        case 'u':
        case 'U': {
          const int want = e == 'u' ? 4 : 8;
          uint32_t v = 0;
          for (int n = 0; n < want; ++n) {
            if (i_ >= t_.size() || hex_value(t_[i_]) < 0) fail(line_, "bad \\u escape in a string");
            v = v * 16 + static_cast<uint32_t>(hex_value(t_[i_++]));
          }
          if (v > 0x10ffff) fail(line_, "\\U escape beyond Unicode in a string");
          append_utf8(&out, v);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            int v = e - '0', n = 1;
            while (n < 3 && i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '7') v = v * 8 + (t_[i_++] - '0'), ++n;
            out.push_back(static_cast<char>(v & 0xff));
          } else {
            fail(line_, std::string("unknown escape '\\") + e + "' in a string");
          }
      }
    }
  }

  std::string_view t_;
  const std::string& what_;
  size_t i_ = 0;
  int line_ = 1;
  Token peeked_;
  bool has_peeked_ = false;
};

// ------------------------------------------------------------------ parser ---

class Parser {
 public:
  Parser(std::string_view text, const std::string& what) : lex_(text, what) {}

  // Parses fields of `type` until `close` ('\0' = end of input); appends the encoding to *out.
  void parse_message(const std::string& type, char close, std::string* out, int depth) {
    if (depth > 100) lex_.fail(lex_.peek().line, "messages nested too deeply");
    const auto& messages = schema().messages;
    auto msg = messages.find(type);
    if (msg == messages.end()) lex_.fail(lex_.peek().line, "no schema for message type " + type);
    while (true) {
      const Token& t = lex_.peek();
      if (t.kind == Token::kEnd) {
        if (close != '\0') lex_.fail(t.line, std::string("missing '") + close + "' to close a " + type);
        return;
      }
      if (t.kind == Token::kPunct && (t.text[0] == ',' || t.text[0] == ';')) {
        lex_.next();
        continue;
      }
      if (t.kind == Token::kPunct && t.text[0] == close) {
        lex_.next();
        return;
      }
      if (t.kind == Token::kPunct && t.text[0] == '[') {
        lex_.next();
        parse_expanded_any(type, out, depth);
        continue;
      }
      if (t.kind != Token::kIdent) lex_.fail(t.line, "expected a field name in " + type + ", found " + Lexer::describe(t));
      Token name = lex_.next();
      auto field = msg->second.find(name.text);
      if (field == msg->second.end()) lex_.fail(name.line, type + " has no field named '" + name.text + "'");
      parse_field(field->second, out, depth);
    }
  }

 private:
  void parse_expanded_any(const std::string& type, std::string* out, int depth) {
    const int line = lex_.line();
    const std::string url = lex_.raw_until_bracket();
    if (type != "google.protobuf.Any") lex_.fail(line, "extension [" + url + "] in " + type + " is not supported");
    const size_t slash = url.rfind('/');
    const std::string inner = slash == std::string::npos ? url : url.substr(slash + 1);
    if (schema().messages.count(inner) == 0) lex_.fail(line, "cannot expand an Any of unknown type " + inner);
    if (lex_.peek_punct(':')) lex_.next();
    const char close = open_message("Any value");
    std::string value;
    parse_message(inner, close, &value, depth + 1);
    put_bytes_field(out, pb::protobuf::Any::kTypeUrl, url);
    put_bytes_field(out, pb::protobuf::Any::kValue, value);
  }

  char open_message(const char* context) {
    Token t = lex_.next();
    if (t.kind == Token::kPunct && t.text[0] == '{') return '}';
    if (t.kind == Token::kPunct && t.text[0] == '<') return '>';
    lex_.fail(t.line, std::string("expected '{' to open ") + context + ", found " + Lexer::describe(t));
  }

  void parse_field(const FieldSchema& f, std::string* out, int depth) {
    if (f.kind == 'm') {
      bool list = false;
      if (lex_.peek_punct(':')) lex_.next();
      if (lex_.peek_punct('[')) {  // `field: [ {...}, {...} ]`, the ':' being optional
        lex_.next();
        list = true;
      }
      if (!list) {
        parse_one_message(f, out, depth);
        return;
      }
      if (lex_.peek_punct(']')) {
        lex_.next();
        return;
      }
      while (true) {
        parse_one_message(f, out, depth);
        Token t = lex_.next();
        if (t.kind == Token::kPunct && t.text[0] == ']') return;
        if (t.kind != Token::kPunct || t.text[0] != ',') lex_.fail(t.line, "expected ',' or ']' in the list of " + f.name);
      }
    }
    lex_.expect_punct(':', ("after " + f.name).c_str());
    if (lex_.peek_punct('[')) {
      lex_.next();
      if (lex_.peek_punct(']')) {
        lex_.next();
        return;
      }
      while (true) {
        parse_scalar(f, out);
        Token t = lex_.next();
        if (t.kind == Token::kPunct && t.text[0] == ']') return;
        if (t.kind != Token::kPunct || t.text[0] != ',') lex_.fail(t.line, "expected ',' or ']' in the list of " + f.name);
      }
    }
    parse_scalar(f, out);
  }

  void parse_one_message(const FieldSchema& f, std::string* out, int depth) {
    const char close = open_message(f.name.c_str());
    std::string inner;
    parse_message(f.type, close, &inner, depth + 1);
    put_bytes_field(out, f.number, inner);
  }

  // An integer literal: decimal, 0x hex or 0 octal, with an optional sign.
  static bool parse_int(const std::string& s, bool* negative, uint64_t* magnitude) {
    size_t i = 0;
    *negative = false;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) *negative = s[i++] == '-';
    if (i >= s.size()) return false;
    int base = 10;
    if (s.size() - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
      base = 16;
      i += 2;
    } else if (s.size() - i > 1 && s[i] == '0') {
      base = 8;
      ++i;
    }
    uint64_t v = 0;
    for (; i < s.size(); ++i) {
      int d;
      const char c = s[i];
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        return false;
      }
      if (d >= base) return false;
      if (v > (std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) return false;
      v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
    }
    *magnitude = v;
    return true;
  }

  static bool parse_double(std::string s, double* out) {
    std::string lower;
    for (char c : s) lower.push_back(static_cast<char>(tolower(static_cast<unsigned char>(c))));
    bool neg = false;
    std::string body = lower;
    if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
      neg = body[0] == '-';
      body = body.substr(1);
    }
    if (body == "inf" || body == "infinity" || body == "inff" || body == "infinityf") {
      *out = neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
      return true;
    }
    if (body == "nan" || body == "nanf") {
      *out = std::numeric_limits<double>::quiet_NaN();
      return true;
    }
    if (!s.empty() && (s.back() == 'f' || s.back() == 'F') && s.find_first_of("xX") == std::string::npos) s.pop_back();
    if (s.empty()) return false;
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size()) return false;
    *out = v;
    return true;
  }

  void parse_scalar(const FieldSchema& f, std::string* out) {
    Token t = lex_.next();
    if (f.kind == 's') {
      if (t.kind != Token::kString) lex_.fail(t.line, "expected a string for " + f.name + ", found " + Lexer::describe(t));
      std::string value = std::move(t.text);
      while (lex_.peek().kind == Token::kString) value += lex_.next().text;  // "a" "b" == "ab"
      put_bytes_field(out, f.number, value);
      return;
    }
    if (t.kind != Token::kIdent) lex_.fail(t.line, "expected a value for " + f.name + ", found " + Lexer::describe(t));
    const std::string& s = t.text;
    bool neg = false;
    uint64_t mag = 0;
    switch (f.kind) {
      case 'b': {
        uint64_t v;
        if (s == "true" || s == "True" || s == "t" || s == "1") {
          v = 1;
        } else if (s == "false" || s == "False" || s == "f" || s == "0") {
          v = 0;
        } else {
          lex_.fail(t.line, "expected true or false for " + f.name + ", found '" + s + "'");
        }
        put_tag(out, f.number, 0);
        put_varint(out, v);
        return;
      }
      case 'e': {
        int64_t v;
        if (parse_int(s, &neg, &mag)) {
          // Enum values are int32 (protobuf's text parser refuses others); checking the range
          // first also keeps the negation below from overflowing.
          if (mag > (neg ? uint64_t{1} << 31 : uint64_t{INT32_MAX})) {
            lex_.fail(t.line, "enum value out of range for " + f.name + ": " + s);
          }
          v = neg ? -static_cast<int64_t>(mag) : static_cast<int64_t>(mag);
        } else {
          const auto& enums = schema().enums;
          auto e = enums.find(f.type);
          if (e == enums.end()) lex_.fail(t.line, "no schema for enum " + f.type);
          auto value = e->second.find(s);
          if (value == e->second.end()) lex_.fail(t.line, f.type + " has no value named '" + s + "' (field " + f.name + ")");
          v = value->second;
        }
        put_tag(out, f.number, 0);
        put_varint(out, static_cast<uint64_t>(v));
        return;
      }
      case 'i':
      case 'u':
      case 'z': {
        if (!parse_int(s, &neg, &mag)) lex_.fail(t.line, "expected an integer for " + f.name + ", found '" + s + "'");
        if (f.kind == 'u' && neg && mag != 0) lex_.fail(t.line, "expected an unsigned integer for " + f.name + ", found '" + s + "'");
        if (neg && mag > (uint64_t{1} << 63)) lex_.fail(t.line, "integer out of range for " + f.name + ": " + s);
        const uint64_t v = neg ? ~mag + 1 : mag;  // two's complement
        put_tag(out, f.number, 0);
        if (f.kind == 'z') {
          const int64_t sv = static_cast<int64_t>(v);
          put_varint(out, (static_cast<uint64_t>(sv) << 1) ^ static_cast<uint64_t>(sv >> 63));
        } else {
          put_varint(out, v);
        }
        return;
      }
      case 'x':
      case 'X': {
        if (!parse_int(s, &neg, &mag)) lex_.fail(t.line, "expected an integer for " + f.name + ", found '" + s + "'");
        const uint64_t v = neg ? ~mag + 1 : mag;
        put_tag(out, f.number, f.kind == 'x' ? 5 : 1);
        put_fixed(out, v, f.kind == 'x' ? 4 : 8);
        return;
      }
      case 'f':
      case 'd': {
        double v;
        if (!parse_double(s, &v)) lex_.fail(t.line, "expected a number for " + f.name + ", found '" + s + "'");
        if (f.kind == 'f') {
          const float fv = static_cast<float>(v);
          uint32_t bits;
          std::memcpy(&bits, &fv, 4);
          put_tag(out, f.number, 5);
          put_fixed(out, bits, 4);
        } else {
          uint64_t bits;
          std::memcpy(&bits, &v, 8);
          put_tag(out, f.number, 1);
          put_fixed(out, bits, 8);
        }
        return;
      }
      default:
        lex_.fail(t.line, "field " + f.name + " has an unsupported kind");
    }
  }

  Lexer lex_;
};

}  // namespace

std::string text_to_binary(std::string_view text, std::string_view message_type, const std::string& what) {
  const std::string type(message_type);
  if (schema().messages.count(type) == 0) throw Error(kInvalidArgument, "no text-format schema for " + type);
  std::string out;
  Parser(text, what).parse_message(type, '\0', &out, 0);
  return out;
}

}  // namespace tfbundle
