"""Models whose lookup table reads a file named by something other than an asset (tests/test_policy.py):
``python tests/makers/table_paths.py OUT``.

Each table is a HashTableV2 initialised by InitializeTableFromTextFileV2 (the file's lines as
keys) and exported by LookupTableExportV2 in the same call, so the signature returns the lines
of whatever file the path names:

- ``OUT/tf1_input``: TF1 (SavedModelBuilder). Signature ``serving_default``: input ``path``
  (string scalar), output ``lines`` (string vector).
- ``OUT/tf1_constant``: TF1, the path a constant ``secret.txt`` (relative: the process's working
  folder), not declared as an asset. Signature ``serving_default``: no input, output ``lines``.
- ``OUT/tf2_input``: TF2 (tf.Module, tf.saved_model.save), the path passed through the
  signature's function. Signature ``serving_default``: input ``path``, output ``lines``.
"""

import os
import sys

import tensorflow as tf

out = sys.argv[1]
os.makedirs(out)
v1 = tf.compat.v1


def lines_of(path):
    table = tf.raw_ops.HashTableV2(key_dtype=tf.string, value_dtype=tf.int64, shared_name="")
    init = tf.raw_ops.InitializeTableFromTextFileV2(table_handle=table, filename=path, key_index=-2, value_index=-1)
    with tf.control_dependencies([init]):
        keys, _ = tf.raw_ops.LookupTableExportV2(table_handle=table, Tkeys=tf.string, Tvalues=tf.int64)
    return keys


def save_tf1(folder, constant):
    graph = tf.Graph()
    with graph.as_default():
        inputs = {}
        if constant:
            path = tf.constant("secret.txt")
        else:
            path = v1.placeholder(tf.string, [], name="path")
            inputs["path"] = v1.saved_model.build_tensor_info(path)
        lines = lines_of(path)
        sig = v1.saved_model.build_signature_def(
            inputs, {"lines": v1.saved_model.build_tensor_info(lines)}, "tensorflow/serving/predict")
        with v1.Session(graph=graph) as sess:
            builder = v1.saved_model.Builder(os.path.join(out, folder))
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig})
            builder.save()


save_tf1("tf1_input", constant=False)
save_tf1("tf1_constant", constant=True)


class Reader(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="path")])
    def read(self, path):
        return {"lines": lines_of(path)}


module = Reader()
tf.saved_model.save(module, os.path.join(out, "tf2_input"), signatures={"serving_default": module.read})
