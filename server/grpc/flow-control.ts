import type { EventEmitter } from 'node:events';
import type { ServerHttp2Session } from 'node:http2';
import type { Server } from '@grpc/grpc-js';

/**
 * HTTP/2 receive windows the gRPC server grants its clients. Node's defaults are the protocol's
 * 65,535 bytes for each stream and for the whole connection, and Node's HTTP/2 session reads
 * and acknowledges data (WINDOW_UPDATE) on the JS thread's event loop: a 602 KB squeezenet image
 * (raw_input_contents) then needs about ten round trips through a thread busy with other calls,
 * and the streams of one connection share those 64 KB. With a whole request inside the window
 * the client sends it at once. Measured (BENCHMARKS.md, "gRPC flow-control windows"): 0.6-6.5 %
 * less server CPU per inference in 11 of 11 A/B pairs under perf_analyzer -i grpc at
 * concurrency 200; rate and p99 better in the order-balanced pairs, load-bound in the others.
 *
 * What a client may then have in flight unread is at most the connection window per connection;
 * grpc-js buffers each whole message anyway (up to --max-body-bytes), so the bound on memory per
 * call is unchanged.
 */
export const GRPC_STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
export const GRPC_CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * Applies the windows to every HTTP/2 session of a bound grpc-js server. grpc-js (1.14, pinned)
 * has no option for them, so this reaches its HTTP/2 servers (`http2Servers`, keyed by server);
 * a grpc-js that renames the field fails here at start, not silently.
 */
export function widenFlowControlWindows(server: Server): void {
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map) || http2Servers.size === 0) {
    throw new Error(
      'gRPC: cannot set the HTTP/2 flow-control windows: @grpc/grpc-js no longer keeps its bound servers in http2Servers (check the pinned version)',
    );
  }
  for (const http2Server of http2Servers.keys() as Iterable<EventEmitter>) {
    http2Server.on('session', (session: ServerHttp2Session) => {
      session.setLocalWindowSize(GRPC_CONNECTION_WINDOW_BYTES);
      session.settings({ initialWindowSize: GRPC_STREAM_WINDOW_BYTES });
    });
  }
}
