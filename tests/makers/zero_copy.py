"""The TF1 graph of tests/test_zero_copy.py: ``python tests/makers/zero_copy.py OUT``.

An Identity of the input, a constant, a TF1 (reference) variable with an op that adds to it in
place, a queue and string ops, saved with simple_save into OUT.
"""

import sys

import tensorflow as tf

v1 = tf.compat.v1
v1.disable_eager_execution()
g = tf.Graph()
with g.as_default():
    x = v1.placeholder(tf.float32, [None, 4], name="x")
    y = tf.identity(x, name="y")
    z = tf.multiply(x, 2.0, name="z")
    c = tf.constant([1.0, 2.0, 3.0], name="c")
    v = v1.Variable([4.0, 5.0], name="v", use_resource=False)
    v1.assign_add(v, [1.0, 1.0], name="bump")
    v_read = tf.identity(v, name="v_read")
    q = v1.FIFOQueue(10, tf.float32, shapes=[[]], name="q")
    item = v1.placeholder(tf.float32, [], name="item")
    q.enqueue(item, name="enq")
    q.dequeue(name="deq")
    s = v1.placeholder(tf.string, [None], name="s")
    tf.identity(s, name="s_id")
    tf.strings.upper(s, name="s_upper")
    with v1.Session() as sess:
        sess.run(v1.global_variables_initializer())
        v1.saved_model.simple_save(sess, sys.argv[1], inputs={"x": x, "s": s},
                                   outputs={"y": y, "z": z, "v": v_read,
                                            "s_upper": g.get_tensor_by_name("s_upper:0")})
