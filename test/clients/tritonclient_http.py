"""Drives the server with NVIDIA's tritonclient.http, the way a Triton user would.

Usage: python tritonclient_http.py HOST:PORT REFERENCE_DIR
Prints one JSON object: what each call returned (or the error it raised), for
test/clients/tritonclient-http.test.ts to check. Exits 0 even when a call fails: the test names
the call.
"""

import sys
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient

from client_report import call, print_report, reference_input, reference_tensor

url, reference_dir = sys.argv[1], Path(sys.argv[2])
client = httpclient.InferenceServerClient(url=url)


def reference(model):
    """reference.json, PyTorch's input and PyTorch's output of `model`."""
    meta, x = reference_input(reference_dir, model)
    return meta, x, reference_tensor(reference_dir, model, meta["output"])


def infer(model, binary):
    """PyTorch's reference input through client.infer; the largest difference from its output."""
    meta, x, expected = reference(model)
    inp = httpclient.InferInput(meta["input"]["name"], list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = httpclient.InferRequestedOutput(meta["output"]["name"], binary_data=binary)
    result = client.infer(model, [inp], outputs=[out], request_id="tc-1")
    got = result.as_numpy(meta["output"]["name"])
    response = result.get_response()
    return {
        "shape": list(got.shape),
        "dtype": str(got.dtype),
        "max_abs_diff": float(np.max(np.abs(got - expected))),
        "id": response.get("id"),
        "binary_output": "binary_data_size" in (response["outputs"][0].get("parameters") or {}),
    }


def classify(binary):
    meta, x, expected = reference("squeezenet1_1")
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = httpclient.InferRequestedOutput("output", binary_data=binary, class_count=3)
    result = client.infer("squeezenet1_1", [inp], outputs=[out])
    got = result.as_numpy("output")
    top = np.argsort(-expected, axis=1, kind="stable")[:, :3]
    return {
        "shape": list(got.shape),
        "rows": [[s.decode() if isinstance(s, bytes) else s for s in row] for row in got.tolist()],
        "expected_indices": top.tolist(),
        "expected_scores": [[float(expected[r, i]) for i in row] for r, row in enumerate(top)],
    }


call("is_server_live", client.is_server_live)
call("is_server_ready", client.is_server_ready)
call("is_model_ready", lambda: client.is_model_ready("mlp"))
call("get_server_metadata", client.get_server_metadata)
call("get_model_metadata", lambda: client.get_model_metadata("squeezenet1_1"))
call("get_model_config", lambda: client.get_model_config("squeezenet1_1"))
call("get_model_config_mlp_v1", lambda: client.get_model_config("mlp", "1"))
call("get_model_repository_index", client.get_model_repository_index)
call("infer_mlp_binary", lambda: infer("mlp", True))
call("infer_mlp_json", lambda: infer("mlp", False))
call("infer_squeezenet_binary", lambda: infer("squeezenet1_1", True))
call("infer_squeezenet_json", lambda: infer("squeezenet1_1", False))
call("classification_binary", lambda: classify(True))
call("classification_json", lambda: classify(False))
call("get_inference_statistics", client.get_inference_statistics)
call("get_inference_statistics_mlp", lambda: client.get_inference_statistics("mlp", "1"))


def unknown_model():
    try:
        client.get_model_config("nope")
    except httpclient.InferenceServerException as err:
        return {"status": err.status(), "message": err.message()}
    return "no error"


call("unknown_model_config", unknown_model)
client.close()
print_report()
