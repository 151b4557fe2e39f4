/**
 * Keep-alive connections older than maxConnectionAgeSeconds, and all once draining, get
 * `Connection: close` on their next response, so that clients behind a connection-balancing Service reconnect and reach new pods.
 */
import { request as httpRequest, Agent } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/server.ts';
import { removeDir, startTestServer, tempRepository } from './helpers.ts';

let server: RunningServer | undefined;
let repo: string | undefined;

afterEach(async () => {
  await server?.shutdown();
  if (repo) removeDir(repo);
  server = undefined;
});

/** Two requests on one keep-alive connection; the connection header of each, and whether the socket was reused. */
async function twoRequests(
  url: string,
  pauseMs: number,
): Promise<{ headers: (string | undefined)[]; reused: boolean }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const sockets: unknown[] = [];
  const get = () =>
    new Promise<string | undefined>((resolve, reject) => {
      const req = httpRequest(`${url}/v2/health/live`, { agent }, (res) => {
        sockets.push(req.socket);
        res.resume();
        res.on('end', () => resolve(res.headers.connection));
      });
      req.on('error', reject);
      req.end();
    });
  const first = await get();
  await new Promise((r) => setTimeout(r, pauseMs));
  const second = await get();
  agent.destroy();
  return { headers: [first, second], reused: sockets[0] === sockets[1] };
}

describe('connection age', () => {
  it('keeps a young connection alive and closes one older than the limit after its response', async () => {
    repo = tempRepository([]);
    server = await startTestServer(repo, { maxConnectionAgeSeconds: 0.3 });
    const r = await twoRequests(server.url, 400);
    expect(r.headers).toEqual(['keep-alive', 'close']);
    expect(r.reused).toBe(true);
  });

  it('closes every connection after its response once draining', async () => {
    repo = tempRepository([]);
    const s = await startTestServer(repo);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<string | undefined>((resolve, reject) => {
        const req = httpRequest(`${s.url}/v2/health/live`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.headers.connection));
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get()).toBe('keep-alive');
    const stopped = s.shutdown();
    expect(await get()).toBe('close');
    agent.destroy();
    await stopped;
  });

  it('leaves connections alive by default within 30 s', async () => {
    repo = tempRepository([]);
    server = await startTestServer(repo);
    const r = await twoRequests(server.url, 50);
    expect(r.headers).toEqual(['keep-alive', 'keep-alive']);
    expect(r.reused).toBe(true);
  });
});
