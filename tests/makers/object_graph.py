"""The TF2 SavedModels of tests/test_object_graph_restore.py: ``python tests/makers/object_graph.py OUT``.

``tf.saved_model.save`` of a Keras 3 model writes signature functions that capture variable
handles (``hidden/kernel``) which the SaverDef's restore function never assigns: only the
SavedObjectGraph connects them to their checkpoint keys. These models cover that case and its
neighbours. Each model is in ``OUT/<name>/``: the SavedModel in ``OUT/<name>/model/``, and
beside it ``inputs.npz`` (keyed ``<signature>.<input>``) and ``expected.npz`` (keyed
``<signature>.<output>``), the outputs of TF2's Python loader
(``tf.saved_model.load(model).signatures[signature](**inputs)``). String arrays are object
arrays of bytes (pickled inside the .npz). Every model is made from fixed seeds.

- ``keras_functional``: Keras 3 functional model, Input ``features`` (None, 4) -> Dense(8, relu)
  ``hidden`` -> BatchNormalization ``bn`` -> Dense(2) ``logits``, compiled with adam and fitted 2
  epochs on fixed random data (BN moving statistics and Adam slots are not their initial values),
  saved by ``tf.saved_model.save(model, path)``. Signature ``serving_default``: input ``inputs``
  float32 (None, 4), output ``output_0`` float32 (None, 2).
- ``keras_functional_missing_var``: ``keras_functional``'s SavedModel whose checkpoint lacks the
  key of ``hidden/kernel`` (every other tensor, the object graph included, rewritten unchanged by
  ``tf.raw_ops.SaveV2``). No .npz files; ``dropped.json`` gives ``{"checkpoint_key": ...,
  "variable": "hidden/kernel"}``.
- ``keras_sequential_embedding``: Keras 3 Sequential, Input ``ids`` int64 (None, 5) ->
  Embedding(50, 8) -> GlobalAveragePooling1D -> Dense(3), ``tf.saved_model.save``. Signature
  ``serving_default``: input ``inputs`` int64 (None, 5), output ``output_0`` float32 (None, 3).
- ``module_holding_keras``: a tf.Module holding a Keras 3 functional model (Input (None, 4) ->
  Dense(6, relu) ``hidden`` -> Dense(2) ``head``) as ``model``, and its own variables ``scale``
  (float32 scalar) and ``proj`` (float32 (4, 3)); saved with two signatures. ``serving_default``:
  input ``x`` float32 (None, 4), output ``scores`` = model(x) * scale, float32 (None, 2).
  ``features``: input ``x`` float32 (None, 4), outputs ``hidden`` (the ``hidden`` layer's output,
  float32 (None, 6)) and ``projected`` = x @ proj, float32 (None, 3).
- ``keras_export``: Keras 3 ``model.export(path)`` of a functional model (Input ``features``
  (None, 3) -> Dense(4, relu) -> Dense(2)). Signatures ``serve`` and ``serving_default``: input
  ``features`` float32 (None, 3), output ``output_0`` float32 (None, 2).
- ``tf_module``: a plain tf.Module with variables ``weights`` float32 (3,), ``offsets`` int64
  (3,) and ``greeting`` string scalar. ``serving_default``: inputs ``x`` float32 (None, 3) and
  ``n`` int64 (None,), outputs ``y`` = sum(x * weights, axis 1), float32 (None,), and ``m`` =
  n + sum(offsets), int64 (None,). ``greet``: input ``name`` string (None,), output ``text`` =
  greeting joined with name, string (None,).
- ``sharded``: a tf.Module with 12 float32 (32, 32) variables ``w0``..``w11`` and an int64 scalar
  ``bias``, saved with ``SaveOptions(experimental_sharding_callback=
  tf.train.experimental.MaxShardSizePolicy(10000))``, so that ``variables/`` holds several data
  shards (the maker checks it). ``serving_default``: input ``x`` float32 (None, 32), output ``y``
  = sum_i x @ w_i + bias, float32 (None, 32).
- ``tf1_partitioned``: a TF1 graph (tf.compat.v1 in a Graph context) with ``part`` float32 (6, 4)
  made by ``get_variable(..., partitioner=fixed_size_partitioner(3))`` (three slices in the
  checkpoint), saved by SavedModelBuilder with tag ``serve``. ``serving_default``: input ``x``
  float32 (None, 6), output ``y`` = x @ part, float32 (None, 4).
"""

import json
import os
import shutil
import sys

import keras
import numpy as np
import tensorflow as tf

out = sys.argv[1]
os.makedirs(out)
tf.config.experimental.enable_op_determinism()


def folder(name):
    return os.path.join(out, name, "model")


def strings(values):
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def write_cases(name, inputs):
    """Runs every signature of OUT/<name>/model with TF2's loader; writes the two .npz files.

    ``inputs``: signature -> {input name: array}; every signature of the model must be there.
    """
    loaded = tf.saved_model.load(folder(name))
    assert sorted(loaded.signatures.keys()) == sorted(inputs), (name, list(loaded.signatures.keys()))
    flat_in, flat_out = {}, {}
    for sig, feeds in inputs.items():
        fn = loaded.signatures[sig]
        got = fn(**{k: tf.constant(v) for k, v in feeds.items()})
        for key, value in feeds.items():
            flat_in[f"{sig}.{key}"] = value
        for key, value in sorted(got.items()):  # the loader's order varies from run to run
            arr = value.numpy()
            if arr.dtype == object:
                arr = strings(list(arr.ravel())).reshape(arr.shape)
            flat_out[f"{sig}.{key}"] = arr
    np.savez(os.path.join(out, name, "inputs.npz"), **flat_in)
    np.savez(os.path.join(out, name, "expected.npz"), **flat_out)


rng = np.random.default_rng(10)

# ------------------------------------------------------------------ keras_functional ---
keras.utils.set_random_seed(1)
inp = keras.Input(shape=(4,), name="features")
h = keras.layers.Dense(8, activation="relu", name="hidden")(inp)
h = keras.layers.BatchNormalization(name="bn")(h)
functional = keras.Model(inp, keras.layers.Dense(2, name="logits")(h))
functional.compile(optimizer="adam", loss="mse")
functional.fit(
    rng.standard_normal((64, 4)).astype(np.float32),
    rng.standard_normal((64, 2)).astype(np.float32),
    epochs=2,
    batch_size=16,
    shuffle=False,
    verbose=0,
)
tf.saved_model.save(functional, folder("keras_functional"))
write_cases(
    "keras_functional",
    {"serving_default": {"inputs": rng.standard_normal((3, 4)).astype(np.float32)}},
)

# ------------------------------------------------------ keras_functional_missing_var ---
# The same SavedModel; its checkpoint rewritten without the key of one variable.
missing = folder("keras_functional_missing_var")
shutil.copytree(folder("keras_functional"), missing)
kernel_path = functional.get_layer("hidden").kernel.path
reader = tf.train.load_checkpoint(os.path.join(missing, "variables", "variables"))
keys = sorted(reader.get_variable_to_shape_map())
kernels = [k for k in keys if k.startswith("_operations/") and "/_kernel/" in k]
assert kernel_path == "hidden/kernel" and kernels, (kernel_path, keys)
dropped_key = kernels[0]  # the first layer with weights, hidden (its shape is checked below)
assert reader.get_tensor(dropped_key).shape == (4, 8), dropped_key
kept = [k for k in keys if k != dropped_key]
values = [tf.constant(reader.get_tensor(k)) for k in kept]
shutil.rmtree(os.path.join(missing, "variables"))
os.makedirs(os.path.join(missing, "variables"))
tf.raw_ops.SaveV2(
    prefix=os.path.join(missing, "variables", "variables"),
    tensor_names=kept,
    shape_and_slices=[""] * len(kept),
    tensors=values,
)
rewritten = tf.train.load_checkpoint(os.path.join(missing, "variables", "variables"))
assert sorted(rewritten.get_variable_to_shape_map()) == kept, dropped_key
with open(os.path.join(out, "keras_functional_missing_var", "dropped.json"), "w") as f:
    json.dump({"checkpoint_key": dropped_key, "variable": kernel_path}, f)

# ------------------------------------------------------- keras_sequential_embedding ---
keras.utils.set_random_seed(2)
sequential = keras.Sequential(
    [
        keras.Input(shape=(5,), dtype="int64", name="ids"),
        keras.layers.Embedding(50, 8, name="embedding"),
        keras.layers.GlobalAveragePooling1D(name="pool"),
        keras.layers.Dense(3, name="head"),
    ]
)
tf.saved_model.save(sequential, folder("keras_sequential_embedding"))
write_cases(
    "keras_sequential_embedding",
    {"serving_default": {"inputs": np.array([[0, 1, 2, 3, 4], [49, 7, 7, 20, 0]], np.int64)}},
)

# ------------------------------------------------------------- module_holding_keras ---
keras.utils.set_random_seed(3)
inp = keras.Input(shape=(4,), name="x")
held = keras.Model(
    inp,
    keras.layers.Dense(2, name="head")(keras.layers.Dense(6, activation="relu", name="hidden")(inp)),
)


class Holder(tf.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model
        self.scale = tf.Variable(np.float32(1.5), name="scale")
        self.proj = tf.Variable(rng.standard_normal((4, 3)).astype(np.float32), name="proj")

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def serve(self, x):
        return {"scores": self.model(x) * self.scale}

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def features(self, x):
        return {"hidden": self.model.get_layer("hidden")(x), "projected": tf.matmul(x, self.proj)}


holder = Holder(held)
tf.saved_model.save(
    holder,
    folder("module_holding_keras"),
    signatures={"serving_default": holder.serve, "features": holder.features},
)
x4 = rng.standard_normal((3, 4)).astype(np.float32)
write_cases("module_holding_keras", {"serving_default": {"x": x4}, "features": {"x": x4}})

# --------------------------------------------------------------------- keras_export ---
keras.utils.set_random_seed(4)
inp = keras.Input(shape=(3,), name="features")
exported = keras.Model(inp, keras.layers.Dense(2, name="logits")(keras.layers.Dense(4, activation="relu")(inp)))
exported.export(folder("keras_export"), verbose=False)
x3 = rng.standard_normal((2, 3)).astype(np.float32)
write_cases("keras_export", {"serve": {"features": x3}, "serving_default": {"features": x3}})


# ------------------------------------------------------------------------ tf_module ---
class Plain(tf.Module):
    def __init__(self):
        super().__init__()
        self.weights = tf.Variable(np.array([0.5, -2.0, 3.25], np.float32), name="weights")
        self.offsets = tf.Variable(np.array([10, 20, 2**40], np.int64), name="offsets")
        self.greeting = tf.Variable(b"hello, ", name="greeting")

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 3], tf.float32, name="x"),
            tf.TensorSpec([None], tf.int64, name="n"),
        ]
    )
    def compute(self, x, n):
        return {"y": tf.reduce_sum(x * self.weights, axis=1), "m": n + tf.reduce_sum(self.offsets)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="name")])
    def greet(self, name):
        return {"text": tf.strings.join([tf.fill(tf.shape(name), self.greeting), name])}


plain = Plain()
tf.saved_model.save(
    plain, folder("tf_module"), signatures={"serving_default": plain.compute, "greet": plain.greet}
)
write_cases(
    "tf_module",
    {
        "serving_default": {
            "x": rng.standard_normal((2, 3)).astype(np.float32),
            "n": np.array([1, -5], np.int64),
        },
        "greet": {"name": strings([b"world", b"", "\u00e9t\u00e9".encode()])},
    },
)


# -------------------------------------------------------------------------- sharded ---
class Wide(tf.Module):
    def __init__(self):
        super().__init__()
        self.ws = [
            tf.Variable(rng.standard_normal((32, 32)).astype(np.float32) / 8, name=f"w{i}") for i in range(12)
        ]
        self.bias = tf.Variable(np.int64(3), name="bias")

    @tf.function(input_signature=[tf.TensorSpec([None, 32], tf.float32, name="x")])
    def serve(self, x):
        y = tf.add_n([tf.matmul(x, w) for w in self.ws])
        return {"y": y + tf.cast(self.bias, tf.float32)}


wide = Wide()
tf.saved_model.save(
    wide,
    folder("sharded"),
    signatures={"serving_default": wide.serve},
    options=tf.saved_model.SaveOptions(
        experimental_sharding_callback=tf.train.experimental.MaxShardSizePolicy(max_shard_size=10000)
    ),
)
shards = [f for f in os.listdir(os.path.join(folder("sharded"), "variables")) if ".data-" in f]
assert len(shards) > 1, shards
write_cases("sharded", {"serving_default": {"x": rng.standard_normal((2, 32)).astype(np.float32)}})

# ------------------------------------------------------------------ tf1_partitioned ---
v1 = tf.compat.v1
with tf.Graph().as_default(), v1.Session() as sess:
    x = v1.placeholder(tf.float32, (None, 6), name="x")
    part = v1.get_variable(
        "part",
        shape=(6, 4),
        initializer=v1.random_normal_initializer(seed=5),
        partitioner=v1.fixed_size_partitioner(3),
    )
    y = tf.identity(tf.matmul(x, tf.convert_to_tensor(part)), name="y")
    sess.run(v1.global_variables_initializer())
    builder = v1.saved_model.Builder(folder("tf1_partitioned"))
    builder.add_meta_graph_and_variables(
        sess,
        ["serve"],
        signature_def_map={"serving_default": v1.saved_model.predict_signature_def({"x": x}, {"y": y})},
    )
    builder.save()
write_cases("tf1_partitioned", {"serving_default": {"x": rng.standard_normal((2, 6)).astype(np.float32)}})
