"""Writes the small SavedModel that tfbundle carries for `tfbundle demo`.

    python dev/make_demo_model.py python/tfbundle/data/demo_model

An iris classifier (4 measurements in cm -> 3 species) trained by TensorFlow on
Fisher's iris data, embedded below, and written by TensorFlow's own
tf.saved_model.save: a TF2 SavedModel with a `serving_default` signature
(x -> probabilities, class_ids) and a second one, `logits`. The species names,
in class-id order, go to `assets.extra/class_names.txt` (one a line), a file
TensorFlow and TF Serving leave alone.

The network is 4 -> 16 (ReLU) -> 3, trained on standardised inputs by full-batch
gradient descent for a fixed number of steps from seeded weights, so every run
on the same TensorFlow writes the same weights. The standardisation is then
folded into the first layer, so the exported model takes raw centimetres and
its graph is two matmuls.
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import tensorflow as tf

SEED = 20261122
STEPS = 3000
LEARNING_RATE = 0.1
L2 = 1e-4
HIDDEN = 16

# Fisher's iris data (R. A. Fisher, 1936; measured by E. Anderson), in his order,
# 50 flowers per species. Each 8-digit group is one flower: sepal length, sepal
# width, petal length and petal width in millimetres, two digits each
# ("51351402" is 5.1, 3.5, 1.4, 0.2 cm). Fisher's values, not the UCI copy's two
# mistyped setosa rows (35 and 38).
IRIS = {
    "setosa": """
        51351402 49301402 47321302 46311502 50361402 54391704 46341403 50341502 44291402 49311501
        54371502 48341602 48301401 43301101 58401202 57441504 54391304 51351403 57381703 51381503
        54341702 51371504 46361002 51331705 48341902 50301602 50341604 52351502 52341402 47321602
        48311602 54341504 52411501 55421402 49311502 50321202 55351302 49361401 44301302 51341502
        50351303 45231303 44321302 50351606 51381904 48301403 51381602 46321402 53371502 50331402
    """,
    "versicolor": """
        70324714 64324515 69314915 55234013 65284615 57284513 63334716 49243310 66294613 52273914
        50203510 59304215 60224010 61294714 56293613 67314414 56304515 58274110 62224515 56253911
        59324818 61284013 63254915 61284712 64294313 66304414 68284814 67305017 60294515 57263510
        55243811 55243710 58273912 60275116 54304515 60344516 67314715 63234413 56304113 55254013
        55264412 61304614 58264012 50233310 56274213 57304212 57294213 62294313 51253011 57284113
    """,
    "virginica": """
        63336025 58275119 71305921 63295618 65305822 76306621 49254517 73296318 67255818 72366125
        65325120 64275319 68305521 57255020 58285124 64325323 65305518 77386722 77266923 60225015
        69325723 56284920 77286720 63274918 67335721 72326018 62284818 61304918 64285621 72305816
        74286119 79386420 64285622 63285115 61265614 77306123 63345624 64315518 60304818 69315421
        67315624 69315123 58275119 68325923 67335725 67305223 63255019 65305220 62345423 59305118
    """,
}

CLASS_NAMES = list(IRIS)

# One textbook flower per species (the first of each in Fisher's table): the
# exported model must put each in its class.
TEXTBOOK = {
    "setosa": (5.1, 3.5, 1.4, 0.2),
    "versicolor": (7.0, 3.2, 4.7, 1.4),
    "virginica": (6.3, 3.3, 6.0, 2.5),
}


def iris() -> tuple[np.ndarray, np.ndarray]:
    """The 150 flowers as float32 cm [150, 4] and their class ids [150]."""
    rows, labels = [], []
    for class_id, groups in enumerate(IRIS.values()):
        for group in groups.split():
            rows.append([int(group[i : i + 2]) / 10 for i in range(0, 8, 2)])
            labels.append(class_id)
    x, y = np.array(rows, np.float32), np.array(labels, np.int64)
    assert x.shape == (150, 4) and np.bincount(y).tolist() == [50, 50, 50]
    # Fisher's column totals, a check on the digits above.
    np.testing.assert_allclose(
        x.astype(np.float64).sum(axis=0), [876.5, 458.6, 563.7, 179.9], atol=1e-3
    )
    return x, y


def train(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Fits 4 -> HIDDEN (ReLU) -> 3 on standardised x; returns weights that take raw x."""
    tf.random.set_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    mean, std = x.mean(axis=0), x.std(axis=0)
    z = tf.constant((x - mean) / std)
    labels = tf.constant(y)
    rng = np.random.default_rng(SEED)
    w1 = tf.Variable(rng.normal(0, np.sqrt(2 / 4), (4, HIDDEN)).astype(np.float32))
    b1 = tf.Variable(np.zeros(HIDDEN, np.float32))
    w2 = tf.Variable(rng.normal(0, np.sqrt(2 / HIDDEN), (HIDDEN, 3)).astype(np.float32))
    b2 = tf.Variable(np.zeros(3, np.float32))
    params = [w1, b1, w2, b2]

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = tf.matmul(tf.nn.relu(tf.matmul(z, w1) + b1), w2) + b2
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
            loss += L2 * (tf.reduce_sum(w1 * w1) + tf.reduce_sum(w2 * w2))
        for p, g in zip(params, tape.gradient(loss, params)):
            p.assign_sub(LEARNING_RATE * g)
        return loss

    for _ in range(STEPS):
        loss = step()
    print(f"trained {STEPS} steps, final loss {float(loss):.4f}")
    # relu(((x - mean) / std) @ w1 + b1) == relu(x @ (w1 / std[:, None]) + (b1 - (mean / std) @ w1))
    w1n = w1.numpy()
    return {
        "w1": (w1n / std[:, None]).astype(np.float32),
        "b1": (b1.numpy() - (mean / std) @ w1n).astype(np.float32),
        "w2": w2.numpy(),
        "b2": b2.numpy(),
    }


class Classifier(tf.Module):
    def __init__(self, weights: dict[str, np.ndarray]):
        super().__init__()
        self.w1 = tf.Variable(weights["w1"], name="w1")
        self.b1 = tf.Variable(weights["b1"], name="b1")
        self.w2 = tf.Variable(weights["w2"], name="w2")
        self.b2 = tf.Variable(weights["b2"], name="b2")

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def logits(self, x):
        h = tf.nn.relu(tf.matmul(x, self.w1) + self.b1)
        return {"logits": tf.matmul(h, self.w2) + self.b2}

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def serve(self, x):
        logits = self.logits(x)["logits"]
        return {"probabilities": tf.nn.softmax(logits), "class_ids": tf.argmax(logits, axis=1)}


def main(out: str) -> None:
    x, y = iris()
    m = Classifier(train(x, y))
    accuracy = float(np.mean(m.serve(x)["class_ids"].numpy() == y))
    print(f"training accuracy {accuracy:.4f} ({round(accuracy * len(y))}/{len(y)})")
    assert accuracy >= 0.95, accuracy
    ids = m.serve(np.array(list(TEXTBOOK.values()), np.float32))["class_ids"].numpy()
    assert [CLASS_NAMES[i] for i in ids] == list(TEXTBOOK), ids

    shutil.rmtree(out, ignore_errors=True)
    tf.saved_model.save(m, out, signatures={"serving_default": m.serve, "logits": m.logits})
    os.makedirs(os.path.join(out, "assets.extra"))
    with open(os.path.join(out, "assets.extra", "class_names.txt"), "w") as f:
        f.write("".join(name + "\n" for name in CLASS_NAMES))


if __name__ == "__main__":
    main(sys.argv[1])
