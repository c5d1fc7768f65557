"""The stacked kernel (app/engine/stack.py): bit for bit Network's passes, alone and stacked."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from app.engine.network import Network
from app.engine.optimizers import make_optimizer
from app.engine.stack import Stack, supports, update

SIZES = [[4, 5, 1], [2, 16, 16, 16, 1], [3, 7, 2], [2, 3, 5, 4, 3], [1, 1]]
HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
OUTPUT = ["sigmoid", "tanh", "linear", "relu"]


def bits(a: np.ndarray) -> np.ndarray:
    """The array's bit patterns: -0.0 and NaN payloads count."""
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(bits(a), bits(b)))


def net_and_data(sizes, hidden, out, loss, l2, l1, seed, scale=1.0):
    """A net whose weights are drawn with `scale` (large: saturated units, exact zeros)."""
    rng = np.random.default_rng(seed)
    net = Network(sizes, hidden, out, loss, "per_neuron", "xavier", l2, rng, l1=l1)
    net.theta *= scale
    m = int(rng.integers(1, 40))
    X = rng.standard_normal((sizes[0], m))
    X[rng.random(X.shape) < 0.2] = 0.0  # exact zeros, signed products of zero
    Y = rng.uniform(0, 1, (sizes[-1], m))
    return net, X, Y


CASES = list(
    itertools.product(SIZES, HIDDEN, OUTPUT, ["half_sse", "mse"], [0.0, 1e-3], [0.0, 2e-3])
)


@pytest.mark.parametrize("case", range(0, len(CASES), 7))
def test_a_lone_run_steps_bit_for_bit_as_networks_passes(case):
    sizes, hidden, out, loss, l2, l1 = CASES[case]
    for scale in (1.0, 30.0):
        ref, X, Y = net_and_data(sizes, hidden, out, loss, l2, l1, case, scale)
        net, _, _ = net_and_data(sizes, hidden, out, loss, l2, l1, case, scale)
        assert supports(net)
        c1, g1 = ref.forward(X), ref.new_grads()
        c2, g2 = net.forward(X), net.new_grads()
        st = Stack.alone(net, c2, g2, Y)
        o1, o2 = make_optimizer("adam", 0.05), make_optimizer("adam", 0.05)
        with np.errstate(all="ignore"):
            for _ in range(6):
                ref.forward(None, c1)
                E1 = ref.backward(c1, Y, g1).error
                E2 = st.error()
                assert same(np.array(E1), np.array(E2))
                assert same(g1.flat, g2.flat)
                assert all(same(a, b) for a, b in zip(c1.A, c2.A, strict=True))
                assert all(same(a, b) for a, b in zip(c1.Z[1:], c2.Z[1:], strict=True))
                assert all(same(a, b) for a, b in zip(g1.delta, st.deltas(0), strict=True))
                o1.update(ref.theta, g1.flat)
                o2.update(net.theta, g2.flat)


@pytest.mark.parametrize("case", range(3, len(CASES), 11))
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_every_row_of_a_stack_is_bit_for_bit_its_run_alone(case, optimizer):
    sizes, hidden, out, loss, l2, l1 = CASES[case]
    k = 5
    nets, X, Y = [], None, None
    for i in range(k):
        net, X, Y = net_and_data(sizes, hidden, out, loss, l2, l1, case, 1.0 + 10.0 * (i % 2))
        net.theta += 0.1 * i  # different weights in every row
        nets.append(net)
    assert X is not None and Y is not None
    st = Stack.new(nets[0], k, X, Y)
    rates = [0.05 * (i + 1) for i in range(k)]  # each run its own rate
    opts = [make_optimizer(optimizer, lr) for lr in rates]
    state = {
        name: np.zeros_like(st.theta)
        for name in {"momentum": ["v"], "adam": ["m", "v"]}.get(optimizer, [])
    }
    hyper = {"lr": np.array([[lr] for lr in rates]), "momentum": np.array(0.9)}
    hyper.update(beta1=np.array(0.9), beta2=np.array(0.999), eps=np.array(1e-8))
    hyper.update(one_minus_beta1=np.array(1.0 - 0.9), one_minus_beta2=np.array(1.0 - 0.999))
    caches, grads = [n.forward(X) for n in nets], [n.new_grads() for n in nets]
    alone = [Stack.alone(n, c, g, Y) for n, c, g in zip(nets, caches, grads, strict=True)]
    for i, net in enumerate(nets):
        st.theta[i] = net.theta
    with np.errstate(all="ignore"):
        Es = [a.error() for a in alone]
        st.forward()
        st.backward()
        for t in range(1, 6):
            assert all(same(np.array(a), np.array(b)) for a, b in zip(Es, st.errors(), strict=True))
            for i in range(k):
                assert same(st.g[i], grads[i].flat)
                assert same(st.theta[i], nets[i].theta)
                assert same(st.O[i], caches[i].A[-1])
                assert all(same(d[i], e) for d, e in zip(st.delta, alone[i].delta, strict=True))
            for o, net, g in zip(opts, nets, grads, strict=True):
                o.update(net.theta, g.flat)
            hyper["correction1"] = np.array([[1.0 - 0.9**t]] * k)
            hyper["correction2"] = np.array([[1.0 - 0.999**t]] * k)
            update(optimizer, st.theta, st.g, state, hyper)
            Es = [a.error() for a in alone]
            st.forward()
            st.backward()


def test_the_kernel_leaves_softmax_bce_and_a_shared_bias_to_network():
    assert not supports(Network([2, 3, 3], "relu", "softmax", "ce"))
    assert not supports(Network([2, 3, 1], "relu", "sigmoid", "bce"))
    assert not supports(Network([2, 3, 1], "relu", "sigmoid", "half_sse", bias="shared"))
    with pytest.raises(ValueError):
        Stack.new(
            Network([2, 3, 1], "relu", "sigmoid", "bce"), 2, np.zeros((2, 4)), np.zeros((1, 4))
        )
