"""Drives the server with KServe's Python SDK REST client (kserve.InferenceRESTClient, protocol v2),
the way a KServe user would.

Usage: python kserve_rest.py BASE_URL REFERENCE_DIR
Prints one JSON object: what each call returned (or the error it raised), for
test/clients/kserve-rest.test.ts to check; inference outputs are returned whole, for the test to
compare with onnxruntime's own run. Exits 0 even when a call fails: the test names the call.
Imports kserve, never tritonclient.grpc: both register the protobuf package `inference`.
"""

import asyncio
import sys
from pathlib import Path

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput
from kserve.protocol.rest.v2_datamodels import (
    ModelMetadataResponse,
    ModelReadyResponse,
    ServerMetadataResponse,
)

from client_report import acall as call, print_report, reference_input

base_url, reference_dir = sys.argv[1], Path(sys.argv[2])


async def main():
    # retries=0: a refused connection is a failure to report, not to hide.
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=60))

    async def infer(model, binary):
        """The reference input through client.infer, binary or JSON both ways; the output whole."""
        meta, x = reference_input(reference_dir, model)
        inp = InferInput(meta["input"]["name"], list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        out = RequestedOutput(meta["output"]["name"], parameters={"binary_data": binary})
        request = InferRequest(model, [inp], request_id="ks-1", request_outputs=[out])
        headers = {}
        result = await client.infer(base_url, request, model_name=model, response_headers=headers)
        output = result.get_output_by_name(meta["output"]["name"])
        got = output.as_numpy()
        return {
            "model_name": result.model_name,
            "id": result.id,
            "datatype": output.datatype,
            "shape": list(got.shape),
            "dtype": str(got.dtype),
            # The SDK decodes binary outputs into data and drops binary_data_size: the header the
            # server sent says how the response came.
            "json_length": headers.get("inference-header-content-length"),
            "content_type": headers.get("content-type"),
            "data": got.astype("<f4").reshape(-1).tolist(),
        }

    # The REST client has no metadata calls: its own httpx client fetches them and KServe's v2 data
    # models (the SDK's own schema of the responses) parse them, so a field the SDK needs but the
    # server leaves out is a failure here.
    async def get(path, model_cls):
        response = await client._client.get(f"{base_url}{path}")
        if not response.is_success:
            raise client._construct_http_status_error(response)
        return model_cls.model_validate_json(response.content).model_dump()

    async def bad_input(model, name, shape, values):
        """A request the server must refuse: the SDK's error (an httpx.HTTPStatusError) as caught."""
        inp = InferInput(name, shape, "FP32")
        inp.set_data_from_numpy(np.asarray(values, dtype=np.float32).reshape(shape), binary_data=False)
        try:
            await client.infer(base_url, InferRequest(model, [inp]), model_name=model)
        except httpx.HTTPStatusError as err:
            return {"type": type(err).__name__, "status": err.response.status_code, "message": str(err)}
        return "no error"

    await call("is_server_live", lambda: client.is_server_live(base_url))
    await call("is_server_ready", lambda: client.is_server_ready(base_url))
    await call("is_model_ready_mlp", lambda: client.is_model_ready(base_url, "mlp"))
    await call("is_model_ready_squeezenet", lambda: client.is_model_ready(base_url, "squeezenet1_1"))
    await call("is_model_ready_unknown", lambda: client.is_model_ready(base_url, "nope"))
    await call("server_metadata", lambda: get("/v2", ServerMetadataResponse))
    await call("model_ready_body", lambda: get("/v2/models/mlp/ready", ModelReadyResponse))
    await call("model_metadata_mlp", lambda: get("/v2/models/mlp", ModelMetadataResponse))
    await call(
        "model_metadata_squeezenet",
        lambda: get("/v2/models/squeezenet1_1/versions/1", ModelMetadataResponse),
    )
    for model in ("mlp", "squeezenet1_1"):
        for binary in (True, False):
            key = f"infer_{model}_{'binary' if binary else 'json'}"
            await call(key, lambda m=model, b=binary: infer(m, b))
    # mlp takes [-1, 16]: 15 values in a row are refused with the server's message.
    await call("bad_shape", lambda: bad_input("mlp", "input", [1, 15], [0.5] * 15))
    await call("bad_input_name", lambda: bad_input("mlp", "nope", [1, 16], [0.5] * 16))
    await call("unknown_model", lambda: bad_input("nope", "input", [1, 16], [0.5] * 16))
    await client.close()


asyncio.run(main())
print_report()
