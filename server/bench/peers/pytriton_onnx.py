#!/usr/bin/env python3
"""PEER FOR `npm run bench -- --peers` ONLY: NVIDIA Triton through PyTriton (nvidia-pytriton, which
bundles tritonserver): Triton's own HTTP front end and dynamic batcher in front of a Python callable
that runs the bundled ONNX models with the onnxruntime Python package. Not part of the product.

Configured as PyTriton's documentation shows for a batched model: `@batch` on the callable,
`ModelConfig(max_batch_size=..., batcher=DynamicBatcher(...))`, one instance. The batcher gets the
same settings as our server's squeezenet1_1/config.json (max_batch_size 64, preferred batch 4, no
queue delay), so the two batchers are compared like for like; the MLP as our server runs it
(unbatched requests of one row; max_batch_size 1024, no preferred size).

    python pytriton_onnx.py MODEL_REPOSITORY HTTP_PORT [WORKSPACE]

Triton's gRPC port is $BENCH_GRPC_PORT (perf_analyzer -i grpc measures it), else a free one; its
metrics port a free one. WORKSPACE is
where PyTriton keeps its sockets and tritonserver's files (default: a new directory under
~/.cache/pytriton); SIGTERM stops Triton through PyTriton, which then removes a default workspace.
"""
import os
import signal
import socket
import sys

import numpy as np
import onnxruntime as ort
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import DEFAULT_PROTECTED_ENDPOINTS, Triton, TritonConfig, TritonSecurityConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bind(triton: Triton, name: str, path: str, max_batch_size: int, preferred: list) -> None:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inp, out = session.get_inputs()[0], session.get_outputs()[0]

    @batch
    def infer(**inputs):
        return {out.name: session.run([out.name], {inp.name: inputs[inp.name]})[0]}

    triton.bind(
        model_name=name,
        infer_func=infer,
        inputs=[Tensor(name=inp.name, dtype=np.float32, shape=tuple(inp.shape[1:]))],
        outputs=[Tensor(name=out.name, dtype=np.float32, shape=tuple(out.shape[1:]))],
        config=ModelConfig(
            max_batch_size=max_batch_size,
            batcher=DynamicBatcher(max_queue_delay_microseconds=0, preferred_batch_size=preferred),
        ),
        strict=True,
    )


def main() -> None:
    repository, port = sys.argv[1], int(sys.argv[2])
    workspace = sys.argv[3] if len(sys.argv) > 3 else None
    # Python's default SIGTERM ends the process at once, leaving tritonserver and the workspace
    # behind; as SystemExit it leaves the `with` block, whose exit stops both.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    config = TritonConfig(
        http_address="127.0.0.1",
        http_port=port,
        grpc_address="127.0.0.1",
        grpc_port=int(os.environ.get("BENCH_GRPC_PORT") or free_port()),
        metrics_port=free_port(),
    )
    # PyTriton's default protection with one exception: the statistics API, which perf_analyzer
    # reads and cannot pass a token to over gRPC (its -H is HTTP-only). Our server does not
    # restrict statistics either; everything listens on 127.0.0.1 only.
    security = TritonSecurityConfig(
        restricted_endpoints=[e for e in DEFAULT_PROTECTED_ENDPOINTS if e != "statistics"]
    )
    with Triton(config=config, workspace=workspace, security_config=security) as triton:
        model = lambda name: os.path.join(repository, name, "1", "model.onnx")  # noqa: E731
        bind(triton, "squeezenet1_1", model("squeezenet1_1"), 64, [4])
        bind(triton, "mlp", model("mlp"), 1024, [])
        triton.serve()


if __name__ == "__main__":
    main()
