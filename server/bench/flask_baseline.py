#!/usr/bin/env python3
"""BASELINE ONLY: the recipe's serving stack (Flask + PyTorch, one request -> one forward pass),
kept so `npm run bench` can measure our server against it side by side. Not part of the product.

Serves torchvision's squeezenet1_1 (weights=None: same architecture and cost as the bundled ONNX
model, no download) on the Open Inference Protocol infer route, accepting the same bodies the
benchmark client sends to our server: JSON tensors, or Triton's binary tensor extension (JSON
header of `Inference-Header-Content-Length` bytes followed by the raw little-endian FP32 tensor).
Answers JSON, as the recipe's Flask app does.

Run under gunicorn with Debian's python3-flask, gunicorn, python3-torch and python3-torchvision:

    BENCH_TORCH_THREADS=1 gunicorn --workers 2 --bind 127.0.0.1:PORT \
        --chdir server/bench flask_baseline:app
"""
import json
import os

import numpy as np
import torch
import torchvision
from flask import Flask, Response, request

# One intra-op thread per gunicorn worker, one worker per core: the fastest CPU layout for
# one-request-one-forward serving (threads would contend for the same cores).
torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", "1")))
torch.manual_seed(0)
MODEL = torchvision.models.squeezenet1_1(weights=None).eval()

app = Flask(__name__)


@app.get("/v2/health/ready")
def ready() -> Response:
    return Response(status=200)


@app.post("/v2/models/<name>/infer")
def infer(name: str) -> Response:
    body = request.get_data()
    header_length = request.headers.get("Inference-Header-Content-Length")
    if header_length is not None:
        header = json.loads(body[: int(header_length)])
        tensor = header["inputs"][0]
        array = np.frombuffer(body[int(header_length):], dtype="<f4")
    else:
        header = json.loads(body)
        tensor = header["inputs"][0]
        array = np.asarray(tensor["data"], dtype=np.float32)
    x = torch.from_numpy(array.copy()).reshape(tensor["shape"])
    with torch.no_grad():
        y = MODEL(x)
    answer = {
        "model_name": name,
        "outputs": [
            {"name": "output", "datatype": "FP32", "shape": list(y.shape), "data": y.flatten().tolist()}
        ],
    }
    return Response(json.dumps(answer), mimetype="application/json")
