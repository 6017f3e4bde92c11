"""Classifier heads over frozen backbone embeddings, with temperature calibration.

Serving is NumPy only: a head is a handful of arrays (stored in ``head.npz``). scikit-learn
is used to *fit* the logistic regression and the MLP, never to predict.

Feature transform (shared by the head, the reference index and the open-set score):
``power`` normalisation ``sign(x) * |x| ** power`` (``power = 1`` leaves the embedding
as is), then L2 normalisation to unit length.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

HEAD_KINDS = ("logistic", "mlp")


def l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` scaled to unit Euclidean length (float32)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, eps)


def transform_features(embeddings: np.ndarray, power: float = 1.0) -> np.ndarray:
    """``l2_normalise(sign(x) * |x| ** power)``: the features every head and index use."""
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if power != 1.0:
        x = np.sign(x) * np.abs(x) ** np.float32(power)
    return l2_normalise(x)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (float32, rows sum to 1)."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(labels)), labels]))


def fit_temperature(
    logits: np.ndarray, labels: np.ndarray, lo: float = 0.05, hi: float = 20.0
) -> float:
    """Temperature ``T`` in ``[lo, hi]`` minimising held-out NLL (golden-section on ``log T``).

    The NLL of temperature-scaled logits is unimodal in ``log T`` for practical purposes, so
    a 60-step golden-section search converges to well under 1e-6 in ``log T``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    a, b = np.log(lo), np.log(hi)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(logits, labels, np.exp(c)), nll(logits, labels, np.exp(d))
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(logits, labels, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(logits, labels, np.exp(d))
    return float(np.exp((a + b) / 2.0))


@dataclass(frozen=True)
class Head:
    """A fitted head: ``logits = f(transform_features(embedding))``, divided by ``temperature``.

    ``kind == "logistic"``: ``layers = [(W [D, C], b [C])]``.
    ``kind == "mlp"``: ``layers = [(W1, b1), ..., (Wk, bk)]`` with ReLU between layers.
    """

    kind: str
    layers: list[tuple[np.ndarray, np.ndarray]]
    power: float = 1.0
    temperature: float = 1.0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of output classes."""
        return int(self.layers[-1][1].shape[0])

    def features(self, embeddings: np.ndarray) -> np.ndarray:
        """The normalised features this head reads."""
        return transform_features(embeddings, self.power)

    def logits_from_features(self, features: np.ndarray) -> np.ndarray:
        """Uncalibrated logits from already-transformed features."""
        h = np.asarray(features, dtype=np.float32)
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        """Uncalibrated logits from raw backbone embeddings."""
        return self.logits_from_features(self.features(embeddings))

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities from raw backbone embeddings."""
        return softmax(self.logits(embeddings), self.temperature)

    def with_temperature(self, temperature: float) -> Head:
        """A copy with another calibration temperature."""
        return Head(self.kind, self.layers, self.power, float(temperature), dict(self.extra))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays for ``np.savez`` (plain numeric arrays only, no pickles)."""
        arrays: dict[str, np.ndarray] = {
            "power": np.array(self.power, np.float32),
            "temperature": np.array(self.temperature, np.float32),
            "num_layers": np.array(len(self.layers), np.int64),
        }
        for i, (w, b) in enumerate(self.layers):
            arrays[f"w{i}"] = w.astype(np.float32)
            arrays[f"b{i}"] = b.astype(np.float32)
        return arrays

    @classmethod
    def from_arrays(cls, kind: str, arrays: dict[str, np.ndarray]) -> Head:
        """Rebuild a head written by :meth:`to_arrays`."""
        if kind not in HEAD_KINDS:
            raise ValueError(f"unknown head kind {kind!r}")
        layers = [
            (np.asarray(arrays[f"w{i}"], np.float32), np.asarray(arrays[f"b{i}"], np.float32))
            for i in range(int(arrays["num_layers"]))
        ]
        return cls(kind, layers, float(arrays["power"]), float(arrays["temperature"]))


def _softmax_regression_objective(params, x, onehot, weights, reg):
    """Weighted mean cross-entropy + ``reg / 2 * ||W||^2`` and its gradient (bias not
    penalised); ``weights`` average 1."""
    d, c = x.shape[1], onehot.shape[1]
    w = params[: d * c].reshape(d, c)
    b = params[d * c :]
    z = (x @ w.astype(np.float32)).astype(np.float64) + b
    z -= z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
    log_p = z - log_norm
    n = x.shape[0]
    loss = -(weights * (onehot * log_p).sum(axis=1)).sum() / n + 0.5 * reg * float((w * w).sum())
    residual = weights[:, None] * (np.exp(log_p) - onehot) / n
    grad_w = (x.T @ residual.astype(np.float32)).astype(np.float64) + reg * w
    return loss, np.concatenate([grad_w.ravel(), residual.sum(axis=0)])


def fit_logistic(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    c: float = 10.0,
    power: float = 1.0,
    max_iter: int = 300,
    tol: float = 1e-5,
    init: Head | None = None,
    balanced: bool = False,
) -> Head:
    """Multinomial logistic regression fitted by L-BFGS (SciPy), on transformed features.

    Minimises ``C * sum_i CE_i + ||W||^2 / 2`` (scikit-learn's ``LogisticRegression(C=c)``
    objective, intercept unpenalised) in its per-photo-mean form. ``features`` must already
    be transformed (:func:`transform_features` with ``power``). ``init`` warm-starts from
    another logistic head of the same shape (e.g. the hold-out fit before the final refit).
    ``balanced`` weights photos by the inverse of their class's frequency, so each class counts
    the same (a uniform prior) whatever its photo count. Classes absent from ``labels`` keep a
    very negative bias so they are never predicted. Deterministic, whatever the core count:
    BLAS runs on one thread here, since these thin products (``C`` columns) gain nothing from
    more (on the busy 2-core reference machine, two threads took 1.6 times as long per step)
    and a thread count changes the order of the sums, so the bits.
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    # Centring changes nothing but conditioning: the unpenalised bias absorbs the mean
    # (b = b' - mean @ W), and L-BFGS converges several times faster on centred features.
    mean = np.asarray(features, dtype=np.float64).mean(axis=0)
    x = np.ascontiguousarray(np.asarray(features, dtype=np.float64) - mean, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    n, d = x.shape
    onehot = np.zeros((n, num_classes), np.float64)
    onehot[np.arange(n), labels] = 1.0
    present = np.zeros(num_classes, bool)
    present[np.unique(labels)] = True
    weights = np.ones(n, np.float64)
    if balanced:
        counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
        weights = n / (present.sum() * counts[labels])
    start = np.zeros(d * num_classes + num_classes)
    if init is not None and init.kind == "logistic" and init.layers[0][0].shape == (d, num_classes):
        w0, b0 = init.layers[0]
        b0 = np.where(b0 < -1e3, 0.0, b0 + mean @ w0)
        start = np.concatenate([w0.ravel(), b0]).astype(np.float64)
    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(
            _softmax_regression_objective,
            start,
            args=(x, onehot, weights, 1.0 / (c * n)),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-12},
        )
    w64 = result.x[: d * num_classes].reshape(d, num_classes)
    w = w64.astype(np.float32)
    b = (result.x[d * num_classes :] - mean @ w64).astype(np.float32)
    b[~present] = -1e4
    return Head("logistic", [(w, b)], power=power, extra={"iterations": float(result.nit)})


def fit_mlp(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    hidden: int = 512,
    alpha: float = 1e-3,
    power: float = 1.0,
    max_iter: int = 200,
    seed: int = 0,
) -> Head:
    """One-hidden-layer ReLU MLP (scikit-learn's Adam fit), exported as NumPy arrays."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    labels = np.asarray(labels, dtype=np.int64)
    present = np.unique(labels)
    model = MLPClassifier(
        hidden_layer_sizes=(hidden,),
        alpha=alpha,
        max_iter=max_iter,
        random_state=seed,
        learning_rate_init=1e-3,
        batch_size=min(256, len(labels)),
        n_iter_no_change=20,
    )
    # Unit-norm features are tiny per dimension; rescale so Adam's defaults suit them.
    scale = float(np.sqrt(features.shape[1]))
    with warnings.catch_warnings():  # stopping at max_iter is the intended budget
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(features * scale, labels)
    w1 = (model.coefs_[0] * scale).astype(np.float32)
    b1 = model.intercepts_[0].astype(np.float32)
    w2 = np.zeros((hidden, num_classes), np.float32)
    b2 = np.full(num_classes, -1e4, np.float32)
    if len(present) == 2:
        half_w, half_b = model.coefs_[1][:, 0] / 2.0, model.intercepts_[1][0] / 2.0
        w2[:, present[0]], b2[present[0]] = -half_w, -half_b
        w2[:, present[1]], b2[present[1]] = half_w, half_b
    else:
        w2[:, present] = model.coefs_[1]
        b2[present] = model.intercepts_[1]
    return Head("mlp", [(w1, b1), (w2, b2)], power=power)
