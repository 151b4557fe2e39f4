"""What the client scripts in test/clients/ share: the report of each call (what it returned, or the
exception it raised, for the *.test.ts beside them to check) and the reference inputs in
server/reference/. Imported as a sibling module: Python puts a script's own folder on sys.path.
"""

import json
import traceback

import numpy as np

report = {}


def _failure(err):
    return {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()}


def call(key, fn):
    try:
        report[key] = {"ok": fn()}
    except Exception as err:  # noqa: BLE001 - every failure goes into the report
        report[key] = _failure(err)


async def acall(key, coro_fn):
    try:
        report[key] = {"ok": await coro_fn()}
    except Exception as err:  # noqa: BLE001 - every failure goes into the report
        report[key] = _failure(err)


def reference_tensor(reference_dir, model, tensor):
    return np.fromfile(reference_dir / model / tensor["file"], dtype="<f4").reshape(tensor["shape"])


def reference_input(reference_dir, model):
    """reference.json of `model` and its input, as PyTorch exported them."""
    meta = json.loads((reference_dir / model / "reference.json").read_text())
    return meta, reference_tensor(reference_dir, model, meta["input"])


def print_report():
    print(json.dumps(report))
