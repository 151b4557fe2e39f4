/**
 * Writes small ONNX models for tests (ModelProto protobuf encoded by hand: no onnx package in Node
 * and none on Debian). Field numbers are onnx/onnx.proto3's.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { V2Datatype } from '../../server/datatypes.ts';

/** onnx.proto TensorProto.DataType for each V2 datatype. */
const ELEM_TYPE: Record<V2Datatype, number> = {
  FP32: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  BYTES: 8,
  BOOL: 9,
  FP16: 10,
  FP64: 11,
  UINT32: 12,
  UINT64: 13,
};

export interface ValueInfo {
  name: string;
  datatype: V2Datatype;
  /** Numbers are fixed dims, strings symbolic ones; undefined leaves the shape unknown. */
  shape?: (number | string)[];
}
export interface NodeInfo {
  op: string;
  inputs: string[];
  outputs: string[];
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const field = (num: number, payload: number[]): number[] => [
  ...varint((num << 3) | 2),
  ...varint(payload.length),
  ...payload,
];
const str = (num: number, s: string): number[] => field(num, [...Buffer.from(s, 'utf8')]);
const int = (num: number, n: number): number[] => [...varint(num << 3), ...varint(n)];

function valueInfo(v: ValueInfo): number[] {
  const shape = v.shape?.map((d) => field(1, typeof d === 'number' ? int(1, d) : str(2, d)).flat());
  const tensorType = [...int(1, ELEM_TYPE[v.datatype]), ...(shape ? field(2, shape.flat()) : [])];
  return [...str(1, v.name), ...field(2, field(1, tensorType))];
}

export function buildModel(inputs: ValueInfo[], outputs: ValueInfo[], nodes: NodeInfo[]): Uint8Array {
  const graph = [
    ...nodes.flatMap((n, i) =>
      field(1, [
        ...n.inputs.flatMap((x) => str(1, x)),
        ...n.outputs.flatMap((x) => str(2, x)),
        ...str(3, `n${i}`),
        ...str(4, n.op),
      ]),
    ),
    ...str(2, 'test'),
    ...inputs.flatMap((v) => field(11, valueInfo(v))),
    ...outputs.flatMap((v) => field(12, valueInfo(v))),
  ];
  // ir_version 8 with opset 13: Identity-13 and Add-13 cover every type used here.
  const model = [
    ...int(1, 8),
    ...str(2, 'cdk8s-gpu-inference-tests'),
    ...field(7, graph),
    ...field(8, [...str(1, ''), ...int(2, 13)]),
  ];
  return Uint8Array.from(model);
}

export function writeModel(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

export const ALL_DATATYPES: V2Datatype[] = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
];

/** One Identity per datatype: input `in_<T>` [batch, 2] -> output `out_<T>`. */
export function identityModel(): Uint8Array {
  const io = (prefix: string) =>
    ALL_DATATYPES.map((t) => ({ name: `${prefix}_${t}`, datatype: t, shape: ['batch', 2] }));
  return buildModel(
    io('in'),
    io('out'),
    ALL_DATATYPES.map((t) => ({ op: 'Identity', inputs: [`in_${t}`], outputs: [`out_${t}`] })),
  );
}

/** a [n] + b [m] -> c: onnxruntime fails at run time when n != m and neither is 1. */
export function addModel(): Uint8Array {
  return buildModel(
    [
      { name: 'a', datatype: 'FP32', shape: ['n'] },
      { name: 'b', datatype: 'FP32', shape: ['m'] },
    ],
    [{ name: 'c', datatype: 'FP32' }],
    [{ op: 'Add', inputs: ['a', 'b'], outputs: ['c'] }],
  );
}
