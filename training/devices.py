"""Where training runs: the precision policy and the tf.distribute strategy.

    strategy = configure_devices(DeviceSettings(mixed_precision="auto"))
    with strategy.scope(): ...build and compile the model...

- One machine: every visible GPU through MirroredStrategy (CUDA_VISIBLE_DEVICES restricts
  them); on a machine without GPUs, --logical_cpu_device_num N splits the CPU into N devices
  (to try the several-device path, and for the tests).
- Several machines: with TF_CONFIG set, MultiWorkerMirroredStrategy; every worker runs the same
  command, the chief writes the output folder.
- GPU memory grows as needed instead of being taken whole, so two runs can share a GPU.
Call it before anything else touches TensorFlow's devices (loading images does).
"""

import json
import os

import keras
import tensorflow as tf

from settings import DeviceSettings

POLICIES = {"float32": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """tf.distribute.MultiWorkerMirroredStrategy whose `reduce` takes what Keras 3's fit gives
    it between machines (keras-team/keras#20585: Keras 3's fit does not run on the original):
    - a nested structure, as MirroredStrategy's reduce does: before training, fit reduces a
      first batch (images, targets) to build its metrics, and the original refuses the tuple
      ("Attempt to convert a value (PerReplica ...) to a Tensor");
    - scalars with axis=0: fit averages each replica's loss values over the replicas with
      reduce("MEAN", value, axis=0), which the original refuses for a scalar ("Invalid
      reduction dimension 0 for input with 0 dimensions"); their mean over the replicas is
      what fit asks for.
    """

    def reduce(self, reduce_op, value, axis):
        reduce_one = super().reduce

        def reduce_leaf(leaf):
            rank = self.experimental_local_results(leaf)[0].shape.rank
            return reduce_one(reduce_op, leaf, axis if rank else None)

        return tf.nest.map_structure(reduce_leaf, value)


def configure_devices(settings: DeviceSettings) -> tf.distribute.Strategy:
    """Set memory growth, the global precision policy and the logical devices; return the
    strategy to build and train the model under."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    keep_sums_of_two(True)
    if settings.use_deterministic_ops:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(precision_policy(settings.mixed_precision, gpus))
    if "TF_CONFIG" in os.environ:
        return MultiWorkerMirroredStrategy()
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    if settings.logical_cpu_device_num > 1 and not gpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * settings.logical_cpu_device_num
        )
        return tf.distribute.MirroredStrategy(
            [device.name for device in tf.config.list_logical_devices("CPU")]
        )
    return tf.distribute.get_strategy()


def keep_sums_of_two(enabled: bool) -> None:
    """Stop Grappler's arithmetic optimizer from merging chains of additions into one AddN.

    It would merge a weight's two back-propagated gradient terms (image and mirror) with its L2
    term into one AddN of three, and AddN adds three or more terms in an order chosen at run
    time (applications/training_model.py): the same run would print other digits. Measured cost
    on a resnet18 and a resnet50 step: none beyond the machine's noise (benchmarks/, README).
    """
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": not enabled})


def precision_policy(mixed_precision: str, gpus: list) -> str:
    """The Keras policy: "auto" is float16 (with loss scaling) on CUDA GPUs with tensor cores
    (compute capability 7.0 or newer), float32 elsewhere."""
    if mixed_precision != "auto":
        return POLICIES[mixed_precision]
    capabilities = [
        tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        for gpu in gpus
    ]
    if capabilities and min(capabilities) >= (7, 0):
        return POLICIES["float16"]
    return POLICIES["float32"]


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: always, but in a multi-worker cluster,
    where only the chief does (the task "chief", or worker 0 when there is none)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return True
    if resolver.task_type == "chief":
        return True
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


def describe(strategy: tf.distribute.Strategy) -> str:
    """One line: replicas and strategy, what computes (GPUs, or the CPU and its kernels), and
    the precision policy."""
    policy = keras.mixed_precision.global_policy().name
    replicas = strategy.num_replicas_in_sync
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and resolver.task_type is not None:
        kind = f"MultiWorkerMirroredStrategy, this process: {resolver.task_type} {resolver.task_id}"
    elif replicas > 1:
        kind = f"MirroredStrategy over {', '.join(strategy.extended.worker_devices)}"
    else:
        kind = "one device"
    gpus = tf.config.list_physical_devices("GPU")
    if keras.backend.backend() == "jax":
        import jax

        platform = jax.default_backend()  # "cpu", "gpu" or "tpu"
        hardware = f"JAX's {platform.upper()} ({jax.device_count()} device(s), XLA's kernels)"
    elif gpus:
        hardware = f"{len(gpus)} GPU(s)"
    else:
        kernels = "Eigen" if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0" else "oneDNN"
        hardware = f"the CPU ({os.cpu_count()} cores, {kernels} kernels), no GPU"
    return f"Devices: {replicas} replica(s) ({kind}) on {hardware}; precision policy {policy}"
