"""Drives the server's gRPC service with NVIDIA's tritonclient.grpc, the way a Triton user would.

Usage: python tritonclient_grpc.py HOST:PORT REFERENCE_DIR
Prints one JSON object: what each call returned (or the error it raised), for
test/clients/tritonclient-grpc.test.ts to check against onnxruntime's own run of the same models.
Exits 0 even when a call fails: the test names the call.
"""

import sys
from pathlib import Path

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2, service_pb2_grpc

from client_report import call, print_report, reference_input

url, reference_dir = sys.argv[1], Path(sys.argv[2])
client = grpcclient.InferenceServerClient(url=url)


def described(result, name):
    """An output as the test compares it: shape, dtype and the values."""
    got = result.as_numpy(name)
    response = result.get_response(as_json=True)
    return {
        "shape": list(got.shape),
        "dtype": str(got.dtype),
        "values": got.astype(np.float64).ravel().tolist(),
        "id": response.get("id", ""),
        "raw_output": len(result.get_response().raw_output_contents) == 1,
    }


def infer_raw(model):
    """The reference input through client.infer: tritonclient sends raw_input_contents."""
    meta, x = reference_input(reference_dir, model)
    inp = grpcclient.InferInput(meta["input"]["name"], list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    out = grpcclient.InferRequestedOutput(meta["output"]["name"])
    result = client.infer(model, [inp], outputs=[out], request_id="tc-grpc-1")
    return described(result, meta["output"]["name"])


def infer_typed(model):
    """The same input as typed contents (fp32_contents), through the generated stub."""
    meta, x = reference_input(reference_dir, model)
    request = service_pb2.ModelInferRequest(model_name=model, id="tc-grpc-2")
    tensor = request.inputs.add(name=meta["input"]["name"], datatype="FP32", shape=list(x.shape))
    tensor.contents.fp32_contents.extend(x.ravel().tolist())
    request.outputs.add(name=meta["output"]["name"])
    with grpc.insecure_channel(url) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
    return described(grpcclient.InferResult(response), meta["output"]["name"])


def classify():
    meta, x = reference_input(reference_dir, "squeezenet1_1")
    inp = grpcclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    out = grpcclient.InferRequestedOutput("output", class_count=3)
    result = client.infer("squeezenet1_1", [inp], outputs=[out])
    got = result.as_numpy("output")
    return {
        "shape": list(got.shape),
        "rows": [[s.decode() if isinstance(s, bytes) else s for s in row] for row in got.tolist()],
    }


def error_of(fn):
    try:
        fn()
    except grpcclient.InferenceServerException as err:
        return {"status": err.status(), "message": err.message()}
    return "no error"


def wrong_datatype():
    """FP64 where the model takes FP32: the only datatype the bundled models allow is FP32."""
    inp = grpcclient.InferInput("input", [1, 16], "FP64")
    inp.set_data_from_numpy(np.zeros((1, 16), dtype=np.float64))
    return error_of(lambda: client.infer("mlp", [inp]))


call("is_server_live", client.is_server_live)
call("is_server_ready", client.is_server_ready)
call("is_model_ready", lambda: client.is_model_ready("mlp"))
call("get_server_metadata", lambda: client.get_server_metadata(as_json=True))
call("get_model_metadata", lambda: client.get_model_metadata("squeezenet1_1", as_json=True))
call("get_model_config", lambda: client.get_model_config("squeezenet1_1", as_json=True))
call("get_model_config_mlp_v1", lambda: client.get_model_config("mlp", "1", as_json=True))
call("get_model_repository_index", lambda: client.get_model_repository_index(as_json=True))
call("infer_mlp_raw", lambda: infer_raw("mlp"))
call("infer_mlp_typed", lambda: infer_typed("mlp"))
call("infer_squeezenet_raw", lambda: infer_raw("squeezenet1_1"))
call("infer_squeezenet_typed", lambda: infer_typed("squeezenet1_1"))
call("classification", classify)
call("wrong_datatype", wrong_datatype)
call("get_inference_statistics", lambda: client.get_inference_statistics(as_json=True))
call("get_inference_statistics_mlp", lambda: client.get_inference_statistics("mlp", "1", as_json=True))
call("unknown_model_config", lambda: error_of(lambda: client.get_model_config("nope")))
call("load_refused", lambda: error_of(lambda: client.load_model("mlp")))
client.close()
print_report()
