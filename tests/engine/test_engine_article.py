"""The article's worked example, computed by hand from the forward values in this file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture
def article():
    return TrainingSession(resolve(SessionConfigIn(preset="article")))


def by_hand(frame, data):
    """The article's forward pass and its four formulas, written out."""
    X = np.array(data["x"]).T  # 4 features x 5 houses: samples are columns
    Y = np.array(data["y"]).T  # 1 x 5
    W_ih, W_ho = (np.array(W) for W in frame["weights"])
    b_ih, b_ho = (np.array(b) for b in frame["biases"])
    Z1 = W_ih.T @ X + b_ih[:, None]  # 5 x 5
    h1 = sigmoid(Z1)
    Z2 = W_ho.T @ h1 + b_ho[:, None]  # 1 x 5
    O = sigmoid(Z2)
    E = 0.5 * np.sum((Y - O) ** 2)

    r = ((O - Y) * O * (1 - O))[0]  # (O - Y) * O(1 - O), one per sample
    # dE/dW_ho = h1 . [(O - Y) * O(1 - O)]^T: (5x5).(5x1) = 5x1
    dW_ho = h1 @ r[:, None]
    db_ho = np.array([r.sum()])
    # dE/dW_ih[i,j] = sum_s (O - Y) * O(1 - O) * W_ho[j] * h1_j(1 - h1_j) * X_i
    dW_ih = np.zeros((4, 5))
    db_ih = np.zeros(5)
    for i in range(4):
        for j in range(5):
            for s in range(5):
                dW_ih[i, j] += r[s] * W_ho[j, 0] * h1[j, s] * (1 - h1[j, s]) * X[i, s]
    for j in range(5):
        for s in range(5):
            db_ih[j] += r[s] * W_ho[j, 0] * h1[j, s] * (1 - h1[j, s])
    return {
        "X": X, "Y": Y, "Z1": Z1, "h1": h1, "Z2": Z2, "O": O, "E": E, "r": r,
        "dW_ih": dW_ih, "db_ih": db_ih, "dW_ho": dW_ho, "db_ho": db_ho,
    }  # fmt: skip


def test_article_preset_is_the_article(article):
    c = article.config
    assert c.layers == [4, 5, 1]
    assert (c.activation, c.output_activation, c.loss) == ("sigmoid", "sigmoid", "half_sse")
    assert (c.init, c.bias, c.batch_size, c.l2) == ("uniform01", "per_neuron", None, 0.0)
    assert c.optimizer.name == "sgd"
    d = article.data()
    X, Y = np.array(d["x"]), np.array(d["y"])
    assert X.shape == (5, 4)  # rows: 5 houses, 4 features
    assert Y.shape == (5, 1)
    assert ((Y > 0) & (Y < 1)).all()  # prices scaled into (0, 1)
    frame = article.snapshot()
    W_ih = np.array(frame["weights"][0])
    assert W_ih.shape == (4, 5)  # the article's W_ih is 4 x 5
    assert np.array(frame["weights"][1]).shape == (5, 1)
    # uniform01: weights and biases drawn from U(0, 1)
    for p in [*frame["weights"], *frame["biases"]]:
        a = np.array(p)
        assert ((a >= 0) & (a < 1)).all()


@pytest.mark.parametrize("steps", [0, 1, 37])
def test_four_formulas_by_hand_equal_the_engine(article, steps):
    article.step(steps)
    frame = article.snapshot()
    h = by_hand(frame, article.data())
    g = frame["gradients"]
    np.testing.assert_allclose(g["weights"][1], h["dW_ho"], rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(g["biases"][1], h["db_ho"], rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(g["weights"][0], h["dW_ih"], rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(g["biases"][0], h["db_ih"], rtol=1e-12, atol=1e-16)
    # E = 1/2 sum (Y - O)^2 is the frame's loss
    assert frame["loss"] == pytest.approx(h["E"], rel=1e-13)
    assert frame["losses"] == [frame["loss"]]


def test_one_step_is_w_minus_alpha_times_gradient(article):
    before = article.snapshot()
    alpha = before["learning_rate"]
    assert alpha == article.config.optimizer.learning_rate
    after = article.step(1)
    assert after["step"] == 1
    for key in ("weights", "biases"):
        for old, grad, new in zip(before[key], before["gradients"][key], after[key], strict=True):
            expected = np.array(old) - alpha * np.array(grad)
            np.testing.assert_allclose(new, expected, rtol=1e-15, atol=1e-17)
    # the new frame's loss is E at the new weights
    assert after["loss"] == pytest.approx(by_hand(after, article.data())["E"], rel=1e-13)
    assert after["losses"] == [after["loss"]]


def test_matrix_form_shapes_and_values(article):
    article.step(5)
    frame = article.snapshot()
    h = by_hand(frame, article.data())
    m = article.matrix()
    assert [e["name"] for e in m] == ["W_ih", "W_ho"]
    ho = m[1]
    assert ho["A"]["name"] == "h1"
    assert ho["A"]["shape"] == [5, 5]  # h1: 5 hidden units x 5 houses
    assert ho["delta_T_shape"] == [5, 1]  # [(O - Y) * O(1 - O)]^T
    assert ho["result_shape"] == [5, 1]
    assert ho["dW"] == frame["gradients"]["weights"][1]
    assert ho["W"] == frame["weights"][1]
    np.testing.assert_allclose(np.array(ho["dW"]), h["dW_ho"], rtol=1e-12)
    ih = m[0]
    assert ih["A"]["shape"] == [4, 5]
    assert ih["delta"]["shape"] == [5, 5]
    assert ih["result_shape"] == [4, 5]
    assert ih["dW"] == frame["gradients"]["weights"][0]
    json.dumps(m, allow_nan=False)


def test_article_loss_falls_within_300_steps(article):
    first = article.snapshot()["loss"]
    frame = article.step(300)
    assert frame["step"] == 300
    assert len(frame["losses"]) == 300
    assert frame["loss"] < 0.2 * first
    losses = [first, *frame["losses"]]
    assert losses[300] < losses[150] < losses[0]
