// Bindings of the TensorBundle reader (tensor_bundle.h): _core.BundleReader.
//
// A numeric tensor becomes a read-only numpy array over the mapped data shard;
// its base is a capsule holding a shared_ptr to the mapping, so the array
// stays valid after the reader is closed and the mapping goes away with the
// last array. Strings are decoded into object arrays of bytes (a copy), and
// data written on a machine of the other byte order is copied and swapped.
// The numpy dtypes and arrays are made as for model outputs (bindings_tensor.h).
// Index parsing, string decoding and CRC checks run without the GIL.
#include <Python.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "bindings.h"
#include "bundle_writer.h"
#include "without_gil.h"
#include "bindings_tensor.h"
#include "crc32c.h"
#include "sstable.h"
#include "status.h"
#include "tensor_bundle.h"
#include "tf_c_api.h"

namespace py = pybind11;

namespace tfbundle {
namespace {

using Owner = std::shared_ptr<const MappedFile>;

// Keys are bytes; Python sees them as str decoded with surrogateescape
// (proto_str), so any key (even one that is not UTF-8, or a slice key) round-trips.
py::str key_to_py(const std::string& key) { return proto_str(key); }

std::string key_from_py(const py::handle& key) {
  std::string out;
  if (!string_bytes(key, "a checkpoint key", &out)) {
    throw Error(kInvalidType, "a checkpoint key must be str or bytes, got " + python_type_name(key));
  }
  return out;
}

py::dtype numpy_dtype(const BundleReader& reader, const BundleEntry& e) {
  PyObject* d = numpy_dtype_or_null(e.dtype, false);
  if (d == nullptr) {
    throw Error(kUnimplemented, "checkpoint entry " + quote_key(e.key) + " in " + reader.index_path() + " has dtype " +
                                    dtype_name(e.dtype) + ", which has no numpy form" +
                                    (e.dtype >= pb::DT_BFLOAT16 ? " (install a recent ml_dtypes)" : ""));
  }
  return py::reinterpret_borrow<py::dtype>(d);
}

py::tuple shape_tuple(const std::vector<int64_t>& shape) {
  py::tuple t(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) t[i] = py::int_(shape[i]);
  return t;
}

const BundleEntry& find_entry(const BundleReader& reader, const std::string& key) {
  const BundleEntry* e = reader.index().find(key);
  if (e == nullptr) {
    throw Error(kNotFound, "no tensor " + quote_key(key) + " in checkpoint " + reader.prefix() +
                               " (list the names with keys())");
  }
  return *e;
}

py::array numeric_array(const BundleReader& reader, const BundleEntry& e, bool verify) {
  py::dtype dtype = numpy_dtype(reader, e);
  TensorBytes bytes;
  without_gil([&] {
    bytes = reader.tensor_bytes(e, verify);
  });
  if (reader.needs_byte_swap()) {
    std::vector<py::ssize_t> shape(e.shape.begin(), e.shape.end());
    py::array out(dtype, shape);
    if (bytes.size > 0) {
      std::memcpy(out.mutable_data(), bytes.data, bytes.size);
      byte_swap_elements(static_cast<char*>(out.mutable_data()), bytes.size, e.dtype);
    }
    return out;
  }
  auto* holder = new Owner(bytes.owner);
  py::capsule base(holder, "tfbundle.MappedShard", [](void* p) { delete static_cast<Owner*>(p); });
  return view_array(dtype, e.shape, bytes.data, std::move(base), false);
}

py::array string_array(const BundleReader& reader, const BundleEntry& e, bool verify) {
  Owner owner;
  std::vector<std::string_view> elements;
  without_gil([&] {
    elements = reader.string_elements(e, verify, &owner);
  });
  return bytes_array(elements, e.shape);
}

py::array tensor_array(const BundleReader& reader, const BundleEntry& e, bool verify) {
  if (e.dtype == pb::DT_STRING) return string_array(reader, e, verify);
  return numeric_array(reader, e, verify);
}

py::tuple extents_tuple(const TensorSlice& slice) {
  py::tuple t(slice.size());
  for (size_t i = 0; i < slice.size(); ++i) t[i] = py::make_tuple(slice[i].start, slice[i].length);
  return t;
}

std::vector<std::string> bytes_list(const py::list& shards) {
  std::vector<std::string> out;
  for (const py::handle& s : shards) {
    try {
      out.push_back(s.cast<std::string>());
    } catch (const py::cast_error&) {
      throw Error(kInvalidType, "a data shard must be bytes, got " + python_type_name(s));
    }
  }
  return out;
}

// An index entry as Python sees it (_core.CheckpointEntry): a copy, so that
// it does not keep the reader alive.
py::object entry_to_py(const BundleEntry& e) { return py::cast(e); }

}  // namespace

void bind_checkpoint(py::module_& m) {
  py::class_<BundleEntry>(m, "CheckpointEntry", "One tensor's entry in a checkpoint's index (read-only).")
      .def_property_readonly("key", [](const BundleEntry& e) { return key_to_py(e.key); },
                             "the tensor's name (bytes that are not UTF-8 decoded with surrogateescape)")
      .def_readonly("dtype", &BundleEntry::dtype, "the DataType value")
      .def_property_readonly("shape", [](const BundleEntry& e) { return shape_tuple(e.shape); })
      .def_readonly("shard_id", &BundleEntry::shard_id, "the data shard holding its bytes")
      .def_readonly("offset", &BundleEntry::offset, "where its bytes start in the shard")
      .def_readonly("size", &BundleEntry::size, "how many bytes it takes in the shard")
      .def_readonly("crc32c", &BundleEntry::crc32c, "the masked CRC-32C of its bytes, as stored")
      .def_property_readonly(
          "slices",
          [](const BundleEntry& e) {
            py::tuple t(e.slices.size());
            for (size_t i = 0; i < e.slices.size(); ++i) t[i] = extents_tuple(e.slices[i]);
            return t;
          },
          "a partitioned tensor's stored slices, each ((start, length), ...) per dimension; () if not partitioned")
      .def("__repr__", [](const BundleEntry& e) {
        return "<CheckpointEntry " + quote_key(e.key) + " " + dtype_name(e.dtype) + " " +
               std::to_string(e.shape.size()) + "-d, shard " + std::to_string(e.shard_id) + ">";
      });

  py::class_<BundleReader, std::shared_ptr<BundleReader>> cls(m, "BundleReader", R"doc(
A TensorBundle (checkpoint) reader over memory-mapped data shards.

Low-level: use tfbundle.open_checkpoint(), which finds the prefix of a
SavedModel or checkpoint folder and offers friendly names.
)doc");
  cls.def(py::init([](const std::string& prefix) {
            return without_gil([&] { return BundleReader::open(prefix); });
          }),
          py::arg("prefix"), "Opens PREFIX.index (parsed now) and maps PREFIX.data-* shards when first read.")
      .def_static(
          "from_bytes",
          [](const py::bytes& index, const py::list& shards, const std::string& name) {
            std::string index_bytes = index;
            std::vector<std::string> shard_bytes = bytes_list(shards);
            return without_gil(
                [&] { return BundleReader::from_bytes(std::move(index_bytes), std::move(shard_bytes), name); });
          },
          py::arg("index"), py::arg("shards"), py::arg("name") = "<memory>",
          "A reader over an index and data shards held in bytes (tests and fuzzing).")
      .def_property_readonly("prefix", &BundleReader::prefix)
      .def_property_readonly("index_path", &BundleReader::index_path)
      .def_property_readonly("num_shards", [](const BundleReader& r) { return r.index().header().num_shards; })
      .def_property_readonly("big_endian", [](const BundleReader& r) { return r.index().header().big_endian; })
      .def_property_readonly("version",
                             [](const BundleReader& r) {
                               const BundleHeader& h = r.index().header();
                               return py::make_tuple(h.producer, h.min_consumer);
                             })
      .def(
          "keys",
          [](const BundleReader& r, bool include_slices) {
            py::list out;
            for (const BundleEntry& e : r.index().entries()) {
              if (include_slices || !e.is_slice_key()) out.append(key_to_py(e.key));
            }
            return out;
          },
          py::arg("include_slices") = false, "Tensor names in key order (slice keys only if asked).")
      .def(
          "entries",
          [](const BundleReader& r) {
            py::list out;
            for (const BundleEntry& e : r.index().entries()) {
              if (!e.is_slice_key()) out.append(entry_to_py(e));
            }
            return out;
          },
          "The index entry (a CheckpointEntry) of every tensor, in key order, slice keys left out.")
      .def(
          "entry",
          [](const BundleReader& r, const py::object& key) { return entry_to_py(find_entry(r, key_from_py(key))); },
          py::arg("key"), "The index entry (a CheckpointEntry) stored under key, slice keys included.")
      .def("__contains__",
           [](const BundleReader& r, const py::object& key) { return r.index().find(key_from_py(key)) != nullptr; })
      .def(
          "tensor",
          [](const BundleReader& r, const py::object& key, bool verify) {
            return tensor_array(r, find_entry(r, key_from_py(key)), verify);
          },
          py::arg("key"), py::arg("verify") = false,
          "The tensor stored under key: a read-only view for numbers, an object array of bytes for strings.")
      .def(
          "slice_parts",
          [](const BundleReader& r, const py::object& key) {
            const BundleEntry& full = find_entry(r, key_from_py(key));
            std::vector<SlicePart> parts;
            without_gil([&] {
              parts = r.slice_parts(full);
            });
            py::list out;
            for (const SlicePart& p : parts) out.append(py::make_tuple(extents_tuple(p.extents), key_to_py(p.entry->key)));
            return out;
          },
          py::arg("key"), "[(((start, length), ...), slice_key), ...] of a partitioned tensor, checked.")
      .def(
          "verify",
          [](const BundleReader& r, const py::object& key) {
            const BundleEntry& e = find_entry(r, key_from_py(key));
            without_gil([&] { r.verify_entry(e); });
          },
          py::arg("key"), "Checks one entry completely (bounds, sizes, CRC-32C); raises on the first problem.")
      .def(
          "verify_all",
          [](const BundleReader& r) {
            std::vector<std::pair<std::string, std::string>> problems;
            without_gil([&] {
              problems = r.verify_all();
            });
            py::list out;
            for (const auto& [key, message] : problems) out.append(py::make_tuple(key_to_py(key), key_to_py(message)));
            return out;
          },
          "Checks every entry; returns [(key, message), ...] for those that fail.")
      .def("shard_path", &BundleReader::shard_path, py::arg("shard_id"));

  m.def(
      "parse_object_graph",
      [](const py::bytes& data) {
        std::string bytes = data;
        std::vector<ObjectGraphNode> nodes;
        without_gil([&] {
          nodes = parse_object_graph(bytes);
        });
        py::list out;
        for (const ObjectGraphNode& n : nodes) {
          py::list children, attributes, slots;
          for (const auto& c : n.children) children.append(py::make_tuple(c.node_id, key_to_py(c.local_name)));
          for (const auto& a : n.attributes) {
            attributes.append(py::make_tuple(key_to_py(a.name), key_to_py(a.full_name), key_to_py(a.checkpoint_key)));
          }
          for (const auto& s : n.slot_variables) {
            slots.append(py::make_tuple(s.original_variable_node_id, key_to_py(s.slot_name), s.slot_variable_node_id));
          }
          out.append(py::make_tuple(children, attributes, slots));
        }
        return out;
      },
      py::arg("data"),
      "Decodes a TrackableObjectGraph: [(children [(node_id, local_name)], attributes [(name, full_name, "
      "checkpoint_key)], slot_variables [(original_node_id, slot_name, slot_node_id)]), ...].");
  m.def(
      "sstable_entries",
      [](const py::bytes& data, bool verify_checksums) {
        std::string bytes = data;
        sstable::Table table;
        without_gil([&] {
          sstable::Options options;
          options.verify_checksums = verify_checksums;
          table = sstable::read_table(bytes, "<bytes>", options);
        });
        py::list out;
        for (const sstable::Entry& e : table.entries) {
          out.append(py::make_tuple(py::bytes(e.key), py::bytes(e.value.data(), e.value.size())));
        }
        return out;
      },
      py::arg("data"), py::arg("verify_checksums") = true,
      "[(key, value), ...] of a TensorFlow table (SSTable) held in bytes, in key order.");
  m.def(
      "crc32c",
      [](const py::object& data, uint32_t crc, bool portable) {
        Py_buffer view;
        if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_C_CONTIGUOUS) != 0) throw py::error_already_set();
        uint32_t out;
        without_gil([&] {
          const size_t n = static_cast<size_t>(view.len);
          out = portable ? crc32c::extend_portable(crc, view.buf, n) : crc32c::extend(crc, view.buf, n);
        });
        PyBuffer_Release(&view);
        return out;
      },
      py::arg("data"), py::arg("crc") = 0, py::arg("portable") = false,
      "CRC-32C of a contiguous buffer (extending crc), as TensorFlow computes it; portable=True uses the\n"
      "table-driven code whatever the CPU.");
  m.def(
      "write_aligned_bundle",
      [](const std::string& src_prefix, const std::string& dst_prefix, size_t alignment) {
        without_gil([&] { write_aligned_bundle(src_prefix, dst_prefix, alignment); });
      },
      py::arg("src_prefix"), py::arg("dst_prefix"), py::arg("alignment") = kDefaultBundleAlignment,
      "Rewrites the checkpoint SRC_PREFIX as DST_PREFIX.index and one data shard in which every tensor\n"
      "starts at a multiple of alignment (a power of two); written under temporary names, then renamed.");
  m.def("crc32c_hardware", &crc32c::hardware_accelerated, "True when CRC-32C runs on the CPU's crc32 instruction.");
  m.def("live_mappings", &MappedFile::live_count, "How many data shard mappings are alive (for lifetime tests).");
}

}  // namespace tfbundle
