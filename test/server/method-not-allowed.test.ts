/**
 * A known path asked with a method it has no route for is 405 with an `Allow` header (RFC 9110
 * §15.5.6), not 404: schemathesis's unsupported_method check against the OIP REST spec found it
 * (test/clients/schemathesis-oip.test.ts, with TRACE, which fetch cannot send).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/server.ts';
import { removeDir, request, startTestServer, tempRepository } from './helpers.ts';

let server: RunningServer;
let repo: string;

beforeAll(async () => {
  repo = tempRepository(['mlp']);
  server = await startTestServer(repo);
});

afterAll(async () => {
  await server?.shutdown();
  removeDir(repo);
});

describe('405 Method Not Allowed', () => {
  it.each([
    ['PATCH', '/v2/health/live', 'GET, HEAD'],
    ['DELETE', '/v2/', 'GET, HEAD'],
    ['POST', '/v2/models/mlp/versions/1', 'GET, HEAD'],
    ['PUT', '/v2/models/mlp/ready', 'GET, HEAD'],
    ['GET', '/v2/models/mlp/versions/1/infer', 'POST'],
    ['GET', '/v2/repository/models/mlp/load', 'POST'],
  ])(
    '%s %s: 405, Allow: %s, the error naming method, path and the allowed ones',
    async (method, path, allow) => {
      const res = await request(server.url + path, { method });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe(allow);
      expect(res.body).toEqual({ error: `method ${method} is not allowed for ${path}; allowed: ${allow}` });
    },
  );

  it('a path no route has is still 404, whatever the method', async () => {
    for (const method of ['GET', 'POST', 'OPTIONS']) {
      const res = await request(`${server.url}/v2/models/mlp/versions/1/nothing`, { method });
      expect(res.status, method).toBe(404);
      expect(res.headers.get('allow')).toBeNull();
      expect(res.body).toEqual({ error: `no route for ${method} /v2/models/mlp/versions/1/nothing` });
    }
  });

  it('the routes themselves still answer', async () => {
    expect((await request(`${server.url}/v2/health/live`)).status).toBe(200);
    expect((await request(`${server.url}/v2/models/mlp/versions/1`, { method: 'HEAD' })).status).toBe(200);
  });
});
