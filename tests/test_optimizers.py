"""The optimizers of applications/optimizers.py against plain references: AdamW's steps are
Loshchilov and Hutter's decoupled decay with Kingma and Ba's Adam (NumPy, float64) for a decayed
and an excluded variable, and bit for bit Keras' own AdamW with that variable excluded; SGD with
momentum (and Nesterov's) is Sutskever et al.'s update with decoupled decay; layer-wise rates
move each variable of the FlipReID resnet18 by its layer's multiplier (BEiT's and MAE's rule)
times the unscaled step; the defaults are the 2021 release's Adam, bit for bit on a training
step; under mixed_float16 the loss-scale wrapper hands the same gradients on; the flag files
give TransReID's and CLIP-ReID's schedules; solution.py trains, evaluates and resumes with
AdamW and layer decay exactly as an uninterrupted run.
"""

import concurrent.futures
import contextlib
import json
import math
import os
import re

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import (
    REPOSITORY,
    SHRUNK,
    TINY_SYNTHETIC,
    assert_identical,
    quiet_environment,
    run_solution,
    start_python,
    synthetic_dataset_flags,
)
from test_crash_consistency import (
    FOLDER_NAME,
    RUN,
    assert_same_checkpoint_values,
    assert_same_run,
    checkpoint_values,
    run_with_crash,
)

import applications
from applications.model import all_blocks_trainable
from applications.optimizers import (
    AdamWithVariableRates,
    LayerMap,
    VariableRate,
    is_decayed,
    make_optimizer,
)
from datasets import generate_synthetic_dataset
from settings import (
    LearningRateSettings,
    ModelSettings,
    OptimizerSettings,
    RegularizationSettings,
    SettingsError,
)
from settings.flag_files import parse_flag_lines

CLASS_NUM = 4
RESNET18 = ModelSettings(
    backbone_model_name="resnet18",
    image_height=64,
    image_width=32,
    use_horizontal_flipping_inside_model=True,
)
# Keras' Adam defaults, which the program keeps. Keras computes the bias corrections with float32
# powers of the betas (1 - float32(0.999) is 1.3e-5 off 1e-3) and the moments with the exact
# factors, so its steps are 6.4e-6 shorter than in float64: the tolerances are 1e-5 of a step.
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7
STEP_TOLERANCE = 1e-5


@pytest.fixture
def arithmetic_optimizer_off():
    """As the program runs (training/devices.py): Grappler would merge a weight's gradient terms
    into AddNs whose order of addition changes from run to run."""
    before = tf.config.optimizer.get_experimental_options().get("arithmetic_optimization", True)
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})
    yield
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": before})


def dense_variables(rng) -> list[keras.Variable]:
    """[kernel (3, 4), bias (4,)] of a Dense layer named "head", at random values."""
    layer = keras.layers.Dense(4, name="head")
    layer.build((None, 3))
    layer.kernel.assign(rng.normal(0, 1, (3, 4)))
    layer.bias.assign(rng.normal(0, 1, (4,)))
    return [layer.kernel, layer.bias]


def gradient_steps(variables, rng, step_num: int = 3) -> list[list[np.ndarray]]:
    return [
        [rng.normal(0, 1, tuple(variable.shape)).astype(np.float32) for variable in variables]
        for _ in range(step_num)
    ]


def apply_steps(optimizer, variables, steps, learning_rate: float) -> list[np.ndarray]:
    """Each step updates the variables whose gradient is not None (a frozen phase's step)."""
    optimizer.learning_rate.assign(learning_rate)
    for gradients in steps:
        pairs = [(g, v) for g, v in zip(gradients, variables, strict=True) if g is not None]
        optimizer.apply([tf.constant(g) for g, _ in pairs], [v for _, v in pairs])
    return [variable.numpy() for variable in variables]


def numpy_adamw(weights, steps, *, learning_rate, decays, multipliers=None):
    """Loshchilov and Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019), Algorithm 2
    with schedule multiplier 1 and the decay scaled by the learning rate (as PyTorch's and Keras'
    AdamW, and timm's recipes, give it): w <- w - (rate x Adam's step + rate x decay x w), Adam's
    step in Kingma and Ba's form (ICLR 2015, end of Section 2): rate sqrt(1 - b2^t) / (1 - b1^t)
    x m / (sqrt(v) + epsilon). rate = learning_rate x the variable's multiplier. t counts the
    optimizer's steps; a variable whose gradient is None in a step is left as it is."""
    weights = [np.asarray(w, np.float64) for w in weights]
    multipliers = multipliers or [1.0] * len(weights)
    moments = [np.zeros_like(w) for w in weights]
    velocities = [np.zeros_like(w) for w in weights]
    for t, gradients in enumerate(steps, start=1):
        for i, gradient in enumerate(gradients):
            if gradient is None:
                continue
            g = np.asarray(gradient, np.float64)
            rate = learning_rate * multipliers[i]
            moments[i] = BETA_1 * moments[i] + (1 - BETA_1) * g
            velocities[i] = BETA_2 * velocities[i] + (1 - BETA_2) * g * g
            alpha = rate * math.sqrt(1 - BETA_2**t) / (1 - BETA_1**t)
            adam_step = alpha * moments[i] / (np.sqrt(velocities[i]) + EPSILON)
            weights[i] = weights[i] - (adam_step + rate * decays[i] * weights[i])
    return weights


def numpy_sgd(weights, steps, *, learning_rate, momentum, nesterov, decays):
    """Sutskever et al., "On the importance of initialization and momentum in deep learning"
    (ICML 2013), in PyTorch's form: buffer <- momentum buffer + g; w <- w - rate x buffer
    (Nesterov's: w <- w - rate (g + momentum buffer)); decoupled decay w <- w - rate decay w
    before the step (SGDW, Loshchilov and Hutter, with the decay scaled by the rate)."""
    weights = [np.asarray(w, np.float64) for w in weights]
    buffers = [np.zeros_like(w) for w in weights]
    for gradients in steps:
        for i, gradient in enumerate(gradients):
            g = np.asarray(gradient, np.float64)
            weights[i] = weights[i] - learning_rate * decays[i] * weights[i]
            buffers[i] = momentum * buffers[i] + g
            direction = g + momentum * buffers[i] if nesterov else buffers[i]
            weights[i] = weights[i] - learning_rate * direction
    return weights


def test_adamw_steps_decay_the_kernel_and_not_the_bias_as_loshchilov_and_hutter():
    rng = np.random.default_rng(0)
    variables = dense_variables(rng)
    initial = [variable.numpy() for variable in variables]
    steps = gradient_steps(variables, rng)
    settings = OptimizerSettings(optimizer_name="AdamW", weight_decay=0.05)
    assert [is_decayed(variable) for variable in variables] == [True, False]
    found = apply_steps(make_optimizer(variables, settings), variables, steps, 1e-2)
    expected = numpy_adamw(initial, steps, learning_rate=1e-2, decays=[0.05, 0.0])
    for name, value, reference in zip(("kernel", "bias"), found, expected, strict=True):
        np.testing.assert_allclose(
            value, reference, rtol=1e-6, atol=STEP_TOLERANCE * 1e-2, err_msg=name
        )
    # The decay is far above the tolerance: without it every kernel value would fail.
    undecayed = numpy_adamw(initial, steps, learning_rate=1e-2, decays=[0.0, 0.0])
    tolerance = STEP_TOLERANCE * 1e-2 + 1e-6 * np.abs(expected[0])
    assert (np.abs(undecayed[0] - expected[0]) > 100 * tolerance).all()

    # Keras' own AdamW with the bias excluded gives the same bits (one learning rate for all).
    for variable, value in zip(variables, initial, strict=True):
        variable.assign(value)
    keras_adamw = keras.optimizers.AdamW(weight_decay=0.05)
    keras_adamw.exclude_from_weight_decay(var_list=[variables[1]])
    keras_adamw.build(variables)
    keras_found = apply_steps(keras_adamw, variables, steps, 1e-2)
    for name, value, reference in zip(("kernel", "bias"), found, keras_found, strict=True):
        assert_identical(value, reference, what=f"AdamW against Keras' AdamW, {name}")


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_steps_are_sutskevers_with_decoupled_decay(nesterov):
    rng = np.random.default_rng(1)
    variables = dense_variables(rng)
    initial = [variable.numpy() for variable in variables]
    steps = gradient_steps(variables, rng)
    settings = OptimizerSettings(
        optimizer_name="SGD", momentum=0.9, use_nesterov_momentum=nesterov, weight_decay=0.01
    )
    found = apply_steps(make_optimizer(variables, settings), variables, steps, 0.05)
    expected = numpy_sgd(
        initial, steps, learning_rate=0.05, momentum=0.9, nesterov=nesterov, decays=[0.01, 0.0]
    )
    for name, value, reference in zip(("kernel", "bias"), found, expected, strict=True):
        np.testing.assert_allclose(value, reference, rtol=1e-6, atol=1e-7, err_msg=name)


def variable_at(shape: tuple, path: str) -> keras.Variable:
    """A variable whose path is `path` (its layers as nested name scopes)."""
    *scopes, name = path.split("/")
    with contextlib.ExitStack() as stack:
        for scope in scopes:
            stack.enter_context(keras.name_scope(scope))
        return keras.Variable(np.zeros(shape, np.float32), name=name)


def test_the_weight_decay_rule_skips_one_dimensional_variables_biases_and_embeddings():

    cases = {  # keras-hub's DINOv2 and CLIP names, and the FlipReID network's
        ((14, 14, 3, 384), "embeddings/patch_embeddings/projection/kernel"): True,
        ((1, 1, 384), "embeddings/cls_token"): False,
        ((1, 4, 384), "embeddings/register_tokens"): False,
        ((1, 257, 384), "embeddings/interpolated_position_embeddings"): False,
        ((197, 768), "embedding/position_embedding/embeddings"): False,
        ((768,), "embedding/class_embedding"): False,
        ((384, 6, 64), "encoder/layers_0/attention/attention/query/kernel"): True,
        ((6, 64), "encoder/layers_0/attention/attention/query/bias"): False,
        ((384,), "encoder/layers_0/layer_scale1/lambda1"): False,
        ((384,), "encoder/layers_0/norm1/gamma"): False,
        ((3, 3, 512, 256), "region1_conv/kernel"): True,
        ((), "global_pooling/power"): False,
        ((512, 751), "global_classifier/kernel"): True,
    }
    for (shape, path), decayed in cases.items():
        variable = variable_at(shape, path)
        assert variable.path == path
        assert is_decayed(variable) == decayed, path


@pytest.fixture(scope="module")
def resnet18_model():
    training_model, _ = applications.init_model(
        RESNET18, class_num=CLASS_NUM, use_pretrained_backbone=False
    )
    return training_model


# BEiT's and MAE's rule, layer_decay ** (L + 1 - layer) with L = 4, written out for the
# FlipReID network's blocks; the backbone factor on top for every block.
LAYER_EXPONENTS = {
    "stem": 5,
    "stage1": 4,
    "stage2": 3,
    "stage3": 2,
    "global_stage": 1,
    "regional_stage": 1,
}


@pytest.mark.parametrize("optimizer_name", ["Adam", "SGD"])
def test_each_block_moves_by_its_layer_multiplier_times_the_unscaled_step(
    resnet18_model, optimizer_name
):
    """One step from fresh moments: Adam's is rate x multiplier x sqrt(1 - b2) g / (sqrt((1 - b2)
    g^2) + epsilon) (NumPy); SGD's rate x multiplier x g."""
    decay, backbone_factor, learning_rate = 0.75, 0.5, 1e-3
    with all_blocks_trainable(resnet18_model):
        variables = resnet18_model.trainable_variables
        block_of = {
            id(variable): name
            for name in LAYER_EXPONENTS
            for variable in resnet18_model.get_layer(name).trainable_variables
        }
    multipliers = [
        decay ** LAYER_EXPONENTS[block_of[id(v)]] * backbone_factor if id(v) in block_of else 1.0
        for v in variables
    ]
    assert len(set(multipliers)) == 6  # five block layers and the heads
    settings = OptimizerSettings(
        optimizer_name=optimizer_name,
        momentum=0.0,
        layer_decay=decay,
        backbone_learning_rate_factor=backbone_factor,
    )
    optimizer = applications.make_optimizer(resnet18_model, settings)
    rng = np.random.default_rng(2)
    initial = [variable.numpy() for variable in variables]
    (gradients,) = gradient_steps(variables, rng, step_num=1)
    found = apply_steps(optimizer, variables, [gradients], learning_rate)
    if optimizer_name == "Adam":
        expected = numpy_adamw(
            initial,
            [gradients],
            learning_rate=learning_rate,
            decays=[0.0] * len(variables),
            multipliers=multipliers,
        )
    else:
        expected = [
            w - learning_rate * m * g
            for w, m, g in zip(initial, multipliers, gradients, strict=True)
        ]
    for variable, value, reference, multiplier in zip(
        variables, found, expected, multipliers, strict=True
    ):
        step = learning_rate * multiplier  # Adam's first step is about this, SGD's this x g
        np.testing.assert_allclose(
            value,
            reference,
            rtol=3e-7,  # a few float32 roundings of a value near 1 (BatchNormalization's gamma)
            atol=STEP_TOLERANCE * step,
            err_msg=f"{variable.path} x {multiplier}",
        )
    for variable, value in zip(variables, initial, strict=True):
        variable.assign(value)


def test_the_layers_of_numbered_transformer_layers():
    """The rule for backbones whose layers carry their number (keras-hub's DINOv2: layers_N)."""
    backbone = keras.Sequential(
        [
            keras.layers.Dense(2, name="patch_embedding"),
            *[keras.layers.Dense(2, name=f"layers_{n}") for n in range(3)],
            keras.layers.LayerNormalization(name="layernorm"),
        ]
    )
    backbone.build((None, 2))
    head = keras.layers.Dense(2, name="head")
    head.build((None, 2))
    layers = LayerMap.of_numbered_layers(
        backbone.trainable_variables, layer_num=3, layer_pattern=r"(?:^|/)layers_(\d+)/"
    )
    found = {v.path: layers.layer_of(v) for v in [*backbone.trainable_variables, *head.variables]}
    assert found == {
        "sequential/patch_embedding/kernel": 0,
        "sequential/patch_embedding/bias": 0,
        "sequential/layers_0/kernel": 1,
        "sequential/layers_0/bias": 1,
        "sequential/layers_1/kernel": 2,
        "sequential/layers_1/bias": 2,
        "sequential/layers_2/kernel": 3,
        "sequential/layers_2/bias": 3,
        "sequential/layernorm/gamma": 4,  # after the last layer, with the heads (BEiT, MAE)
        "sequential/layernorm/beta": 4,
        "head/kernel": 4,
        "head/bias": 4,
    }
    assert [layers.in_backbone(v) for v in head.variables] == [False, False]
    with pytest.raises(ValueError, match="layer 0 is outside the 2 layers numbered from 1"):
        LayerMap.of_numbered_layers(
            backbone.trainable_variables,
            layer_num=2,
            layer_pattern=r"(?:^|/)layers_(\d+)/",
            first_number=1,
        ).layer_of(backbone.get_layer("layers_0").kernel)


def test_a_keras_hub_vit_gets_its_transformer_layers_rates():
    """make_optimizer on dinov2_small (12 transformer layers): the patch embedding learns at
    decay ** 13, transformer layer i at decay ** (12 - i), both copies of the last at decay,
    the final norm and the heads at 1; the backbone factor on the backbone only."""
    settings = ModelSettings(backbone_model_name="dinov2_small", image_height=56, image_width=28)
    training_model, _ = applications.init_model(
        settings, class_num=4, use_pretrained_backbone=False
    )
    decay, factor = 0.8, 0.5
    optimizer = applications.make_optimizer(
        training_model,
        OptimizerSettings(layer_decay=decay, backbone_learning_rate_factor=factor),
    )
    expected = {}
    for block in applications.backbone_blocks(training_model):
        for variable in block.weights:
            top = variable.path.split("/")[0]
            if top == "patch_tokens":
                exponent = 13
            elif top.startswith("transformer_layer"):
                exponent = 12 - int(top.removeprefix("transformer_layer"))
            else:
                assert top == "final_norm", variable.path
                exponent = 0
            expected[id(variable)] = decay**exponent * factor
    rates = optimizer.rate_table.variable_rates
    with all_blocks_trainable(training_model):
        variables = training_model.trainable_variables
    assert len(rates) == len(variables)
    for variable, rate in zip(variables, rates, strict=True):
        wanted = expected.get(id(variable), 1.0)  # FlipReID's own layers: the heads' rate
        assert math.isclose(rate.learning_rate_multiplier, wanted, rel_tol=1e-12), (
            variable.path,
            rate.learning_rate_multiplier,
            wanted,
        )
    assert {round(rate.learning_rate_multiplier, 12) for rate in rates} >= {
        round(decay**13 * factor, 12),
        round(decay * factor, 12),
        factor,
        1.0,
    }


def old_make_optimizer(training_model):
    """applications/model.py::make_optimizer before the optimizer flags (commit f59e7f6)."""
    optimizer = keras.optimizers.Adam()
    with all_blocks_trainable(training_model):
        optimizer.build(training_model.trainable_variables)
    if keras.config.dtype_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def unit_rates_optimizer(training_model):
    """The optimizer with per-variable rates, every rate 1 and no decay."""
    optimizer = AdamWithVariableRates(rate_of=lambda variable: VariableRate())
    with all_blocks_trainable(training_model):
        optimizer.build(training_model.trainable_variables)
    return optimizer


@pytest.mark.parametrize(
    "new_optimizer",
    [applications.make_optimizer, unit_rates_optimizer],
    ids=["make_optimizer's default", "per-variable rates of 1"],
)
def test_the_default_trains_bit_for_bit_as_the_2021_adam(new_optimizer, arithmetic_optimizer_off):
    models = [
        applications.init_model(
            RESNET18,
            class_num=CLASS_NUM,
            use_pretrained_backbone=False,
            regularization=RegularizationSettings(),
        )[0]
        for _ in range(2)
    ]
    initial = models[0].get_weights()
    models[1].set_weights(initial)
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 255, (8, 64, 32, 3)).astype(np.float32)
    labels = np.repeat(np.arange(CLASS_NUM), 2)
    one_hot = np.eye(CLASS_NUM, dtype=np.float32)[labels]
    targets = [labels] * 3 + [one_hot] * 3
    results = []
    for model, make in zip(models, (old_make_optimizer, new_optimizer), strict=True):
        optimizer = make(model)
        for frozen in (True, False):  # both phases, as a run
            applications.set_backbone_trainable(model, not frozen)
            applications.compile_training_model(model, optimizer=optimizer, learning_rate=1e-3)
            results.append(model.train_on_batch(images, targets, return_dict=True))
    assert results[0] == results[2] and results[1] == results[3]
    for old, new in zip(models[0].weights, models[1].weights, strict=True):
        assert_identical(new.numpy(), old.numpy(), what=new.path)
    # The backbone trained in the second step (the comparison covers a whole-model step).
    stem_kernel = models[1].get_layer("stem").trainable_variables[0]
    index = next(i for i, weight in enumerate(models[1].weights) if weight is stem_kernel)
    assert not np.array_equal(stem_kernel.numpy(), initial[index])


def test_loss_scaling_hands_our_optimizer_the_unscaled_gradients():
    """Under mixed_float16 make_optimizer wraps the optimizer in a LossScaleOptimizer, which
    divides the gradients by its scale (a power of 2: exact) before our update step. Its first
    step, which builds it and its inner optimizer again, trains only the bias (a frozen phase);
    the rates hold for the kernel's steps after it."""
    rng = np.random.default_rng(4)
    settings = OptimizerSettings(optimizer_name="AdamW", weight_decay=0.05, layer_decay=0.5)
    scaled_variables, plain_variables = dense_variables(rng), dense_variables(rng)
    for scaled, plain in zip(scaled_variables, plain_variables, strict=True):
        plain.assign(scaled.numpy())
    initial = [variable.numpy() for variable in plain_variables]

    def layers_of(variables):  # the kernel at layer 0 (x 0.25), the bias with the heads
        return LayerMap(
            layer_num=1,
            layer_of=lambda variable: 0 if variable is variables[0] else 2,
            in_backbone=lambda variable: variable is variables[0],
        )

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        scaled_optimizer = make_optimizer(
            scaled_variables, settings, layers=layers_of(scaled_variables)
        )
    finally:
        keras.config.set_dtype_policy(before)
    assert isinstance(scaled_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(scaled_optimizer.inner_optimizer, AdamWithVariableRates)
    plain_optimizer = make_optimizer(plain_variables, settings, layers=layers_of(plain_variables))
    steps = gradient_steps(plain_variables, rng)
    steps[0][0] = None  # the kernel frozen in the first step
    scale = scaled_optimizer.initial_scale
    assert scale > 1 and math.log2(scale).is_integer()
    scaled_steps = [[None if g is None else g * scale for g in step] for step in steps]
    scaled = apply_steps(scaled_optimizer, scaled_variables, scaled_steps, 1e-2)
    assert float(scaled_optimizer.dynamic_scale.numpy()) == scale  # every step was finite
    plain = apply_steps(plain_optimizer, plain_variables, steps, 1e-2)
    for name, value, reference in zip(("kernel", "bias"), scaled, plain, strict=True):
        assert_identical(value, reference, what=f"loss-scaled against plain, {name}")
    expected = numpy_adamw(
        initial, steps, learning_rate=1e-2, decays=[0.05, 0.0], multipliers=[0.25, 1.0]
    )
    for name, value, reference in zip(("kernel", "bias"), plain, expected, strict=True):
        np.testing.assert_allclose(
            value, reference, rtol=1e-6, atol=STEP_TOLERANCE * 1e-2, err_msg=name
        )


# Run in a fresh interpreter (logical devices must be set before TensorFlow starts): AdamW with
# layer rates on two replicas of a MirroredStrategy, each replica's gradient half the one-device
# gradient (the strategy sums them: exact), against the same on one device. Prints JSON.
TWO_REPLICAS = """
import json
import numpy as np
import tensorflow as tf
from settings import DeviceSettings, OptimizerSettings
from training import configure_devices

strategy = configure_devices(DeviceSettings(logical_cpu_device_num=2))
import keras
from applications.optimizers import LayerMap, make_optimizer

def run(strategy):
    rng = np.random.default_rng(0)
    with strategy.scope():
        kernel = keras.Variable(rng.normal(0, 1, (3, 4)).astype("float32"), name="kernel")
        bias = keras.Variable(rng.normal(0, 1, (4,)).astype("float32"), name="bias")
        layers = LayerMap(1, lambda v: 0 if v is kernel else 2, lambda v: v is kernel)
        settings = OptimizerSettings(optimizer_name="AdamW", weight_decay=0.05, layer_decay=0.5)
        optimizer = make_optimizer([kernel, bias], settings, layers=layers)
        optimizer.learning_rate.assign(1e-2)
    replicas = strategy.num_replicas_in_sync
    steps = [
        [rng.normal(0, 1, v.shape).astype("float32") for v in (kernel, bias)] for _ in range(3)
    ]

    @tf.function
    def step(gradients):
        def apply():
            optimizer.apply([g / replicas for g in gradients], [kernel, bias])
        strategy.run(apply)

    for gradients in steps:
        step([tf.constant(g) for g in gradients])
    return [kernel.numpy().tolist(), bias.numpy().tolist()], replicas

two, replicas = run(strategy)
one, _ = run(tf.distribute.get_strategy())
print(json.dumps({"replicas": replicas, "two": two, "one": one}))
"""


def test_per_variable_rates_on_two_replicas_are_those_of_one_device():
    process = start_python(
        ["-c", TWO_REPLICAS], environment=quiet_environment(PYTHONPATH=REPOSITORY)
    )
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    result = json.loads(output.strip().splitlines()[-1])
    assert result["replicas"] == 2
    for name, two, one in zip(("kernel", "bias"), result["two"], result["one"], strict=True):
        assert_identical(np.array(two), np.array(one), what=f"two replicas against one, {name}")


def test_settings_that_cannot_work_are_refused_with_the_flag_to_change():
    cases = {
        (("optimizer_name", "AdamW"),): "--optimizer_name AdamW needs --weight_decay above 0",
        (("weight_decay", 0.05),): "--optimizer_name Adam does not have",
        (("use_nesterov_momentum", True),): "--use_nesterov_momentum needs --optimizer_name SGD",
        (("optimizer_name", "SGD"), ("momentum", 0.0), ("use_nesterov_momentum", True)): (
            "--use_nesterov_momentum needs --optimizer_name SGD with --momentum above 0"
        ),
        (("layer_decay", 1.5),): "--layer_decay must be in (0, 1]",
        (("layer_decay", 0.0),): "--layer_decay must be in (0, 1]",
        (("momentum", 1.0),): "--momentum must be in [0, 1)",
        (("weight_decay", -1.0),): "--weight_decay must be at least 0",
        (("backbone_learning_rate_factor", 0.0),): "--backbone_learning_rate_factor must be above",
        (("optimizer_name", "Lion"),): "--optimizer_name must be one of Adam, AdamW, SGD",
    }
    for values, message in cases.items():
        with pytest.raises(SettingsError, match=re.escape(message)):
            OptimizerSettings(**dict(values))
    with pytest.raises(SettingsError, match="warmup_cosine needs learning_rate_base > "):
        LearningRateSettings(learning_rate_mode="warmup_cosine", learning_rate_end=1.0)
    # A map that places no variable in the backbone.
    variables = dense_variables(np.random.default_rng(0))
    no_backbone = LayerMap(layer_num=4, layer_of=lambda v: 5, in_backbone=lambda v: False)
    for layers in (None, no_backbone):
        with pytest.raises(SettingsError, match="none of this model's variables is in a layer"):
            make_optimizer(variables, OptimizerSettings(layer_decay=0.9), layers=layers)


def flag_file_values(name: str) -> dict[str, str]:
    with open(os.path.join(REPOSITORY, "flags", name)) as flag_file:
        return parse_flag_lines(flag_file.read())


def settings_of(settings_class, values: dict[str, str]):
    """settings_class built from the flag file's values of its fields (the others default)."""
    fields = settings_class.__dataclass_fields__
    typed = {
        name: (value == "true") if fields[name].type is bool else type(fields[name].default)(value)
        for name, value in values.items()
        if name in fields
    }
    return settings_class(**typed)


def timm_cosine(t, *, base, t_initial, lr_min, warmup_t, warmup_lr_init):
    """timm's CosineLRScheduler._get_lr (2020, one cycle, warmup_prefix False), as TransReID's
    solver/cosine_lr.py has it."""
    if t < warmup_t:
        return warmup_lr_init + t * (base - warmup_lr_init) / warmup_t
    return lr_min + 0.5 * (base - lr_min) * (1 + math.cos(math.pi * t / t_initial))


def warmup_multi_step(last_epoch, *, base, milestones, gamma, warmup_factor, warmup_iters):
    """The WarmupMultiStepLR of the ReID baselines (linear warm-up) that CLIP-ReID's second stage
    builds: base x warmup factor x gamma ^ (milestones passed)."""
    factor = 1.0
    if last_epoch < warmup_iters:
        alpha = last_epoch / warmup_iters
        factor = warmup_factor * (1 - alpha) + alpha
    return base * factor * gamma ** sum(1 for milestone in milestones if milestone <= last_epoch)


def test_the_flag_files_hold_transreids_and_clip_reids_recipes():
    transreid = flag_file_values("vit_transreid.cfg")
    optimizer = settings_of(OptimizerSettings, transreid)
    assert (optimizer.optimizer_name, optimizer.momentum) == ("SGD", 0.9)
    assert optimizer.weight_decay == pytest.approx(1e-4 / (1 - 0.9))
    assert settings_of(RegularizationSettings, transreid) == RegularizationSettings(0, 0, 0, 0)
    assert (transreid["identity_num_per_batch"], transreid["image_num_per_identity"]) == ("16", "4")
    assert (transreid["freeze_backbone_for_N_epochs"], transreid["epoch_num"]) == ("0", "120")
    schedule = settings_of(LearningRateSettings, transreid)
    # TransReID: base 0.008, warm-up from 0.01 base over 5 epochs, cosine to 0.002 base over 120
    # (solver/scheduler_factory.py); our epoch index e runs timm's epoch e (TransReID steps its
    # scheduler from epoch 1: its epochs run ours one epoch later).
    for epoch in range(120):
        expected = timm_cosine(
            epoch, base=0.008, t_initial=120, lr_min=1.6e-5, warmup_t=5, warmup_lr_init=8e-5
        )
        assert schedule.learning_rate(epoch, 120) == pytest.approx(expected, rel=1e-12), epoch

    clip_reid = flag_file_values("vit_clipreid.cfg")
    assert settings_of(OptimizerSettings, clip_reid) == OptimizerSettings()  # Adam
    # PyTorch Adam's weight decay 1e-4 adds 1e-4 w to the gradient: the L2 penalty 5e-5 w^2.
    assert settings_of(RegularizationSettings, clip_reid) == RegularizationSettings(
        5e-5, 5e-5, 5e-5, 5e-5
    )
    assert (clip_reid["freeze_backbone_for_N_epochs"], clip_reid["epoch_num"]) == ("0", "60")
    schedule = settings_of(LearningRateSettings, clip_reid)
    # CLIP-ReID's stage 2 steps its scheduler once before each epoch k = 1..60 (last_epoch k):
    # after the warm-up our epoch index e has its epoch e's rate (its drops come one epoch
    # earlier); during the warm-up both rise to the base rate by the tenth epoch.
    rates = [schedule.learning_rate(epoch, 60) for epoch in range(60)]
    for epoch in range(10, 60):
        expected = warmup_multi_step(
            epoch, base=5e-6, milestones=(30, 50), gamma=0.1, warmup_factor=0.1, warmup_iters=10
        )
        assert rates[epoch] == pytest.approx(expected, rel=1e-12), epoch
    assert rates[:10] == sorted(rates[:10]) and rates[9] == pytest.approx(5e-6)


# The brief's run: AdamW with weight decay 0.05 and layer decay 0.75 (and the L2 penalty).
ADAMW_RUN = [*RUN, "--optimizer_name", "AdamW", "--weight_decay", "0.05", "--layer_decay", "0.75"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("optimizer_data")
    generate_synthetic_dataset(str(root), TINY_SYNTHETIC)
    return root


@pytest.mark.slow
def test_adamw_with_layer_decay_trains_evaluates_and_resumes_as_an_uninterrupted_run(
    data, tmp_path
):
    """An uninterrupted run, and the same run killed after its second checkpoint and stopped by
    SIGTERM in the middle of an epoch, then run to its end: the same history, results, weights
    and optimizer state (moments, step count), bit for bit."""
    uninterrupted = [
        *ADAMW_RUN,
        "--root_folder_path",
        str(data),
        "--output_folder_path",
        str(tmp_path / "u"),
    ]
    crashed = [
        *ADAMW_RUN,
        "--root_folder_path",
        str(data),
        "--output_folder_path",
        str(tmp_path / "c"),
    ]
    plan = ["checkpoint saved:2", "train step begins:2:SIGTERM"]

    def crash_chain():
        outputs = [run_with_crash(crashed, spec) for spec in plan]
        return [*outputs, run_solution(crashed, environment=quiet_environment())]

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        chain = pool.submit(crash_chain)
        status, output = pool.submit(run_solution, uninterrupted).result()
        outputs = chain.result()
    assert status == 0, output[-3000:]
    assert [s for s, _ in outputs] == [-9, 143, 0], outputs[-1][1][-3000:]
    changed = next(line for line in output.splitlines() if "not at their defaults" in line)
    for flag in ("--optimizer_name=AdamW", "--weight_decay=0.05", "--layer_decay=0.75"):
        assert flag in changed
    # resnet18's FlipReID network trains 91 variables, 30 of them kernels (the stem's 1, 4 in
    # stage 1, 5 in each later stage and stage 4's copy, 2 regional convolutions, 3 heads); the
    # stem at 0.75^5 = 0.2373 of the schedule's rate, the heads at 1.
    assert (
        "Optimizer: AdamW; weight decay 0.05 on 30 of 91 variables; learning rates 0.2373 to 1 x "
        "the schedule's" in output
    )
    folder = tmp_path / "u" / FOLDER_NAME
    flags_text = (folder / "flags.txt").read_text()
    assert "--optimizer_name=AdamW\n" in flags_text and "--layer_decay=0.75\n" in flags_text
    results = json.loads((folder / "results.json").read_text())
    assert results["best"]["mAP_fraction"] > 0
    history = pd.read_csv(folder / "history.csv")
    assert np.isfinite(history["loss"]).all() and "test_mAP_fraction" in history
    assert "after step 2 of 3 of epoch 3 of 4" in outputs[2][1]
    assert_same_run(tmp_path / "c" / FOLDER_NAME, folder)
    expected_values = checkpoint_values(folder / "checkpoints")
    found_values = checkpoint_values(tmp_path / "c" / FOLDER_NAME / "checkpoints")
    assert expected_values.keys() == found_values.keys()
    assert_same_checkpoint_values(found_values, expected_values, where="the resumed run")
    assert expected_values["model/optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"] == 12


@pytest.mark.slow
def test_sgd_with_layer_rates_trains_under_float16_loss_scaling(data, tmp_path):
    """A short run in mixed_float16 (TensorFlow's Eigen kernels: oneDNN's float16 training
    kernels take 20 to 40 s per step on a CPU) with SGD, Nesterov's momentum, weight decay and
    both multipliers: the loss-scaled optimizer trains (finite losses, every finite step made)
    and evaluates."""
    arguments = [
        *SHRUNK,
        *synthetic_dataset_flags(),
        "--root_folder_path",
        str(data),
        "--output_folder_path",
        str(tmp_path),
        "--freeze_backbone_for_N_epochs",
        "1",
        "--epoch_num",
        "2",
        "--steps_per_epoch",
        "3",
        "--mixed_precision",
        "float16",
        "--optimizer_name",
        "SGD",
        "--use_nesterov_momentum",
        "--weight_decay",
        "1e-3",
        "--layer_decay",
        "0.75",
        "--backbone_learning_rate_factor",
        "0.5",
        "--learning_rate_mode",
        "constant",
        "--learning_rate_start",
        "0.01",
        "--learning_rate_end",
        "0.01",
    ]
    status, output = run_solution(
        arguments, environment=quiet_environment(TF_ENABLE_ONEDNN_OPTS="0")
    )
    assert status == 0, output[-3000:]
    assert "precision policy mixed_float16" in output
    assert (
        "Optimizer: SGD, momentum 0.9 (Nesterov's); weight decay 0.001 on 30 of 91 variables; "
        "learning rates 0.1187 to 1 x the schedule's; loss scaling" in output
    )
    history = pd.read_csv(tmp_path / FOLDER_NAME / "history.csv")
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["test_mAP_fraction"].iloc[-1])
    # Every step whose float16 gradients overflowed halved the scale (from 2^15) and was
    # skipped; our optimizer made each of the others (9 steps in all).
    values = checkpoint_values(tmp_path / FOLDER_NAME / "checkpoints")
    scale = values["model/optimizer/dynamic_scale/.ATTRIBUTES/VARIABLE_VALUE"]
    skipped = math.log2(2**15 / scale)
    steps = values["model/optimizer/inner_optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"]
    assert skipped.is_integer() and steps == 9 - skipped and steps > 0, (scale, steps)
