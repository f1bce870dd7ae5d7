// The cold-start floor: a C program that loads a SavedModel and runs one prediction, nothing else.
//
// bench/run.py builds this file at run time into bench/_build/c_coldstart (g++ -O2 against the
// TensorFlow wheel's C headers, linked to libtensorflow_cc.so.2 and libtensorflow_framework.so.2,
// so that the dynamic loader opens them before main()) and runs it as a fresh process per repeat:
//
//   c_coldstart EXPORT_DIR INPUT_TENSOR OUTPUT_TENSOR DIM [DIM ...]
//
// e.g. `c_coldstart models/dense serving_default_x:0 StatefulPartitionedCall:0 1 256`. It calls
// TF_LoadSessionFromSavedModel (tag "serve"; TensorFlow restores the variables and runs the init
// op) and one TF_SessionRun on a float32 input of zeros of the given shape, then prints one line
//
//   TFB_BENCH_DONE <t_done> main <t_main> load <t_loaded>
//
// with CLOCK_MONOTONIC seconds (the clock Python's time.monotonic() reads on Linux): at the first
// prediction's end, at main()'s start (the libraries are open by then) and after the load. It
// exits with status 1 and a message on stderr if anything fails.

#include <tensorflow/c/c_api.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

double now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// "name:3" -> ("name", 3); "name" -> ("name", 0).
TF_Output tensor(TF_Graph* graph, const std::string& spec, bool* ok) {
  std::string name = spec;
  int index = 0;
  const size_t colon = spec.rfind(':');
  if (colon != std::string::npos) {
    name = spec.substr(0, colon);
    index = std::atoi(spec.c_str() + colon + 1);
  }
  TF_Operation* op = TF_GraphOperationByName(graph, name.c_str());
  *ok = op != nullptr;
  return TF_Output{op, index};
}

int fail(const char* what, TF_Status* status) {
  std::fprintf(stderr, "c_coldstart: %s: %s\n", what, status != nullptr ? TF_Message(status) : "");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const double t_main = now();
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s EXPORT_DIR INPUT_TENSOR OUTPUT_TENSOR DIM [DIM ...]\n", argv[0]);
    return 2;
  }
  std::vector<int64_t> dims;
  int64_t count = 1;
  for (int i = 4; i < argc; ++i) {
    dims.push_back(std::atoll(argv[i]));
    count *= dims.back();
  }

  TF_Status* status = TF_NewStatus();
  TF_Graph* graph = TF_NewGraph();
  TF_SessionOptions* options = TF_NewSessionOptions();
  const char* tags[] = {"serve"};
  TF_Session* session =
      TF_LoadSessionFromSavedModel(options, nullptr, argv[1], tags, 1, graph, nullptr, status);
  TF_DeleteSessionOptions(options);
  if (TF_GetCode(status) != TF_OK) return fail("TF_LoadSessionFromSavedModel", status);
  const double t_loaded = now();

  bool in_ok = false;
  bool out_ok = false;
  TF_Output input = tensor(graph, argv[2], &in_ok);
  TF_Output output = tensor(graph, argv[3], &out_ok);
  if (!in_ok || !out_ok) return fail("tensor not in the graph", nullptr);
  const size_t nbytes = static_cast<size_t>(count) * sizeof(float);
  TF_Tensor* in = TF_AllocateTensor(TF_FLOAT, dims.data(), static_cast<int>(dims.size()), nbytes);
  std::memset(TF_TensorData(in), 0, nbytes);
  TF_Tensor* out = nullptr;
  TF_SessionRun(session, nullptr, &input, &in, 1, &output, &out, 1, nullptr, 0, nullptr, status);
  if (TF_GetCode(status) != TF_OK) return fail("TF_SessionRun", status);
  const double t_done = now();
  std::printf("TFB_BENCH_DONE %.6f main %.6f load %.6f\n", t_done, t_main, t_loaded);
  std::fflush(stdout);

  TF_DeleteTensor(in);
  TF_DeleteTensor(out);
  TF_CloseSession(session, status);
  TF_DeleteSession(session, status);
  TF_DeleteGraph(graph);
  TF_DeleteStatus(status);
  return 0;
}
