#!/usr/bin/env python3
"""PyTorch peer of `tinyvae bench-train`: the same models and recipes as
`tinyvae train` on the same IDX files and threads.

- `--model mlp`: the pytorch/examples VAE (784-400-20, ReLU, summed BCE,
  Adam 1e-3, batch 128, shuffled), unconditional.
- `--model conv`: tinyvae's default conv CVAE: encoder conv 1->32->64
  (kernel 4, stride 2, padding 1, ReLU), [features ; one-hot class] ->
  512 ReLU -> (mu, logvar) of 20; decoder [z ; one-hot class] -> 32x7x7
  ReLU, transposed conv 32->40 ReLU, transposed conv 40->1 (kernel 4,
  stride 2, padding 1) to logits; summed BCE from logits + KL; Adam
  (eps 1e-8) at 2e-3 with a cosine decay to 0 over the run's steps, batch 16.

Prints one JSON object per epoch on stdout:
{"epoch", "train_seconds", "train_loss", "test_nelbo"}.

Needs `pip install torch numpy`.
"""
import argparse
import gzip
import json
import math
import os
import sys
import time


def read_idx(directory, stem):
    for name in (stem, stem.replace("-idx", ".idx", 1)):
        for path in (os.path.join(directory, name), os.path.join(directory, name + ".gz")):
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    raw = f.read()
                if raw[:2] == b"\x1f\x8b":
                    raw = gzip.decompress(raw)
                return raw
    sys.exit(f"{directory}: no {stem} (nor .gz)")


def load_images(directory, prefix):
    import numpy as np

    raw = read_idx(directory, f"{prefix}-images-idx3-ubyte")
    n = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 784)


def load_labels(directory, prefix):
    import numpy as np

    raw = read_idx(directory, f"{prefix}-labels-idx1-ubyte")
    return np.frombuffer(raw, dtype=np.uint8, offset=8).astype("int64")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", choices=["mlp", "conv"], default="mlp")
    parser.add_argument("--batch-size", type=int, help="default: the model's recipe (mlp 128, conv 16)")
    parser.add_argument("--latent", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    try:
        import numpy  # noqa: F401
        import torch
        import torch.nn.functional as F
        from torch import nn
    except ImportError as err:
        sys.exit(f"PyTorch peer needs torch and numpy ({err}): pip install torch numpy")

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)

    class MlpVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, args.latent)
            self.fc22 = nn.Linear(400, args.latent)
            self.fc3 = nn.Linear(args.latent, 400)
            self.fc4 = nn.Linear(400, 784)

        def forward(self, x, _class):
            h1 = F.relu(self.fc1(x))
            mu, logvar = self.fc21(h1), self.fc22(h1)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            return self.fc4(F.relu(self.fc3(z))), mu, logvar

    class ConvVAE(nn.Module):
        def __init__(self, classes=10):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 4, 2, 1)
            self.conv2 = nn.Conv2d(32, 64, 4, 2, 1)
            self.fc = nn.Linear(64 * 7 * 7 + classes, 512)
            self.fc_mu = nn.Linear(512, args.latent)
            self.fc_logvar = nn.Linear(512, args.latent)
            self.dense = nn.Linear(args.latent + classes, 32 * 7 * 7)
            self.deconv1 = nn.ConvTranspose2d(32, 40, 4, 2, 1)
            self.deconv2 = nn.ConvTranspose2d(40, 1, 4, 2, 1)

        def forward(self, x, one_hot):
            h = F.relu(self.conv1(x.view(-1, 1, 28, 28)))
            h = F.relu(self.conv2(h)).flatten(1)
            h = F.relu(self.fc(torch.cat([h, one_hot], 1)))
            mu, logvar = self.fc_mu(h), self.fc_logvar(h)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            h = F.relu(self.dense(torch.cat([z, one_hot], 1))).view(-1, 32, 7, 7)
            h = F.relu(self.deconv1(h))
            return self.deconv2(h).flatten(1), mu, logvar

    def loss_function(logits, x, mu, logvar):
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    train_x = torch.from_numpy(load_images(args.data, "train").astype("float32") / 255.0)
    test_x = torch.from_numpy(load_images(args.data, "t10k").astype("float32") / 255.0)
    train_y = F.one_hot(torch.from_numpy(load_labels(args.data, "train")), 10).float()
    test_y = F.one_hot(torch.from_numpy(load_labels(args.data, "t10k")), 10).float()
    if args.model == "mlp":
        model, lr, batch_size, cosine = MlpVAE(), 1e-3, 128, False
    else:
        model, lr, batch_size, cosine = ConvVAE(), 2e-3, 16, True
    batch_size = args.batch_size or batch_size
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-8)
    steps = args.epochs * ((len(train_x) + batch_size - 1) // batch_size)
    step = 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        total = 0.0
        for idx in torch.randperm(len(train_x)).split(batch_size):
            x, y = train_x[idx], train_y[idx]
            if cosine:
                for group in optimizer.param_groups:
                    group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            step += 1
            optimizer.zero_grad()
            logits, mu, logvar = model(x, y)
            loss = loss_function(logits, x, mu, logvar)
            loss.backward()
            total += loss.item()
            optimizer.step()
        seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            test = 0.0
            for x, y in zip(test_x.split(1000), test_y.split(1000)):
                logits, mu, logvar = model(x, y)
                test += loss_function(logits, x, mu, logvar).item()
        print(json.dumps({
            "epoch": epoch,
            "train_seconds": seconds,
            "train_loss": total / len(train_x),
            "test_nelbo": test / len(test_x),
        }), flush=True)


if __name__ == "__main__":
    main()
