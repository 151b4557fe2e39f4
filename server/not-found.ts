import type { Context, Env, Hono } from 'hono';

/**
 * The answer to a request no route handles: 405 Method Not Allowed with an `Allow` header when the
 * path is a route of another method (RFC 9110 §15.5.6; 404 would tell a client that the resource
 * does not exist, and schemathesis checks for 405), else 404. Built once all routes are registered.
 */
export function notFoundHandler<E extends Env>(app: Hono<E>): (c: Context<E>) => Response {
  // Middleware is registered as method ALL: it is no route.
  const routes = app.routes
    .filter((r) => r.method !== 'ALL')
    .map((r) => ({ method: r.method, pattern: pathPattern(r.path) }));
  return (c) => {
    const { method, path } = c.req;
    const allowed = new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method));
    // Hono answers HEAD with the GET route.
    if (allowed.has('GET')) allowed.add('HEAD');
    if (allowed.size === 0) return c.json({ error: `no route for ${method} ${path}` }, 404);
    const allow = [...allowed].sort().join(', ');
    return c.json({ error: `method ${method} is not allowed for ${path}; allowed: ${allow}` }, 405, {
      allow,
    });
  };
}

/** A Hono route path as a regular expression: `:name` is one path segment, `*` anything. */
function pathPattern(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) =>
      segment.startsWith(':')
        ? '[^/]+'
        : segment === '*'
          ? '.*'
          : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^${source}$`);
}
