#!/usr/bin/env python3
"""PEER FOR `npm run bench -- --peers` ONLY: KServe's Python model server (kserve.ModelServer, the
runtime a custom KServe predictor runs) serving the bundled ONNX models through the onnxruntime
Python package, on the V2 (Open Inference Protocol) REST routes. Not part of the product.

Configured as KServe's custom-predictor documentation shows: one `kserve.Model` subclass per model,
`load()` opening the session and setting `ready`, `predict()` taking an `InferRequest` and answering
an `InferResponse`; ModelServer's defaults otherwise (one uvicorn worker, no gRPC: REST only is
measured). onnxruntime's own defaults on CPU (intra-op threads = cores).

    python kserve_onnx.py MODEL_REPOSITORY HTTP_PORT

MODEL_REPOSITORY is server/models: every `<name>/1/model.onnx` is served as `<name>`.
"""
import os
import sys

import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.utils.utils import generate_uuid


class OnnxModel(Model):
    def __init__(self, name: str, path: str):
        super().__init__(name)
        self.path = path
        self.load()

    def load(self) -> bool:
        self.session = ort.InferenceSession(self.path, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        x = payload.inputs[0].as_numpy()
        outputs = self.session.run(self.output_names, {self.input_name: x})
        infer_outputs = []
        for name, y in zip(self.output_names, outputs):
            out = InferOutput(name=name, shape=list(y.shape), datatype="FP32")
            out.set_data_from_numpy(y, binary_data=False)
            infer_outputs.append(out)
        # The requested outputs and their `binary_data` parameter passed on: KServe's V2 REST then
        # answers in Triton's binary tensor extension when asked, as our server and Triton do.
        return InferResponse(
            model_name=self.name,
            infer_outputs=infer_outputs,
            response_id=payload.id or generate_uuid(),
            use_binary_outputs=payload.use_binary_outputs,
            requested_outputs=payload.request_outputs,
        )


def main() -> None:
    repository, port = sys.argv[1], int(sys.argv[2])
    models = [
        OnnxModel(name, os.path.join(repository, name, "1", "model.onnx"))
        for name in sorted(os.listdir(repository))
        if os.path.isfile(os.path.join(repository, name, "1", "model.onnx"))
    ]
    ModelServer(http_port=port, enable_grpc=False, workers=1).start(models)


if __name__ == "__main__":
    main()
