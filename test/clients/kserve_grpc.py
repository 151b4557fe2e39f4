"""Drives the server's gRPC port with KServe's Python SDK gRPC client (kserve.InferenceGRPCClient),
the way a KServe user would.

Usage: python kserve_grpc.py HOST:PORT REFERENCE_DIR
Prints one JSON object: what each call returned (or the error it raised), for
test/clients/kserve-grpc.test.ts to check; inference outputs are returned whole, for the test to
compare with onnxruntime's own run. Exits 0 even when a call fails: the test names the call.
Imports kserve, never tritonclient.grpc: both register the protobuf package `inference`.
"""

import asyncio
import sys
from pathlib import Path

import grpc
import numpy as np
from google.protobuf.json_format import MessageToDict
from kserve import InferenceGRPCClient, InferInput, InferRequest
from kserve.protocol.grpc.grpc_predict_v2_pb2 import (
    ModelMetadataRequest,
    ServerMetadataRequest,
)

from client_report import acall as call, print_report, reference_input

address, reference_dir = sys.argv[1], Path(sys.argv[2])


async def main():
    # retries=0: an UNAVAILABLE answer is a failure to report, not to retry.
    client = InferenceGRPCClient(address, retries=0, timeout=60)

    async def infer(model, raw):
        """The reference input through client.infer: raw_input_contents or typed contents."""
        meta, x = reference_input(reference_dir, model)
        inp = InferInput(meta["input"]["name"], list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=raw)
        request = InferRequest(model, [inp], request_id="ks-1")
        grpc_request = request.to_grpc()
        result = await client.infer(request)
        output = result.get_output_by_name(meta["output"]["name"])
        got = output.as_numpy()
        return {
            "sent_raw": len(grpc_request.raw_input_contents) > 0,
            "model_name": result.model_name,
            "model_version": result.model_version,
            "id": result.id,
            "datatype": output.datatype,
            "shape": list(got.shape),
            "dtype": str(got.dtype),
            "data": got.astype("<f4").reshape(-1).tolist(),
        }

    # The SDK's client has no metadata calls: its own stub and messages make them.
    async def server_metadata():
        return MessageToDict(await client._client_stub.ServerMetadata(ServerMetadataRequest()))

    async def model_metadata(name, version=""):
        response = await client._client_stub.ModelMetadata(ModelMetadataRequest(name=name, version=version))
        return MessageToDict(response)

    async def bad_input(model, name, shape, values):
        """A request the server must refuse: the SDK's error (a grpc.aio.AioRpcError) as caught."""
        inp = InferInput(name, shape, "FP32")
        inp.set_data_from_numpy(np.asarray(values, dtype=np.float32).reshape(shape), binary_data=False)
        try:
            await client.infer(InferRequest(model, [inp]))
        except grpc.RpcError as err:
            return {"type": type(err).__name__, "code": err.code().name, "details": err.details()}
        return "no error"

    await call("is_server_live", client.is_server_live)
    await call("is_server_ready", client.is_server_ready)
    await call("is_model_ready_mlp", lambda: client.is_model_ready("mlp"))
    await call("is_model_ready_squeezenet", lambda: client.is_model_ready("squeezenet1_1"))

    async def unknown_ready():
        try:
            return await client.is_model_ready("nope")
        except grpc.RpcError as err:
            return {"code": err.code().name, "details": err.details()}

    await call("is_model_ready_unknown", unknown_ready)
    await call("server_metadata", server_metadata)
    await call("model_metadata_mlp", lambda: model_metadata("mlp"))
    await call("model_metadata_squeezenet", lambda: model_metadata("squeezenet1_1", "1"))
    for model in ("mlp", "squeezenet1_1"):
        for raw in (True, False):
            key = f"infer_{model}_{'raw' if raw else 'typed'}"
            await call(key, lambda m=model, r=raw: infer(m, r))
    await call("bad_shape", lambda: bad_input("mlp", "input", [1, 15], [0.5] * 15))
    await call("bad_input_name", lambda: bad_input("mlp", "nope", [1, 16], [0.5] * 16))
    await call("unknown_model", lambda: bad_input("nope", "input", [1, 16], [0.5] * 16))
    await client.close()


asyncio.run(main())
print_report()
