/**
 * The server compiles Triton's grpc_service.proto; the Open Inference Protocol's own
 * open_inference_grpc.proto (copied beside it) must be a subset of it: the same package and
 * service, every RPC with the same request and response types, every message field with the same
 * number and type. A client generated from the OIP file then talks to the server unchanged.
 */
import { join } from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import { expect, it } from 'vitest';
import { PROTO_DIR, PROTO_FILES, loadServices } from '../../server/grpc/server.ts';

const options = { keepCase: true, includeDirs: [PROTO_DIR] };
const oip = loadSync(join(PROTO_DIR, 'open_inference_grpc.proto'), options);
const served = loadSync(PROTO_FILES, options);

type Field = { name: string; number: number; type: string; label: string; typeName: string };
const fields = (def: unknown) =>
  (def as { type: { field: Field[] } }).type.field.map((f) => ({
    name: f.name,
    number: f.number,
    type: f.type,
    label: f.label,
    typeName: f.typeName,
  }));

/**
 * OIP fields Triton's file lacks, each with why a client is unaffected. A field not in the served
 * schema is never answered; a proto3 client reads it as its default.
 */
const NOT_SERVED: Record<string, string> = {
  // open_inference_grpc.proto line 134-135 "Optional Model Properties": an empty map to an OIP client.
  'inference.ModelMetadataResponse.properties': 'optional; added by OIP, absent in Triton',
};

it('every OIP message is served with the same field numbers and types', () => {
  const messages = Object.keys(oip).filter((k) => 'type' in (oip[k] as object) && k.startsWith('inference.'));
  // Not vacuous: ModelInferRequest, its tensors, the metadata and health messages, ...
  expect(messages).toEqual(
    expect.arrayContaining(['inference.ModelInferRequest', 'inference.InferTensorContents']),
  );
  for (const name of messages) {
    expect(served[name], name).toBeDefined();
    const mine = fields(served[name]);
    for (const f of fields(oip[name])) {
      if (`${name}.${f.name}` in NOT_SERVED) expect(mine.map((m) => m.number)).not.toContain(f.number);
      else expect(mine, `${name}.${f.name}`).toContainEqual(f);
    }
  }
});

it('every OIP RPC has a handler with the same request and response types', () => {
  const service = oip['inference.GRPCInferenceService'] as Record<
    string,
    { path: string; requestStream: boolean }
  >;
  const rpcs = Object.values(service).map((m) => m.path);
  expect(rpcs).toEqual(expect.arrayContaining(['/inference.GRPCInferenceService/ModelInfer']));
  const { inference } = loadServices();
  const servedPaths = Object.values(inference).map((m) => m.path);
  for (const path of rpcs) expect(servedPaths).toContain(path);
  const servedService = served['inference.GRPCInferenceService'] as typeof service;
  for (const [name, m] of Object.entries(service)) {
    const s = servedService[name] as unknown as { requestType: { type: { name: string } } };
    expect(s.requestType.type.name, name).toBe(
      (m as unknown as { requestType: { type: { name: string } } }).requestType.type.name,
    );
  }
});
