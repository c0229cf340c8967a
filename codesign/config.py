"""The typed run configuration: YAML in and out (``yaml.safe_load``), validated into clear errors.

A run config says which data set, the input fixed-point type, the per-layer model spec (widths,
bit-widths, pruning), how to train, how to build the hls4ml project, and which accelerator array
to run it on.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from codesign.errors import CodesignError
from codesign.fixedpoint import FixedType, quantized_bits_type, quantized_relu_type, validate_quantizer

DATASETS = ("digits", "fashion-mnist", "jets")
LAYER_TYPES = ("dense", "conv2d", "depthwise2d", "maxpool2d", "avgpool2d", "flatten")
WEIGHTED_TYPES = ("dense", "conv2d", "depthwise2d")
CONV_TYPES = ("conv2d", "depthwise2d")  # the types that take padding and strides
PADDINGS = ("valid", "same")
STRIDES = (1, 2)
AVGPOOL_SIZES = (1, 2, 4, 8)  # an average divides exactly in fixed point only over a power-of-two number of pixels
ACTIVATIONS = ("relu", "linear")
SCHEDULES = ("constant", "polynomial")
BACKENDS = ("Vitis", "Vivado")
IO_TYPES = ("io_parallel", "io_stream")
SIMULATORS = ("verilator", "icarus")
SYNTH_TARGETS = ("ecp5", "xc7")  # the FPGA families codesign.synth maps a design to with Yosys
# rtl.array, a fixed build: the accelerator parameters besides rows, cols and sparse (AccelSpec checks their ranges)
ARRAY_FIELDS = ("weight_bits", "act_bits", "acc_bits", "amem_depth", "wmem_depth", "bmem_depth", "omem_depth", "dmem_depth")
STRATEGIES = ("Latency", "Resource")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class DatasetConfig:
    name: str = "digits"
    path: str | None = None  # fashion-mnist IDX directory, or jets parquet/CSV file
    seed: int = 0
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    max_train: int | None = None  # cap the training split (quick runs and tests)
    max_test: int | None = None


@dataclass(frozen=True)
class InputConfig:
    """The fixed-point type the data is put on before it enters the model (and the HLS design)."""

    bits: int = 8
    integer: int = 1
    signed: bool = False

    @property
    def type(self) -> FixedType:
        return FixedType(self.bits, self.integer, self.signed)


@dataclass(frozen=True)
class LayerSpec:
    type: str
    name: str | None = None
    units: int | None = None  # dense; None on the last layer means "one per class"
    filters: int | None = None  # conv2d (a depthwise2d keeps its input's channels)
    kernel_size: int = 3
    padding: str = "valid"  # conv2d, depthwise2d: "valid" or "same" (TensorFlow's split)
    strides: int = 1  # conv2d, depthwise2d: 1 or 2, both axes
    batchnorm: bool = False  # conv2d: a batch norm folded into the kernel and bias (QConv2DBatchnorm)
    pool_size: int = 2  # maxpool2d, avgpool2d
    weight_bits: int = 6
    weight_integer: int = 0
    bias_bits: int = 8
    bias_integer: int = 3
    activation: str = "relu"
    act_bits: int = 6
    act_integer: int = 1
    sparsity: float = 0.0
    nm: str | None = None  # "N:M" structured sparsity along the reduction axis, e.g. "2:4"

    @property
    def has_weights(self) -> bool:
        return self.type in WEIGHTED_TYPES

    @property
    def weight_type(self) -> FixedType:
        return quantized_bits_type(self.weight_bits, self.weight_integer)

    @property
    def bias_type(self) -> FixedType:
        return quantized_bits_type(self.bias_bits, self.bias_integer)

    @property
    def act_type(self) -> FixedType | None:
        return quantized_relu_type(self.act_bits, self.act_integer) if self.activation == "relu" else None

    @property
    def nm_pair(self) -> tuple[int, int] | None:
        if self.nm is None:
            return None
        n, m = self.nm.split(":")
        return int(n), int(m)


@dataclass(frozen=True)
class PruningConfig:
    schedule: str = "polynomial"  # "constant": one-shot at begin; "polynomial": iterative ramp to target
    begin_fraction: float = 0.2  # of all training steps
    end_fraction: float = 0.7
    frequency: int = 20  # steps between pruning updates


@dataclass(frozen=True)
class DistillConfig:
    enabled: bool = False
    temperature: float = 4.0
    alpha: float = 0.5  # weight of the soft (teacher) loss; 1 - alpha on the hard labels


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 60
    float_epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 3e-3
    seed: int = 0
    pruning: PruningConfig = field(default_factory=PruningConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    init_from_float: bool = False  # QAT starts from the trained float twin's weights instead of a fresh initialization


@dataclass(frozen=True)
class HlsConfig:
    backend: str = "Vitis"
    io_type: str = "io_parallel"
    strategy: str = "Latency"
    reuse_factor: int = 1
    part: str = "xcvu13p-flga2577-2-e"
    clock_period_ns: float = 5.0


@dataclass(frozen=True)
class RtlConfig:
    """The accelerator stage of `codesign flow`: the array to run the test split on, and what to measure."""

    enabled: bool = True
    rows: int = 8
    cols: int = 8
    sparse: bool = True  # build with N:M support; layers whose weights meet 2:4 run compressed
    samples: int | None = None  # first N test samples (all by default)
    simulator: str = "verilator"
    synth: bool = True  # Yosys resource counts of the chosen array
    synth_targets: tuple[str, ...] = SYNTH_TARGETS  # the FPGA families Yosys maps the array to
    place_route: bool = False  # also nextpnr-ecp5 for Fmax (minutes)
    unrolled: bool = False  # also the fully unrolled Verilog (da4ml) in Verilator: a fourth execution (minutes for large layers)
    pnr_seeds: tuple[int, ...] = (1, 2)  # placement seeds, in parallel on the cores; best Fmax kept
    pnr_timeout_s: float = 1080.0  # budget of synthesis + place & route (router1, then router2)
    array: dict[str, int] | None = None  # a fixed build, every ARRAY_FIELDS entry given; None: the smallest build that runs the model

    def __post_init__(self) -> None:
        for key in ("pnr_seeds", "synth_targets"):  # from YAML: held as tuples, so configs compare equal
            if isinstance(getattr(self, key), list):
                object.__setattr__(self, key, tuple(getattr(self, key)))


@dataclass(frozen=True)
class RunConfig:
    name: str = "digits-mlp"
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    input: InputConfig = field(default_factory=InputConfig)
    layers: tuple[LayerSpec, ...] = ()
    train: TrainConfig = field(default_factory=TrainConfig)
    hls: HlsConfig = field(default_factory=HlsConfig)
    rtl: RtlConfig = field(default_factory=RtlConfig)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["layers"] = [dataclasses.asdict(layer) for layer in self.layers]
        return data


def default_layers(dataset: str) -> tuple[LayerSpec, ...]:
    """A pruned low-bit MLP that reaches the demo's accuracy target on the data set."""
    hidden = 64 if dataset == "digits" else 32
    return (
        LayerSpec("dense", name="fc1", units=hidden, sparsity=0.6),
        LayerSpec("dense", name="fc2", units=32, sparsity=0.5),
        LayerSpec("dense", name="output", activation="linear", sparsity=0.3),
    )


def default_config(dataset: str = "digits") -> RunConfig:
    if dataset not in DATASETS:
        raise CodesignError(f"unknown data set {dataset!r}; allowed: {', '.join(DATASETS)}")
    input_cfg = InputConfig(16, 6, True) if dataset == "jets" else InputConfig()
    return validate(RunConfig(name=f"{dataset}-mlp", dataset=DatasetConfig(name=dataset), input=input_cfg, layers=default_layers(dataset)))


def _build(cls: type, data: Any, where: str) -> Any:
    """Instantiate a config dataclass from a mapping, naming unknown keys and the allowed ones."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise CodesignError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise CodesignError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(fields)}")
    nested = {"pruning": PruningConfig, "distill": DistillConfig}
    values = {key: _build(nested[key], value, f"{where}.{key}") if key in nested else value for key, value in data.items()}
    try:
        return cls(**values)
    except CodesignError as err:
        raise CodesignError(f"{where}: {err}") from None


def from_dict(data: dict[str, Any]) -> RunConfig:
    if not isinstance(data, dict):
        raise CodesignError("run config: expected a mapping at the top level")
    allowed = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise CodesignError(f"run config: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    dataset = _build(DatasetConfig, data.get("dataset"), "dataset")
    layers_data = data.get("layers")
    if layers_data is None:
        layers = default_layers(dataset.name)
    elif isinstance(layers_data, list):
        layers = tuple(_build(LayerSpec, layer, f"layers[{i}]") for i, layer in enumerate(layers_data))
    else:
        raise CodesignError("layers: expected a list of layer mappings")
    config = RunConfig(
        name=data.get("name", f"{dataset.name}-model"),
        dataset=dataset,
        input=_build(InputConfig, data.get("input"), "input"),
        layers=layers,
        train=_build(TrainConfig, data.get("train"), "train"),
        hls=_build(HlsConfig, data.get("hls"), "hls"),
        rtl=_build(RtlConfig, data.get("rtl"), "rtl"),
    )
    return validate(config)


def load(path: str | Path) -> RunConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise CodesignError(f"cannot read run config {path}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CodesignError(f"run config {path} is not valid YAML: {err}") from None
    return from_dict(data or {})


def dump(config: RunConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def _check_range(where: str, name: str, value: Any, lo: float, hi: float, *, hi_open: bool = False, kind: type = int) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or isinstance(value, int))
    if ok:
        ok = lo <= value < hi if hi_open else lo <= value <= hi
    if not ok:
        interval = f"[{lo}, {hi})" if hi_open else f"{lo}..{hi}"
        raise CodesignError(f"{where}: {name}={value!r} is outside the allowed range {interval}")


def _check_choice(where: str, name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise CodesignError(f"{where}: {name}={value!r} is not allowed; choose one of: {', '.join(allowed)}")


def _check_flag(where: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise CodesignError(f"{where}: {name}={value!r} must be true or false")


def _check_layer_geometry(layer: LayerSpec, where: str) -> None:
    """padding, strides and batchnorm: allowed values, and only on the types that take them."""
    _check_choice(where, "padding", layer.padding, PADDINGS)
    if isinstance(layer.strides, bool) or layer.strides not in STRIDES:
        raise CodesignError(f"{where}: strides={layer.strides!r} is not allowed; choose one of: {', '.join(map(str, STRIDES))}")
    if layer.type not in CONV_TYPES and (layer.padding != "valid" or layer.strides != 1):
        raise CodesignError(f"{where}: padding and strides apply to {' and '.join(CONV_TYPES)} layers only; "
                            f"a {layer.type} layer takes padding='valid', strides=1 (the defaults)")
    _check_flag(where, "batchnorm", layer.batchnorm)
    if layer.batchnorm and layer.type != "conv2d":
        why = (" (QKeras' float32 BatchNormalization after a dense layer is exact in fixed point only for narrow layers: "
               "the importer refuses it for a 64-unit 6-bit layer on digits)") if layer.type == "dense" else ""
        raise CodesignError(f"{where}: batchnorm=true is allowed on conv2d layers only (folded into the kernel and bias: "
                            f"QConv2DBatchnorm); a {layer.type} layer takes batchnorm=false{why}")


def validate_layer(layer: LayerSpec, where: str, is_last: bool) -> LayerSpec:
    where = f"{where} ({layer.name})" if layer.name else where
    _check_choice(where, "type", layer.type, LAYER_TYPES)
    if layer.name is not None and not _NAME.match(layer.name):
        raise CodesignError(f"{where}: name {layer.name!r} must start with a letter and hold only letters, digits and _")
    _check_layer_geometry(layer, where)
    if layer.type in ("maxpool2d", "avgpool2d"):
        _check_range(where, "pool_size", layer.pool_size, 1, 16)
    if layer.type == "avgpool2d" and layer.pool_size not in AVGPOOL_SIZES:
        raise CodesignError(f"{where}: pool_size={layer.pool_size!r} is not allowed for avgpool2d; choose one of: "
                            f"{', '.join(map(str, AVGPOOL_SIZES))} (an average is exact in fixed point only over a power-of-two number of pixels)")
    if not layer.has_weights:
        return layer
    validate_quantizer(f"{where} weights", layer.weight_bits, layer.weight_integer, signed=True)
    validate_quantizer(f"{where} bias", layer.bias_bits, layer.bias_integer, signed=True)
    _check_choice(where, "activation", layer.activation, ACTIVATIONS)
    if layer.activation == "relu":
        validate_quantizer(f"{where} activation", layer.act_bits, layer.act_integer, signed=False)
    _check_range(where, "sparsity", layer.sparsity, 0.0, 1.0, hi_open=True, kind=float)
    if layer.type == "dense" and layer.units is not None:
        _check_range(where, "units", layer.units, 1, 4096)
    if layer.type == "dense" and layer.units is None and not is_last:
        raise CodesignError(f"{where}: units is required (only the last layer may leave it out: one unit per class)")
    if layer.type == "conv2d":
        _check_range(where, "filters", layer.filters, 1, 1024)
    if layer.type == "depthwise2d" and layer.filters is not None:
        raise CodesignError(f"{where}: filters={layer.filters!r} is not allowed on depthwise2d, which keeps its input's channels (one kernel per channel); leave it out")
    if layer.type in CONV_TYPES:
        _check_range(where, "kernel_size", layer.kernel_size, 1, 15)
    if layer.nm is not None:
        if layer.type == "depthwise2d":
            raise CodesignError(f"{where}: nm={layer.nm!r} is not allowed on depthwise2d: each channel's reduction is its own "
                                f"kernel_size x kernel_size window, which N:M groups along input channels do not follow; use sparsity")
        match = re.fullmatch(r"(\d+):(\d+)", str(layer.nm))
        if not match:
            raise CodesignError(f"{where}: nm={layer.nm!r} must be written N:M, e.g. 2:4")
        n, m = int(match[1]), int(match[2])
        if not (1 <= n < m <= 32):
            raise CodesignError(f"{where}: nm={layer.nm!r} needs 1 <= N < M <= 32 (N non-zeros in every group of M)")
        if layer.sparsity:
            raise CodesignError(f"{where}: give either sparsity or nm, not both (N:M fixes the sparsity at 1 - N/M)")
    return layer


def validate_rtl(r: RtlConfig) -> RtlConfig:
    for key in ("enabled", "sparse", "synth", "place_route", "unrolled"):
        if not isinstance(getattr(r, key), bool):
            raise CodesignError(f"rtl: {key}={getattr(r, key)!r} must be true or false")
    # the simulated array sizes (AccelSpec's MAX_ARRAY_DIM)
    _check_range("rtl", "rows", r.rows, 1, 16)
    _check_range("rtl", "cols", r.cols, 1, 16)
    if r.samples is not None:
        _check_range("rtl", "samples", r.samples, 1, 10_000_000)
    _check_choice("rtl", "simulator", r.simulator, SIMULATORS)
    seeds = r.pnr_seeds
    if not isinstance(seeds, (list, tuple)) or not seeds or len(seeds) > 64 or len(set(seeds)) != len(seeds) \
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise CodesignError(f"rtl: pnr_seeds={seeds!r} must be a list of 1 to 64 distinct integers >= 0, e.g. [1, 2]")
    _check_range("rtl", "pnr_timeout_s", r.pnr_timeout_s, 1, 7 * 24 * 3600, kind=float)
    if r.array is not None:
        if not isinstance(r.array, dict) or set(r.array) != set(ARRAY_FIELDS):
            raise CodesignError(f"rtl: array={r.array!r} must give every one of {', '.join(ARRAY_FIELDS)} (a fixed build), or be null")
        from codesign.accel.spec import AccelSpec, sparse_m_for

        try:
            AccelSpec(r.rows, r.cols, sparse_m=sparse_m_for(r.sparse), **r.array)
        except CodesignError as err:
            raise CodesignError(f"rtl: array: {err}") from None
    targets = r.synth_targets
    if not isinstance(targets, (list, tuple)) or not targets or len(set(targets)) != len(targets) or not set(targets) <= set(SYNTH_TARGETS):
        shown = list(targets) if isinstance(targets, tuple) else targets
        raise CodesignError(f"rtl: synth_targets={shown!r} must be a list of distinct families from {', '.join(SYNTH_TARGETS)}, e.g. [ecp5]")
    return r


def validate(config: RunConfig) -> RunConfig:
    """Check every field; return the config with layer names filled in."""
    if not isinstance(config.name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", config.name):
        raise CodesignError(f"name={config.name!r}: use letters, digits, '.', '_' and '-' (it names the run and HLS project directories)")
    _check_choice("dataset", "name", config.dataset.name, DATASETS)
    if config.dataset.name == "digits" and config.dataset.path is not None:
        raise CodesignError(f"dataset: path={config.dataset.path!r} (--data) is given, but digits ships with scikit-learn and reads no file; "
                            f"drop it, or choose dataset fashion-mnist (an IDX directory) or jets (a parquet/CSV file)")
    if config.dataset.path is not None and not isinstance(config.dataset.path, str):
        raise CodesignError(f"dataset: path={config.dataset.path!r} must be a file or directory name")
    _check_range("dataset", "test_fraction", config.dataset.test_fraction, 0.05, 0.5, kind=float)
    _check_range("dataset", "val_fraction", config.dataset.val_fraction, 0.0, 0.5, kind=float)
    for key in ("max_train", "max_test"):
        if getattr(config.dataset, key) is not None:
            _check_range("dataset", key, getattr(config.dataset, key), 10, 10_000_000)
    validate_quantizer("input", config.input.bits, config.input.integer, signed=config.input.signed)
    if not config.layers:
        raise CodesignError("layers: the model needs at least one layer")
    counters: dict[str, int] = {}
    prefixes = {"dense": "fc", "conv2d": "conv", "depthwise2d": "dw", "maxpool2d": "pool", "avgpool2d": "avgpool", "flatten": "flatten"}
    named = []
    for i, layer in enumerate(config.layers):
        is_last = i == len(config.layers) - 1
        _check_choice(f"layers[{i}]", "type", layer.type, LAYER_TYPES)
        counters[layer.type] = counters.get(layer.type, 0) + 1
        if layer.name is None:  # named first, so errors can say which layer
            layer = dataclasses.replace(layer, name="output" if is_last else f"{prefixes[layer.type]}{counters[layer.type]}")
        named.append(validate_layer(layer, f"layers[{i}]", is_last))
    names = [layer.name for layer in named]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CodesignError(f"layers: names must be unique; repeated: {', '.join(duplicates)}")
    if named[-1].type != "dense" or named[-1].activation != "linear":
        raise CodesignError(f"layers[{len(named) - 1}] ({named[-1].name}): the last layer must be a dense layer with activation linear (it gives the logits)")
    t = config.train
    _check_range("train", "epochs", t.epochs, 1, 10_000)
    _check_range("train", "float_epochs", t.float_epochs, 0, 10_000)
    _check_range("train", "batch_size", t.batch_size, 1, 65_536)
    _check_range("train", "learning_rate", t.learning_rate, 1e-7, 1.0, kind=float)
    _check_choice("train.pruning", "schedule", t.pruning.schedule, SCHEDULES)
    _check_range("train.pruning", "begin_fraction", t.pruning.begin_fraction, 0.0, 1.0, hi_open=True, kind=float)
    _check_range("train.pruning", "end_fraction", t.pruning.end_fraction, t.pruning.begin_fraction, 1.0, kind=float)
    _check_range("train.pruning", "frequency", t.pruning.frequency, 1, 100_000)
    _check_range("train.distill", "temperature", t.distill.temperature, 0.1, 100.0, kind=float)
    _check_range("train.distill", "alpha", t.distill.alpha, 0.0, 1.0, kind=float)
    if not isinstance(t.init_from_float, bool):
        raise CodesignError(f"train: init_from_float={t.init_from_float!r} must be true or false")
    if t.init_from_float and t.float_epochs == 0:
        raise CodesignError("train.init_from_float: quantization-aware training starts from the float twin: set train.float_epochs >= 1")
    if t.distill.enabled and t.float_epochs == 0:
        raise CodesignError("train.distill: distillation needs a float teacher: set train.float_epochs >= 1")
    h = config.hls
    _check_choice("hls", "backend", h.backend, BACKENDS)
    _check_choice("hls", "io_type", h.io_type, IO_TYPES)
    _check_choice("hls", "strategy", h.strategy, STRATEGIES)
    _check_range("hls", "reuse_factor", h.reuse_factor, 1, 4096)
    _check_range("hls", "clock_period_ns", h.clock_period_ns, 0.5, 1000.0, kind=float)
    validate_rtl(config.rtl)
    return dataclasses.replace(config, layers=tuple(named))
