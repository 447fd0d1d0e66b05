#!/usr/bin/env python3
"""PyTorch peer of `tinyvae bench-train`: the pytorch/examples VAE recipe
(784-400-20, ReLU, sigmoid + summed BCE, Adam 1e-3, batch 128, shuffled) on
the same IDX files and threads. Prints one JSON object per epoch on stdout:
{"epoch", "train_seconds", "train_loss", "test_nelbo"}.

Needs `pip install torch numpy`.
"""
import argparse
import gzip
import json
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


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
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

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, args.latent)
            self.fc22 = nn.Linear(400, args.latent)
            self.fc3 = nn.Linear(args.latent, 400)
            self.fc4 = nn.Linear(400, 784)

        def forward(self, x):
            h1 = F.relu(self.fc1(x))
            mu, logvar = self.fc21(h1), self.fc22(h1)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar

    def loss_function(recon_x, x, mu, logvar):
        bce = F.binary_cross_entropy(recon_x, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    train_x = torch.from_numpy(load_images(args.data, "train").astype("float32") / 255.0)
    test_x = torch.from_numpy(load_images(args.data, "t10k").astype("float32") / 255.0)
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        total = 0.0
        for idx in torch.randperm(len(train_x)).split(args.batch_size):
            x = train_x[idx]
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = loss_function(recon, x, mu, logvar)
            loss.backward()
            total += loss.item()
            optimizer.step()
        seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            test = 0.0
            for x in test_x.split(1000):
                recon, mu, logvar = model(x)
                test += loss_function(recon, x, mu, logvar).item()
        print(json.dumps({
            "epoch": epoch,
            "train_seconds": seconds,
            "train_loss": total / len(train_x),
            "test_nelbo": test / len(test_x),
        }), flush=True)


if __name__ == "__main__":
    main()
