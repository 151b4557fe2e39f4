/**
 * TCP forwards: pods inside the network namespace reach the API server (which listens on the
 * host's loopback) through the veth's host end, as they would reach the `kubernetes` Service.
 */
import { createConnection, createServer, type Server } from 'node:net';

export interface Forward {
  readonly listenHost: string;
  readonly listenPort: number;
  readonly targetHost: string;
  readonly targetPort: number;
}

export function forward(f: Forward): Promise<Server> {
  const server = createServer((client) => {
    const upstream = createConnection({ host: f.targetHost, port: f.targetPort });
    client.pipe(upstream).pipe(client);
    const close = () => (client.destroy(), upstream.destroy());
    client.on('error', close);
    upstream.on('error', close);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(f.listenPort, f.listenHost, () => resolve(server));
  });
}
