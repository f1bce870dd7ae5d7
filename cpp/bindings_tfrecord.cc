// Bindings of the TFRecord framing scanner (tfrecord.h): _core.scan_records, the inner loop of
// python/tfbundle/_readers/tfrecord.py. The piece is scanned (checksums included) with the GIL
// released; the records become bytes objects once it is back.
#include <Python.h>
#include <pybind11/pybind11.h>

#include <cstddef>

#include "bindings.h"
#include "tfrecord.h"
#include "without_gil.h"

namespace py = pybind11;

namespace tfbundle {

void bind_tfrecord(py::module_& m) {
  m.def(
      "scan_records",
      [](const py::object& piece, size_t pos, size_t max_records, bool check_crc) {
        Py_buffer view;
        if (PyObject_GetBuffer(piece.ptr(), &view, PyBUF_C_CONTIGUOUS) != 0) throw py::error_already_set();
        tfrecord::Scan found;
        try {
          without_gil([&] {
            found = tfrecord::scan(std::string_view(static_cast<const char*>(view.buf), static_cast<size_t>(view.len)),
                                   pos, max_records, check_crc);
          });
          py::list records(found.records.size());
          for (size_t i = 0; i < found.records.size(); ++i) {
            records[i] = py::bytes(found.records[i].data(), found.records[i].size());
          }
          PyBuffer_Release(&view);
          return py::make_tuple(records, found.pos, found.need, static_cast<int>(found.error));
        } catch (...) {
          PyBuffer_Release(&view);
          throw;
        }
      },
      py::arg("piece"), py::arg("pos"), py::arg("max_records"), py::arg("check_crc") = true,
      "(records, pos, need, error): up to max_records whole TFRecord records of piece from pos on, as bytes.\n"
      "pos: where the next record starts; need: the bytes it takes from pos (12 when its header is not\n"
      "there); error: 0, 1 (a length's checksum is wrong) or 2 (a record's data checksum is wrong), the\n"
      "bad record starting at pos.");
}

}  // namespace tfbundle
