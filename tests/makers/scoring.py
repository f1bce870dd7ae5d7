"""The model and the TFRecord inputs of tests/test_score*.py, with TensorFlow's answers.

Usage: ``python tests/makers/scoring.py OUT``. Writes:

- ``OUT/model``: a TF1 SavedModel with four signatures over the features a (float), b (3 floats)
  and c (int64):
  * ``serving_default`` (predict): named inputs a (None,), b (None, 3), c (None,) ->
    score (None,) = check_numerics(a) * 2 + sum(b) + c (a NaN in a fails the run), vec (None, 2);
  * ``scalars`` (predict): a (None,), c (None,) -> score (None,) = a * 2 + c (for CSV files);
  * ``parse`` (predict): examples, serialized tf.Example strings (None,) -> the same outputs,
    the features parsed by tf.io.parse_example;
  * ``classify`` (classify): inputs (None,) -> classes (None, 2) strings, scores (None, 2);
  * ``regress`` (regress): inputs (None,) -> outputs (None, 1) = score.
- ``OUT/rows.npz``: the N rows (a, b, c) the files below hold;
- ``OUT/examples.tfrecord`` and ``OUT/examples.tfrecord.gz``: the rows as tf.Examples, written by
  tf.io.TFRecordWriter (plain and GZIP);
- ``OUT/expected.npz``: TensorFlow's outputs for the rows, the examples parsed by TensorFlow
  (score, vec, classes, class_scores, regress).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import tensorflow as tf

N = 1000


def main(out: str) -> None:
    os.makedirs(out)
    rng = np.random.default_rng(7)
    a = rng.normal(size=N).astype(np.float32)
    b = rng.normal(size=(N, 3)).astype(np.float32)
    c = rng.integers(-5, 5, size=N).astype(np.int64)
    np.savez(os.path.join(out, "rows.npz"), a=a, b=b, c=c)

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as sess:
        w = v1.get_variable("w", initializer=np.float32(2.0))

        def heads(fa, fb, fc):
            score = tf.debugging.check_numerics(fa, "a must be finite") * w + tf.reduce_sum(
                fb, axis=1
            )
            score = score + tf.cast(fc, tf.float32)
            vec = tf.stack([fa, tf.cast(fc, tf.float32)], axis=1)
            return score, vec

        pa = v1.placeholder(tf.float32, [None], name="a")
        pb = v1.placeholder(tf.float32, [None, 3], name="b")
        pc = v1.placeholder(tf.int64, [None], name="c")
        score, vec = heads(pa, pb, pc)

        spec = {
            "a": tf.io.FixedLenFeature([], tf.float32),
            "b": tf.io.FixedLenFeature([3], tf.float32),
            "c": tf.io.FixedLenFeature([], tf.int64),
        }
        examples = v1.placeholder(tf.string, [None], name="examples")
        parsed = tf.io.parse_example(examples, spec)
        p_score, p_vec = heads(parsed["a"], parsed["b"], parsed["c"])
        probs = tf.stack([tf.sigmoid(-p_score), tf.sigmoid(p_score)], axis=1)
        classes = tf.tile(tf.constant([["neg", "pos"]]), [tf.shape(p_score)[0], 1])
        sess.run(v1.global_variables_initializer())

        sig = v1.saved_model.signature_def_utils
        builder = v1.saved_model.Builder(os.path.join(out, "model"))
        builder.add_meta_graph_and_variables(
            sess,
            ["serve"],
            signature_def_map={
                "serving_default": sig.predict_signature_def(
                    {"a": pa, "b": pb, "c": pc}, {"score": score, "vec": vec}
                ),
                "scalars": sig.predict_signature_def(
                    {"a": pa, "c": pc}, {"score": pa * w + tf.cast(pc, tf.float32)}
                ),
                "parse": sig.predict_signature_def(
                    {"examples": examples}, {"score": p_score, "vec": p_vec}
                ),
                "classify": sig.classification_signature_def(examples, classes, probs),
                "regress": sig.regression_signature_def(examples, tf.expand_dims(p_score, 1)),
            },
        )
        builder.save()

        records = []
        for i in range(N):
            ex = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "a": tf.train.Feature(float_list=tf.train.FloatList(value=[a[i]])),
                        "b": tf.train.Feature(float_list=tf.train.FloatList(value=b[i])),
                        "c": tf.train.Feature(int64_list=tf.train.Int64List(value=[c[i]])),
                        "id": tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[f"r{i}".encode()])
                        ),
                    }
                )
            )
            records.append(ex.SerializeToString())
        with tf.io.TFRecordWriter(os.path.join(out, "examples.tfrecord")) as wr:
            for r in records:
                wr.write(r)
        gz = tf.io.TFRecordOptions(compression_type="GZIP")
        with tf.io.TFRecordWriter(os.path.join(out, "examples.tfrecord.gz"), gz) as wr:
            for r in records:
                wr.write(r)

        got = sess.run(
            {"score": p_score, "vec": p_vec, "classes": classes, "class_scores": probs},
            {examples: np.array(records, dtype=object)},
        )
        np.savez(
            os.path.join(out, "expected.npz"),
            score=got["score"],
            vec=got["vec"],
            classes=got["classes"].astype("U"),
            class_scores=got["class_scores"],
            regress=got["score"][:, None],
        )


if __name__ == "__main__":
    main(sys.argv[1])
