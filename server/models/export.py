#!/usr/bin/env python3
"""Export the bundled models of the server's model repository from PyTorch to ONNX.

Run with Debian's python3-torch and python3-torchvision (no download: `weights=None`, the weights
are random from a fixed seed):

    /usr/bin/python3 server/models/export.py

Writes, for each model, `server/models/<name>/1/model.onnx` and a reference input with PyTorch's
output for it under `server/reference/<name>/` (raw little-endian float32 `.bin` files described by
`reference.json`), so the tests check onnxruntime's parity through the HTTP API without torch.
"""
import json
import os
import re

import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(os.path.dirname(HERE), "reference")
SEED = 20241128
# opset 13: within what torch 1.13's exporter writes (7..17) and onnxruntime-node 1.30 runs; the
# ONNX models the tests build by hand (test/server/onnx-builder.ts) use the same opset.
OPSET = 13


class Mlp(torch.nn.Module):
    """16 -> 64 -> 4: the small model that measures the server's own overhead."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def export(name: str, model: torch.nn.Module, input_name: str, output_name: str, sample: torch.Tensor) -> None:
    model.eval()
    version_dir = os.path.join(HERE, name, "1")
    os.makedirs(version_dir, exist_ok=True)
    path = os.path.join(version_dir, "model.onnx")
    with torch.no_grad():
        torch.onnx.export(
            model,
            sample,
            path,
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
        output = model(sample)
    ref_dir = os.path.join(REFERENCE, name)
    os.makedirs(ref_dir, exist_ok=True)
    # numpy's "<f4" is little-endian float32 whatever the host's byte order.
    sample.numpy().astype("<f4").tofile(os.path.join(ref_dir, "input.bin"))
    output.numpy().astype("<f4").tofile(os.path.join(ref_dir, "output.bin"))
    meta = {
        "model": name,
        "version": "1",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "seed": SEED,
        "input": {"name": input_name, "datatype": "FP32", "shape": list(sample.shape), "file": "input.bin"},
        "output": {"name": output_name, "datatype": "FP32", "shape": list(output.shape), "file": "output.bin"},
    }
    # Shapes on one line, as the repository's prettier formats JSON.
    text = re.sub(r"\[\s+([\d,\s]+?)\s+\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", json.dumps(meta, indent=2))
    with open(os.path.join(ref_dir, "reference.json"), "w") as f:
        f.write(text + "\n")
    print(f"{name}: {path} ({os.path.getsize(path)} bytes), reference in {ref_dir}")


def main() -> None:
    torch.manual_seed(SEED)
    squeezenet = torchvision.models.squeezenet1_1(weights=None)
    export("squeezenet1_1", squeezenet, "input", "output", torch.rand(2, 3, 224, 224))
    torch.manual_seed(SEED)
    export("mlp", Mlp(), "input", "output", torch.randn(3, 16))


if __name__ == "__main__":
    main()
