#!/usr/bin/python3
"""PyTorch's training speed on millrace's model presets, for a side-by-side comparison.

The same architectures as ops/models.cc (mlp, cnn, dwsep), the same data (Fashion-MNIST IDX,
normalised to mean 0.2860 / std 0.3530), the same optimizer (SGD, Nesterov momentum 0.9,
lr 0.05, cross-entropy with label smoothing 0.1) and batch 128. Set up as a competent user
would: the whole training set in memory as one tensor and batches taken by index (no
per-sample DataLoader), channels-last tensors for the convnets (oneDNN's preferred layout),
`torch.set_num_threads(threads)`, and, through run.sh, OpenBLAS for the mlp's GEMMs and glibc
malloc told to keep freed memory. Prints one line per model:

  pytorch <model> threads <n>: <samples/s> samples/s over <steps> steps (median of <r> runs)

Run through benchmarks/pytorch/run.sh (it sets the environment); python3-torch is never a
dependency of millrace's build or tests.
"""
import argparse
import gzip
import os
import statistics
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def dwsep_block(cin, cout, stride):
    return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


def model(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 500), nn.ReLU(inplace=True),
                             nn.Linear(500, 10))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32),
                             nn.ReLU(inplace=True), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64),
                             nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(64 * 7 * 7, 128), nn.ReLU(inplace=True),
                             nn.Linear(128, 10))
    if name == "dwsep":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32),
                             nn.ReLU(inplace=True), *dwsep_block(32, 64, 2),
                             *dwsep_block(64, 128, 2), *dwsep_block(128, 128, 1),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    raise ValueError(name)


def run(name, images, labels, steps, warmup, batch):
    torch.manual_seed(1)
    net = model(name)
    channels_last = name != "mlp"
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    n = images.shape[0]
    order = torch.randperm(n)
    net.train()

    def step(i):
        idx = order[(i * batch) % (n - batch):][:batch]
        x = images[idx]
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = labels[idx]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y, label_smoothing=0.1)
        loss.backward()
        opt.step()

    for i in range(warmup):
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    return steps * batch / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="mlp,cnn,dwsep")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=200, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    images = read_idx(os.path.join(DATA, "train-images-idx3-ubyte.gz")).float().div_(255)
    images = images.sub_(0.2860).div_(0.3530).unsqueeze(1).contiguous()
    labels = read_idx(os.path.join(DATA, "train-labels-idx1-ubyte.gz")).long()
    for name in a.models.split(","):
        rates = [run(name, images, labels, a.steps, a.warmup, a.batch) for _ in range(a.repeat)]
        print(f"pytorch {name} threads {a.threads}: {statistics.median(rates):.0f} samples/s over "
              f"{a.steps} steps (median of {a.repeat} runs: "
              + ", ".join(f"{r:.0f}" for r in rates) + ")", flush=True)


if __name__ == "__main__":
    main()
