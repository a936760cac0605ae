"""The FlipReID training model in PyTorch, for a side-by-side speed comparison only
(training_benchmark.py --compare_pytorch); not used for training.

A ResNet (BasicBlock for resnet18/34, Bottleneck for resnet50/101) written here with torchvision's
layout, last stride 1, its last stage duplicated into a global and a regional branch, GeM
pooling, clipping, stripes with a 3x3 convolution each, BatchNormalization + Dense heads, and
the image and its mirror run through the same weights (two passes, as in the TensorFlow model).
What differs from the TensorFlow model: PyTorch's NCHW layout, its BatchNorm momentum
convention (0.1 = Keras' 0.9), and no L2 terms in the loss (weight decay would be applied by the
optimizer instead).
"""

import torch
from torch import nn
from torch.nn import functional as F

STAGE_BLOCKS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3), "resnet50": (3, 4, 6, 3)}


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = shortcut(in_channels, channels * self.expansion, stride)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, channels * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels * 4)
        self.shortcut = shortcut(in_channels, channels * self.expansion, stride)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + self.shortcut(x))


def shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


def stage(block, in_channels: int, channels: int, *, block_num: int, stride: int) -> nn.Sequential:
    blocks = [block(in_channels, channels, stride)]
    blocks += [block(channels * block.expansion, channels, 1) for _ in range(block_num - 1)]
    return nn.Sequential(*blocks)


class GeM(nn.Module):
    def __init__(self):
        super().__init__()
        self.power = nn.Parameter(torch.ones(()))

    def forward(self, x):
        pooled = x.clamp(min=1e-6).pow(self.power).mean(dim=(2, 3))
        return pooled.pow(1.0 / self.power)


class FlipReIDNet(nn.Module):
    """images (batch, 3, H, W) -> (embeddings, class probabilities, flipping loss)."""

    def __init__(self, backbone_model_name: str, *, class_num: int, region_num: int = 2):
        super().__init__()
        block = Bottleneck if backbone_model_name in ("resnet50", "resnet101") else BasicBlock
        block_nums = STAGE_BLOCKS[backbone_model_name]
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        channels = [64, 128, 256, 512]
        in_channels, shared = 64, []
        for index, (width, block_num) in enumerate(zip(channels[:3], block_nums[:3], strict=True)):
            shared.append(
                stage(block, in_channels, width, block_num=block_num, stride=1 if index == 0 else 2)
            )
            in_channels = width * block.expansion
        self.shared = nn.Sequential(*shared)
        # Last stride 1: the last stage keeps the resolution; two copies.
        self.global_stage = stage(block, in_channels, 512, block_num=block_nums[3], stride=1)
        self.regional_stage = stage(block, in_channels, 512, block_num=block_nums[3], stride=1)
        out_channels = 512 * block.expansion
        self.region_num = region_num
        self.region_convolutions = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels // region_num, 3, padding=1)
            for _ in range(region_num)
        )
        self.poolings = nn.ModuleList(GeM() for _ in range(region_num + 1))
        dimensions = [out_channels] + [out_channels // region_num] * region_num
        self.head_normalizations = nn.ModuleList(
            nn.BatchNorm1d(dimension, eps=2e-5) for dimension in dimensions
        )
        self.classifiers = nn.ModuleList(
            nn.Linear(dimension, class_num, bias=False) for dimension in dimensions
        )
        for classifier in self.classifiers:
            nn.init.normal_(classifier.weight, std=0.001)

    def embed(self, images):
        feature_map = self.shared(self.stem(images))
        embeddings = [self.poolings[0](self.global_stage(feature_map)).clamp(0, 1)]
        regional = self.regional_stage(feature_map)
        height = regional.shape[2]
        stripe_height = height // self.region_num
        for index, convolution in enumerate(self.region_convolutions):
            stop = height if index == self.region_num - 1 else (index + 1) * stripe_height
            stripe = F.relu(convolution(regional[:, :, index * stripe_height : stop]))
            embeddings.append(self.poolings[index + 1](stripe).clamp(0, 1))
        return embeddings

    def forward(self, images):
        embeddings = self.embed(images)
        mirrored = self.embed(torch.flip(images, dims=[3]))
        flipping_loss = sum(F.mse_loss(a, b) for a, b in zip(embeddings, mirrored, strict=True))
        means = [(a + b) / 2 for a, b in zip(embeddings, mirrored, strict=True)]
        probabilities = [
            F.softmax(classifier(normalization(mean)), dim=1)
            for mean, normalization, classifier in zip(
                means, self.head_normalizations, self.classifiers, strict=True
            )
        ]
        return means, probabilities, flipping_loss


def batch_hard_triplet_loss(embeddings, labels):
    """Soft-margin batch-hard triplet loss (Hermans et al. 2017), Euclidean, mean over anchors."""
    squared = (embeddings[:, None, :] - embeddings[None, :, :]).pow(2).sum(-1)
    distances = (squared + 1e-12).sqrt()
    same = labels[:, None] == labels[None, :]
    hardest_positive = torch.where(same, distances, torch.zeros_like(distances)).amax(1)
    largest = distances.amax(1, keepdim=True)
    hardest_negative = torch.where(same, distances + largest + 1.0, distances).amin(1)
    return F.softplus(hardest_positive - hardest_negative).mean()


def training_loss(model: FlipReIDNet, images, labels):
    """The FlipReID loss: triplet on each mean embedding, cross-entropy on each head, flipping."""
    means, probabilities, flipping_loss = model(images)
    loss = flipping_loss
    for mean, probability in zip(means, probabilities, strict=True):
        loss = loss + batch_hard_triplet_loss(mean, labels)
        loss = loss - probability.clamp_min(1e-7).log().gather(1, labels[:, None]).mean()
    return loss
