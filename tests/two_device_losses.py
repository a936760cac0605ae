"""Run by test_devices.py in a fresh interpreter (logical devices must be set before TensorFlow
starts): the losses of one batch on one device and on two logical CPU devices, and the
gradients of the triplet loss with respect to the embeddings. Prints one JSON object."""

import tensorflow_setup  # noqa: F401, I001

import json

import numpy as np
import keras
import tensorflow as tf

import applications
from settings import ModelSettings
from metric_learning import batch_hard_triplet_loss, global_batch_hard_triplet_loss
from training import configure_devices
from settings import DeviceSettings


def keras_losses(training_model, images, targets) -> dict[str, float]:
    return training_model.test_on_batch(images, targets, return_dict=True)


def main() -> None:
    two_devices = configure_devices(DeviceSettings(logical_cpu_device_num=2))
    settings = ModelSettings(
        backbone_model_name="resnet18",
        image_height=64,
        image_width=32,
        use_horizontal_flipping_inside_model=True,
    )
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 2)  # P = 4 identities x K = 2, identities consecutive
    images = rng.uniform(0, 255, (8, 64, 32, 3)).astype(np.float32)
    one_hot = np.eye(4, dtype=np.float32)[labels]

    keras.utils.set_random_seed(0)
    one_model, _ = applications.init_model(settings, class_num=4, use_pretrained_backbone=False)
    applications.compile_training_model(one_model)
    targets = [
        labels if name.endswith("_embedding") else one_hot for name in one_model.output_names
    ]
    with two_devices.scope():
        two_model, _ = applications.init_model(settings, class_num=4, use_pretrained_backbone=False)
        two_model.set_weights(one_model.get_weights())
        applications.compile_training_model(two_model)

    # The triplet loss's gradient with respect to the embeddings: the mean over all anchors on
    # one device; on two, each replica's mean over its anchors, divided by the replica count as
    # Keras does, the gradients summed over replicas by the gathering.
    embeddings = rng.standard_normal((8, 16)).astype(np.float32)
    embeddings[1] = embeddings[0] + 1e-3  # a near tie, where mining is fragile
    embeddings_tensor = tf.constant(embeddings)
    with tf.GradientTape() as tape:
        tape.watch(embeddings_tensor)
        one_loss = tf.reduce_mean(batch_hard_triplet_loss(labels, embeddings_tensor))
    one_gradient = tape.gradient(one_loss, embeddings_tensor)

    def replica_step(local_embeddings, local_labels):
        with tf.GradientTape() as tape:
            tape.watch(local_embeddings)
            loss = tf.reduce_mean(global_batch_hard_triplet_loss(local_labels, local_embeddings))
            loss /= two_devices.num_replicas_in_sync
        return loss, tape.gradient(loss, local_embeddings)

    def split(array):
        return two_devices.experimental_distribute_values_from_function(
            lambda context: tf.constant(array[context.replica_id_in_sync_group * 4 :][:4])
        )

    losses, gradients = tf.function(lambda e, y: two_devices.run(replica_step, args=(e, y)))(
        split(embeddings), split(labels)
    )
    two_loss = sum(float(v) for v in two_devices.experimental_local_results(losses))
    two_gradient = np.concatenate(
        [g.numpy() for g in two_devices.experimental_local_results(gradients)]
    )
    print(
        json.dumps(
            {
                "replicas": two_devices.num_replicas_in_sync,
                "one_device": keras_losses(one_model, images, targets),
                "two_devices": keras_losses(two_model, images, targets),
                "triplet_one": float(one_loss),
                "triplet_two": two_loss,
                "gradient_one": one_gradient.numpy().tolist(),
                "gradient_two": two_gradient.tolist(),
                "gradient_without_gathering": gradient_without_gathering(embeddings, labels),
            }
        )
    )


def gradient_without_gathering(embeddings, labels) -> list:
    """What each half alone would give: the mining the gathering is there to avoid."""
    halves = []
    for half in (slice(0, 4), slice(4, 8)):
        tensor = tf.constant(embeddings[half])
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            loss = tf.reduce_mean(batch_hard_triplet_loss(labels[half], tensor)) / 2
        halves.append(tape.gradient(loss, tensor).numpy())
    return np.concatenate(halves).tolist()


if __name__ == "__main__":
    main()
