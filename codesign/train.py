"""Quantization-aware training with pruning: magnitude pruning (one-shot or iterative), N:M
structured pruning, and optional knowledge distillation from a float teacher.

The float twin of the model is trained first: it gives the float baseline accuracy and, when
distillation is on, the teacher's logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codesign import models
from codesign.config import LayerSpec, RunConfig
from codesign.errors import CodesignError


@dataclass
class TrainResult:
    model: object  # the stripped, trained QKeras model (logits out)
    float_accuracy: float | None
    qkeras_accuracy: float  # on the test split
    history: dict[str, list[float]]
    # {"step": [...], "layers": {name: [...]}}: each pruned layer's weight sparsity at each step in "step"
    sparsity_steps: dict | None = None


def _seed(seed: int) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()  # the same seed gives the same weights (select's fine-tunes are retraced by the flow)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == labels)) if len(labels) else float("nan")


class _EpochProgress:
    """A tqdm bar over epochs (Keras' own per-batch bars flood logs)."""

    def __new__(cls, total: int, desc: str, enabled: bool):
        import tensorflow as tf
        from tqdm.auto import tqdm

        class Callback(tf.keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                # disable=None: a bar only on a terminal, so logs stay readable
                self.bar = tqdm(total=total, desc=desc, unit="epoch", disable=None if enabled else True, leave=False)

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_accuracy")})
                self.bar.update(1)

            def on_train_end(self, logs=None):
                self.bar.close()

        return Callback()


def pruned_sparsity(layer) -> float:
    """Fraction of exact zeros of a pruning wrapper's prunable weights as masked (weights * mask)."""
    zeros = total = 0
    for weight, mask, _ in layer.pruning_vars:
        masked = weight.numpy() * mask.numpy()
        zeros += masked.size - np.count_nonzero(masked)
        total += masked.size
    return zeros / total if total else 0.0


class _SparsityLog:
    """Records into ``log`` the training step and each pruned layer's sparsity (``pruned_sparsity``)
    before the first epoch and after every epoch: ``{"step": [...], "layers": {name: [...]}}``, one
    entry per record in every list. Layers are named as in the run config (the wrapped layer's name)."""

    def __new__(cls, log: dict):
        import tensorflow as tf
        from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

        log.update(step=[], layers={})

        class Callback(tf.keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self._record()

            def on_epoch_end(self, epoch, logs=None):
                self._record()

            def _record(self):
                log["step"].append(int(self.model.optimizer.iterations.numpy()))
                for layer in self.model.layers:
                    if isinstance(layer, PruneLowMagnitude):
                        log["layers"].setdefault(layer.layer.name, []).append(round(pruned_sparsity(layer), 6))

        return Callback()


def _pruning_wrapper(config: RunConfig, total_steps: int):
    """Wrap each weighted layer that asks for sparsity in tfmot's prune_low_magnitude."""
    import tensorflow_model_optimization as tfmot

    sparsity = tfmot.sparsity.keras
    p = config.train.pruning
    begin = int(p.begin_fraction * total_steps)
    span = max(1, int(p.end_fraction * total_steps) - begin)
    frequency = min(p.frequency, span)
    # tfmot prunes only on steps begin + k * frequency: end on one, or the target is never reached.
    end = begin + (span // frequency) * frequency

    def wrap(spec: LayerSpec, layer):
        if spec.nm_pair is not None:
            n, m = spec.nm_pair
            # tfmot counts zeros: (M - N) zeros in every M consecutive weights of the reduction axis.
            schedule = sparsity.ConstantSparsity(1 - n / m, begin_step=begin, frequency=frequency)
            return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule, sparsity_m_by_n=(m - n, m))
        if spec.sparsity == 0:
            return layer
        if p.schedule == "constant":
            schedule = sparsity.ConstantSparsity(spec.sparsity, begin_step=begin, frequency=frequency)
        else:
            schedule = sparsity.PolynomialDecay(0.0, spec.sparsity, begin_step=begin, end_step=end, frequency=frequency)
        return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule)

    return wrap


def _check_nm_shapes(student) -> None:
    """N:M groups run along the reduction axis's input channels; they must tile them exactly."""
    from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

    for layer in student.layers:
        if isinstance(layer, PruneLowMagnitude) and layer.sparsity_m_by_n:
            m = layer.sparsity_m_by_n[1]
            channels = int(layer.layer.kernel.shape[-2])
            if channels % m:
                raise CodesignError(f"layer {layer.layer.name}: N:M pruning needs its input channels ({channels}) to be a multiple of M={m}")


def _distillation_loss(n_classes: int, temperature: float, alpha: float):
    """Hard-label cross-entropy plus temperature-softened KL to the teacher (Hinton et al.).

    ``y`` carries the one-hot labels and the teacher's logits side by side, so plain ``fit`` and
    the pruning callbacks work unchanged.
    """
    import tensorflow as tf

    def loss(y, logits):
        labels, teacher = y[:, :n_classes], y[:, n_classes:]
        hard = tf.keras.losses.categorical_crossentropy(labels, logits, from_logits=True)
        soft_teacher = tf.nn.softmax(teacher / temperature)
        soft_student = tf.nn.log_softmax(logits / temperature)
        kl = tf.reduce_sum(soft_teacher * (tf.math.log(soft_teacher + 1e-12) - soft_student), axis=-1)
        return (1 - alpha) * hard + alpha * temperature**2 * kl

    return loss


def _fit(model, x, y, val, config: RunConfig, epochs: int, loss, metrics, callbacks, desc: str, progress: bool):
    import tensorflow as tf

    steps = math.ceil(len(x) / config.train.batch_size) * epochs
    schedule = tf.keras.optimizers.schedules.CosineDecay(config.train.learning_rate, decay_steps=max(1, steps), alpha=0.05)
    model.compile(optimizer=tf.keras.optimizers.Adam(schedule), loss=loss, metrics=metrics)
    history = model.fit(
        x, y, batch_size=config.train.batch_size, epochs=epochs, validation_data=val, verbose=0,
        callbacks=[*callbacks, _EpochProgress(epochs, desc, progress)], shuffle=True,
    )
    return {k: [float(v) for v in vs] for k, vs in history.history.items()}


def float_model(config: RunConfig, x_train, y_train, x_val, y_val, n_classes: int, *, progress: bool = True):
    """The float twin of ``config``'s model, trained ``train.float_epochs`` epochs: the float baseline,
    the distillation teacher, and the shared checkpoint that fine-tunes start from."""
    import tensorflow as tf

    onehot = lambda y: tf.keras.utils.to_categorical(y, n_classes)  # noqa: E731
    val = (x_val, onehot(y_val)) if len(y_val) else None
    _seed(config.train.seed)
    teacher = models.build(config, tuple(x_train.shape[1:]), n_classes, quantized=False)
    loss = tf.keras.losses.CategoricalCrossentropy(from_logits=True)
    history = _fit(teacher, x_train, onehot(y_train), val, config, config.train.float_epochs, loss, ["accuracy"], [], "float baseline", progress)
    return teacher, {f"float_{k}": v for k, v in history.items()}


_WEIGHTS = ("kernel", "depthwise_kernel", "bias")
_BATCHNORM = ("gamma", "beta", "moving_mean", "moving_variance")


def _copy_weights(student, init) -> None:
    """Start every weighted layer of ``student`` (pruning wrappers included) from the same-named layer of
    ``init``: its kernel (or depthwise kernel) and bias; a QConv2DBatchnorm also takes the statistics and
    scales of the float twin's BatchNormalization ``<name>_bn`` (see ``models.build``)."""
    source = {layer.name: layer for layer in init.layers}
    for layer in student.layers:
        inner = getattr(layer, "layer", layer)  # PruneLowMagnitude holds the layer it prunes
        twin = source.get(inner.name)
        if twin is None or not any(getattr(twin, key, None) is not None for key in _WEIGHTS[:2]):
            continue
        for key in _WEIGHTS:
            if getattr(inner, key, None) is not None and getattr(twin, key, None) is not None:
                getattr(inner, key).assign(getattr(twin, key))
        batchnorm, twin_bn = getattr(inner, "batchnorm", None), source.get(f"{inner.name}_bn")
        if batchnorm is not None and twin_bn is not None:
            for key in _BATCHNORM:
                getattr(batchnorm, key).assign(getattr(twin_bn, key))


def quantized_model(config: RunConfig, x_train, y_train, x_val, y_val, n_classes: int, *, epochs: int | None = None,
                    init=None, teacher=None, progress: bool = True):
    """Quantization-aware training with pruning of ``config``'s QKeras model; returns it stripped, with its
    history, which holds the per-layer sparsity record under ``"sparsity_steps"`` (see ``_SparsityLog``).

    ``init``: a model whose weights (by layer name) the student starts from, e.g. the float twin, so a
    short fine-tune replaces training from scratch. ``teacher``: a float model to distill from (when
    ``train.distill`` is on). ``epochs`` defaults to ``train.epochs``; the pruning schedule spans them.
    """
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    epochs = config.train.epochs if epochs is None else epochs
    onehot = lambda y: tf.keras.utils.to_categorical(y, n_classes)  # noqa: E731
    val = (x_val, onehot(y_val)) if len(y_val) else None
    _seed(config.train.seed)
    steps = math.ceil(len(x_train) / config.train.batch_size) * epochs
    try:
        student = models.build(config, tuple(x_train.shape[1:]), n_classes, wrap=_pruning_wrapper(config, steps))
    except ValueError as err:  # tfmot refuses N:M on shapes it cannot group
        raise CodesignError(f"pruning: {err}") from None
    _check_nm_shapes(student)
    if init is not None:
        _copy_weights(student, init)
    targets = onehot(y_train)
    metrics = ["accuracy"]
    if teacher is not None and config.train.distill.enabled:
        d = config.train.distill
        targets = np.concatenate([targets, teacher.predict(x_train, verbose=0, batch_size=4096)], axis=1)
        loss = _distillation_loss(n_classes, d.temperature, d.alpha)
        val = (x_val, np.concatenate([onehot(y_val), teacher.predict(x_val, verbose=0)], axis=1)) if val else None
        metrics = []
    else:
        loss = tf.keras.losses.CategoricalCrossentropy(from_logits=True)
    sparsity_steps: dict = {}
    callbacks = [tfmot.sparsity.keras.UpdatePruningStep(), _SparsityLog(sparsity_steps)]
    history = _fit(student, x_train, targets, val, config, epochs, loss, metrics, callbacks, "quantization-aware training", progress)
    return tfmot.sparsity.keras.strip_pruning(student), {**history, "sparsity_steps": sparsity_steps}


def train(config: RunConfig, x_train, y_train, x_val, y_val, x_test, y_test, n_classes: int, *, progress: bool = True) -> TrainResult:
    """Train the float baseline (and teacher), then the quantized, pruned student (from the float
    weights with ``train.init_from_float``); strip pruning."""
    history: dict[str, list[float]] = {}
    float_accuracy, teacher = None, None
    if config.train.float_epochs:
        teacher, float_history = float_model(config, x_train, y_train, x_val, y_val, n_classes, progress=progress)
        history.update(float_history)
        float_accuracy = accuracy(teacher.predict(x_test, verbose=0, batch_size=4096), y_test)
    init = teacher if config.train.init_from_float else None
    student, student_history = quantized_model(config, x_train, y_train, x_val, y_val, n_classes, init=init, teacher=teacher, progress=progress)
    sparsity_steps = student_history.pop("sparsity_steps")
    history.update(student_history)
    qkeras_accuracy = accuracy(student.predict(x_test, verbose=0, batch_size=4096), y_test)
    return TrainResult(student, float_accuracy, qkeras_accuracy, history, sparsity_steps)
