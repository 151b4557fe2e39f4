/**
 * A TCP port nothing listens on right now, for test processes that must be told their port up front
 * (Prometheus, sshd, server processes: they cannot report the port they got for `:0`). Shared by
 * test/e2e and test/provision.
 */
import { createServer } from 'node:net';

/** Bind port 0 on `host`, read the port the kernel chose, close. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
