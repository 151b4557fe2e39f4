"""PEER FOR `npm run bench -- --peers` ONLY: TorchServe's custom handler for the bundled ONNX models
(packed with torch-model-archiver by server/bench/stacks.ts), running them with the onnxruntime
Python package. TorchServe's own inference route is `POST /predictions/<model>`, not the V2 one:
this handler reads the V2 request bodies the benchmark sends (Triton's binary tensor extension, or
JSON tensors) and answers V2 JSON, as the Flask baseline does. Not part of the product.

One onnxruntime intra-op thread per TorchServe worker, and one worker per core (TorchServe's
default `default_workers_per_model`): TorchServe's CPU guidance is to parallelize across workers,
not inside one.
"""
import json
import os

import numpy as np
import onnxruntime as ort


class OnnxHandler:
    def initialize(self, context):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        model_dir = context.system_properties["model_dir"]
        self.session = ort.InferenceSession(
            os.path.join(model_dir, "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.model_name = context.model_name

    def tensor(self, request, index, context):
        body = request.get("body") if request.get("body") is not None else request.get("data")
        header_length = context.get_request_header(index, "Inference-Header-Content-Length")
        if header_length is not None:
            header = json.loads(bytes(body[: int(header_length)]))
            tensor = header["inputs"][0]
            array = np.frombuffer(bytes(body[int(header_length):]), dtype="<f4")
        else:
            header = body if isinstance(body, dict) else json.loads(bytes(body))
            tensor = header["inputs"][0]
            array = np.asarray(tensor["data"], dtype=np.float32)
        return array.reshape(tensor["shape"])

    def handle(self, data, context):
        answers = []
        for index, request in enumerate(data):
            y = self.session.run([self.output_name], {self.input_name: self.tensor(request, index, context)})[0]
            answers.append(
                json.dumps(
                    {
                        "model_name": self.model_name,
                        "outputs": [
                            {
                                "name": self.output_name,
                                "datatype": "FP32",
                                "shape": list(y.shape),
                                "data": y.flatten().tolist(),
                            }
                        ],
                    }
                )
            )
        return answers


_service = OnnxHandler()


def handle(data, context):
    if not getattr(_service, "session", None):
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
