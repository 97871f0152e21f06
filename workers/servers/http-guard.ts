// What every HTTP server of the pipeline does against slow, greedy or framing clients: time-outs on headers and
// bodies, a cap on connections per client address, and security headers on every answer.
import { createHash } from 'node:crypto';
import type { Server, ServerResponse } from 'node:http';

/** The limits each server applies; the defaults suit loopback and a reverse proxy alike. */
export interface HttpLimits {
  /** A client has this long to send its request headers (slowloris). */
  headersTimeoutMs: number;
  /** ...and this long for the whole request, body included. */
  requestTimeoutMs: number;
  /** Open connections one client address may hold; more are closed at once. */
  connectionsPerClient: number;
  /** Open connections in all. */
  maxConnections: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  // A 10 MB SparkPost batch over a slow link still fits; a client trickling a body does not hold a socket longer.
  requestTimeoutMs: 30_000,
  connectionsPerClient: 32,
  maxConnections: 1024,
};

/** Options for createServer: time-outs are checked every second rather than Node's default 30 s. */
export const SERVER_OPTIONS = { connectionsCheckingInterval: 1000 } as const;

/** Applies the limits to a server before it listens. */
export function guardServer(server: Server, limits: HttpLimits = DEFAULT_HTTP_LIMITS): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 100;
  server.maxConnections = limits.maxConnections;
  const open = new Map<string, number>();
  server.on('connection', (socket) => {
    const client = socket.remoteAddress ?? 'unknown';
    const count = (open.get(client) ?? 0) + 1;
    if (count > limits.connectionsPerClient) {
      socket.destroy();
      return;
    }
    open.set(client, count);
    socket.once('close', () => {
      const left = (open.get(client) ?? 1) - 1;
      if (left <= 0) open.delete(client);
      else open.set(client, left);
    });
  });
}

const INLINE_SCRIPT = /<script>([\s\S]*?)<\/script>/g;

/**
 * The security headers of one answer. HTML may run only its own inline scripts (by hash), fetch only its own
 * origin, and be framed by nobody; anything else may run nothing at all.
 */
export function securityHeaders(contentType: string, body: string): Record<string, string> {
  const base = {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  };
  if (!contentType.startsWith('text/html'))
    return { ...base, 'content-security-policy': "default-src 'none'; frame-ancestors 'none'" };
  const hashes = [...body.matchAll(INLINE_SCRIPT)].map(
    (m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`,
  );
  const script = hashes.length > 0 ? hashes.join(' ') : "'none'";
  return {
    ...base,
    'content-security-policy': `default-src 'none'; script-src ${script}; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  };
}

/** Writes an answer with its security headers. */
export function sendGuarded(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { ...securityHeaders(contentType, body), 'content-type': contentType });
  res.end(body);
}
