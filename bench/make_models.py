"""Make the benchmark's SavedModels with TensorFlow's Python API.

Run by ``bench/run.py`` in a subprocess (this is the only bench script that builds models);
it can also be run by hand::

    python bench/make_models.py CACHE_DIR [--force]

Each model is written to a temporary folder beside its final place and renamed when complete,
so an interrupted run never leaves a half-written model that later runs would reuse.

Models (each with one signature, ``serving_default``, input key ``x``, output key ``y``):

- ``dense``: x float32 (None, 256) -> Dense 256 relu -> Dense 10, a TF2 ``tf.Module``.
- ``mobilenet_v2``: ``keras.applications.MobileNetV2(weights=None)`` (random weights), input
  x float32 (None, 224, 224, 3), output y float32 (None, 1000), exported with Keras's
  ``keras.export.ExportArchive`` (the machinery behind ``model.export``).
- ``transformer`` (for ``bench/bench_load.py``): a small Keras transformer encoder, x int32
  (None, 64) token ids -> y float32 (None, 2), exported the same way.
- ``large`` (for ``bench/bench_serve.py``'s memory figures): 1 GiB of float32 variables,
  x float32 (None, 256) -> y float32 (None, 8), a TF2 ``tf.Module``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

MODEL_NAMES = ("dense", "mobilenet_v2")


def _make_dense(out_dir: str) -> None:
    """Write the small dense model.

    Args:
        out_dir: folder to write the SavedModel into (must not exist).
    """
    import tensorflow as tf

    class Dense(tf.Module):
        """x (None, 256) -> Dense 256 relu -> Dense 10."""

        def __init__(self) -> None:
            super().__init__()
            init = tf.random.stateless_normal
            self.w1 = tf.Variable(init((256, 256), seed=(1, 2)) * 0.06, name="w1")
            self.b1 = tf.Variable(init((256,), seed=(3, 4)) * 0.01, name="b1")
            self.w2 = tf.Variable(init((256, 10), seed=(5, 6)) * 0.06, name="w2")
            self.b2 = tf.Variable(init((10,), seed=(7, 8)) * 0.01, name="b2")

        @tf.function(input_signature=[tf.TensorSpec([None, 256], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict:
            h = tf.nn.relu(tf.matmul(x, self.w1) + self.b1)
            return {"y": tf.matmul(h, self.w2) + self.b2}

    module = Dense()
    tf.saved_model.save(module, out_dir, signatures={"serving_default": module.serve})


def _make_mobilenet_v2(out_dir: str) -> None:
    """Write Keras MobileNetV2 with random weights.

    Args:
        out_dir: folder to write the SavedModel into (must not exist).
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None)
    # Keras's own exporter (what model.export uses). Saving a tf.Module that holds the Keras 3
    # model with tf.saved_model.save is not equivalent: its restore op fills tf.Variable copies
    # while the serving function reads the Keras variables, so graph loaders (TF1's loader and
    # the C API's TF_LoadSessionFromSavedModel) fail at the first run with "Could not find
    # variable ..."; only TF2's object-graph loader gets it right.
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=lambda x: {"y": model(x, training=False)},
        input_signature=[tf.TensorSpec([None, 224, 224, 3], tf.float32, name="x")],
    )
    archive.write_out(out_dir, verbose=False)


def _make_transformer(out_dir: str) -> None:
    """Write a small Keras transformer encoder (random weights).

    x int32 (None, 64) token ids < 1000 -> token and position embeddings (128) -> two encoder
    blocks (4-head self-attention, feed-forward 256, layer normalization) -> mean over tokens ->
    Dense 2: y float32 (None, 2). Exported with ``keras.export.ExportArchive``.

    Args:
        out_dir: folder to write the SavedModel into (must not exist).
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    tokens = keras.Input((64,), dtype="int32")
    h = keras.layers.Embedding(1000, 128)(tokens)
    h = h + keras.layers.Embedding(64, 128)(keras.ops.arange(64))
    for _ in range(2):
        a = keras.layers.MultiHeadAttention(num_heads=4, key_dim=32)(h, h)
        h = keras.layers.LayerNormalization()(h + a)
        f = keras.layers.Dense(128)(keras.layers.Dense(256, activation="relu")(h))
        h = keras.layers.LayerNormalization()(h + f)
    y = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(h))
    model = keras.Model(tokens, y)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=lambda x: {"y": model(x, training=False)},
        input_signature=[tf.TensorSpec([None, 64], tf.int32, name="x")],
    )
    archive.write_out(out_dir, verbose=False)


def _make_large(out_dir: str) -> None:
    """Write a model with 1 GiB of float32 variables (the serving bench's memory figures).

    x float32 (None, 256) -> the sum of x @ w_k over 16 variables w_k of (256, 65536) (64 MiB
    each) -> @ p (65536, 8): y float32 (None, 8). Every call reads every weight, so a worker
    that has answered once has all of them resident. A ``tf.Module``; the variables are
    written one at a time, so making it needs about 2 GiB, not 16.

    Args:
        out_dir: folder to write the SavedModel into (must not exist).
    """
    import tensorflow as tf

    class Large(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ws = [
                tf.Variable(
                    tf.random.stateless_normal((256, 65536), seed=(k, 1)) * 0.01, name=f"w{k}"
                )
                for k in range(16)
            ]
            self.p = tf.Variable(
                tf.random.stateless_normal((65536, 8), seed=(99, 1)) * 0.01, name="p"
            )

        @tf.function(input_signature=[tf.TensorSpec([None, 256], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict:
            h = tf.add_n([tf.matmul(x, w) for w in self.ws])
            return {"y": tf.matmul(h, self.p)}

    module = Large()
    tf.saved_model.save(module, out_dir, signatures={"serving_default": module.serve})


# Models of bench/bench_load.py only (not of run.py's sections).
LOAD_MODEL_NAMES = ("transformer",)

_MAKERS = {
    "dense": _make_dense,
    "mobilenet_v2": _make_mobilenet_v2,
    "transformer": _make_transformer,
    "large": _make_large,
}


def model_dir(cache_dir: str, name: str) -> str:
    """Return the folder of one benchmark model in the cache.

    Args:
        cache_dir: the benchmark's model cache folder.
        name: one of ``MODEL_NAMES``.

    Returns:
        The SavedModel folder path (it may not exist yet).
    """
    return os.path.join(cache_dir, name)


def is_complete(path: str) -> bool:
    """Tell whether a SavedModel folder looks complete (graph and variables written).

    Args:
        path: a SavedModel folder.

    Returns:
        True when ``saved_model.pb`` and ``variables/variables.index`` are present.
    """
    return os.path.isfile(os.path.join(path, "saved_model.pb")) and os.path.isfile(
        os.path.join(path, "variables", "variables.index")
    )


def make(cache_dir: str, names: list[str], force: bool = False) -> list[str]:
    """Make the named models in ``cache_dir`` unless they are already there.

    Args:
        cache_dir: folder holding one SavedModel folder per model.
        names: models to make, from ``MODEL_NAMES``.
        force: remake models that are already present.

    Returns:
        The names of the models that were made in this call.

    Raises:
        ValueError: a name is not one of ``MODEL_NAMES``.
    """
    made = []
    os.makedirs(cache_dir, exist_ok=True)
    for name in names:
        if name not in _MAKERS:
            raise ValueError(f"unknown bench model {name!r}; choose from {', '.join(_MAKERS)}")
        final = model_dir(cache_dir, name)
        if is_complete(final) and not force:
            continue
        tmp = final + ".partial"
        shutil.rmtree(tmp, ignore_errors=True)
        _MAKERS[name](tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
        made.append(name)
    return made


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: arguments (default: ``sys.argv[1:]``).

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(description="Make the tfbundle benchmark's SavedModels.")
    parser.add_argument("cache_dir", help="folder for the models")
    parser.add_argument(
        "--models", default=",".join(MODEL_NAMES), help="comma-separated model names"
    )
    parser.add_argument("--force", action="store_true", help="remake models already present")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    made = make(args.cache_dir, [n for n in args.models.split(",") if n], force=args.force)
    print("made: " + (", ".join(made) if made else "nothing (all cached)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
