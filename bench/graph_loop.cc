// The floor for loading a TF1 checkpoint graph: TensorFlow's C API in a C++ loop.
//
// bench/bench_graphs.py builds this file at run time into bench/_build/graph_loop (g++ -O2
// against the TensorFlow wheel's C headers, linked to libtensorflow_cc.so.2 and
// libtensorflow_framework.so.2) and runs it as a program:
//
//   graph_loop META_FILE CHECKPOINT_PREFIX ITERATIONS [FEED_TENSOR FETCH_TENSOR N_FLOATS...]
//
// Each iteration does what tf.compat.v1.train.import_meta_graph + Saver.restore do, and what
// tfbundle.load_checkpoint_graph does through the same C API: read the .meta file, take the
// GraphDef and the SaverDef out of the MetaGraphDef, TF_GraphImportGraphDef into a new graph,
// TF_NewSession (allow_soft_placement, as tfbundle and TensorFlow's Python loaders set it),
// TF_SessionRun of the restore op with the prefix fed to the filename tensor. With a feed and a
// fetch, it then makes one call (a float32 input of the given shape, all 0.5) and times it as the
// first call. Everything is torn down before the next iteration.
//
// Output: one JSON object on stdout, with each iteration's times in microseconds.

#include <tensorflow/c/c_api.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double us_since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "graph_loop: %s\n", what.c_str());
  std::exit(1);
}

void check(TF_Status* status, const std::string& what) {
  if (TF_GetCode(status) != TF_OK) fail(what + ": " + TF_Message(status));
}

// A minimal protobuf wire-format walker: enough to find fields of the MetaGraphDef.
struct Field {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t value = 0;
  const char* data = nullptr;
  size_t size = 0;
};

bool read_varint(const char*& p, const char* end, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const auto byte = static_cast<uint8_t>(*p++);
    v |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if (byte < 0x80) {
      *out = v;
      return true;
    }
  }
  return false;
}

bool next_field(const char*& p, const char* end, Field* f) {
  if (p >= end) return false;
  uint64_t key;
  if (!read_varint(p, end, &key)) fail("malformed protobuf key");
  f->number = static_cast<uint32_t>(key >> 3);
  f->wire_type = static_cast<uint32_t>(key & 7);
  switch (f->wire_type) {
    case 0:
      if (!read_varint(p, end, &f->value)) fail("malformed varint");
      break;
    case 1:
      if (end - p < 8) fail("truncated fixed64");
      p += 8;
      break;
    case 2: {
      uint64_t len;
      if (!read_varint(p, end, &len) || len > static_cast<uint64_t>(end - p)) fail("truncated field");
      f->data = p;
      f->size = static_cast<size_t>(len);
      p += len;
      break;
    }
    case 5:
      if (end - p < 4) fail("truncated fixed32");
      p += 4;
      break;
    default:
      fail("unsupported wire type");
  }
  return true;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct MetaGraph {
  std::string graph_def;
  std::string filename_tensor;  // SaverDef.filename_tensor_name = 1
  std::string restore_op;       // SaverDef.restore_op_name = 3
};

MetaGraph parse_meta(const std::string& bytes) {
  MetaGraph mg;
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  Field f;
  while (next_field(p, end, &f)) {
    if (f.wire_type != 2) continue;
    if (f.number == 2) mg.graph_def.assign(f.data, f.size);
    if (f.number == 3) {
      const char* q = f.data;
      const char* qend = q + f.size;
      Field g;
      while (next_field(q, qend, &g)) {
        if (g.wire_type != 2) continue;
        if (g.number == 1) mg.filename_tensor.assign(g.data, g.size);
        if (g.number == 3) mg.restore_op.assign(g.data, g.size);
      }
    }
  }
  if (mg.graph_def.empty() || mg.restore_op.empty()) fail("the .meta file has no graph or no SaverDef");
  return mg;
}

TF_Output output_of(TF_Graph* graph, const std::string& name) {
  std::string op = name;
  int index = 0;
  const size_t colon = name.rfind(':');
  if (colon != std::string::npos) {
    op = name.substr(0, colon);
    index = std::atoi(name.c_str() + colon + 1);
  }
  TF_Operation* oper = TF_GraphOperationByName(graph, op.c_str());
  if (oper == nullptr) fail("no operation " + op);
  return TF_Output{oper, index};
}

TF_Tensor* string_scalar(const std::string& s) {
  TF_Tensor* t = TF_AllocateTensor(TF_STRING, nullptr, 0, sizeof(TF_TString));
  auto* tstr = static_cast<TF_TString*>(TF_TensorData(t));
  TF_StringInit(tstr);
  TF_StringCopy(tstr, s.data(), s.size());
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) fail("usage: graph_loop META PREFIX ITERATIONS [FEED FETCH DIM...]");
  const std::string meta_path = argv[1];
  const std::string prefix = argv[2];
  const int iterations = std::atoi(argv[3]);
  const bool call = argc >= 6;
  std::vector<int64_t> dims;
  for (int i = 6; i < argc; ++i) dims.push_back(std::atoll(argv[i]));

  // ConfigProto.allow_soft_placement = 7: true.
  const char config[] = {0x38, 0x01};
  std::string json = "{\"iterations\": [";
  for (int it = 0; it < iterations; ++it) {
    const auto start = Clock::now();
    const MetaGraph mg = parse_meta(read_file(meta_path));
    const double read_us = us_since(start);

    TF_Status* status = TF_NewStatus();
    TF_Graph* graph = TF_NewGraph();
    auto t = Clock::now();
    TF_Buffer* graph_def = TF_NewBufferFromString(mg.graph_def.data(), mg.graph_def.size());
    TF_ImportGraphDefOptions* opts = TF_NewImportGraphDefOptions();
    TF_GraphImportGraphDef(graph, graph_def, opts, status);
    check(status, "import");
    TF_DeleteImportGraphDefOptions(opts);
    TF_DeleteBuffer(graph_def);
    const double import_us = us_since(t);

    t = Clock::now();
    TF_SessionOptions* session_opts = TF_NewSessionOptions();
    TF_SetConfig(session_opts, config, sizeof(config), status);
    check(status, "config");
    TF_Session* session = TF_NewSession(graph, session_opts, status);
    check(status, "session");
    TF_DeleteSessionOptions(session_opts);
    const double session_us = us_since(t);

    t = Clock::now();
    TF_Output filename = output_of(graph, mg.filename_tensor);
    TF_Operation* restore = TF_GraphOperationByName(graph, mg.restore_op.c_str());
    if (restore == nullptr) fail("no restore op " + mg.restore_op);
    TF_Tensor* prefix_tensor = string_scalar(prefix);
    TF_SessionRun(session, nullptr, &filename, &prefix_tensor, 1, nullptr, nullptr, 0, &restore, 1, nullptr, status);
    check(status, "restore");
    TF_StringDealloc(static_cast<TF_TString*>(TF_TensorData(prefix_tensor)));
    TF_DeleteTensor(prefix_tensor);
    const double restore_us = us_since(t);
    const double load_us = us_since(start);

    double first_call_us = -1;
    if (call) {
      TF_Output feed = output_of(graph, argv[4]);
      TF_Output fetch = output_of(graph, argv[5]);
      int64_t n = 1;
      for (int64_t d : dims) n *= d;
      t = Clock::now();
      TF_Tensor* input = TF_AllocateTensor(TF_FLOAT, dims.data(), static_cast<int>(dims.size()), n * sizeof(float));
      auto* values = static_cast<float*>(TF_TensorData(input));
      for (int64_t i = 0; i < n; ++i) values[i] = 0.5f;
      TF_Tensor* output = nullptr;
      TF_SessionRun(session, nullptr, &feed, &input, 1, &fetch, &output, 1, nullptr, 0, nullptr, status);
      check(status, "first call");
      first_call_us = us_since(t);
      TF_DeleteTensor(input);
      TF_DeleteTensor(output);
    }
    TF_CloseSession(session, status);
    TF_DeleteSession(session, status);
    TF_DeleteGraph(graph);
    TF_DeleteStatus(status);

    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "%s{\"read_us\": %.1f, \"import_us\": %.1f, \"session_us\": %.1f, \"restore_us\": %.1f, "
                  "\"load_us\": %.1f, \"first_call_us\": %.1f}",
                  it ? ", " : "", read_us, import_us, session_us, restore_us, load_us, first_call_us);
    json += buf;
  }
  json += "]}";
  std::printf("%s\n", json.c_str());
  return 0;
}
