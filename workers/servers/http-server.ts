// One way to build the pipeline's HTTP servers on fastify: the limits every server keeps against slow, greedy or
// framing clients (fastify's and node's own time-outs and body limit, plus a cap on connections per client that
// neither has), the security headers of every answer, and one error handler.
import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from '../../shared/logger';

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
  /** How often node looks for requests past their time-outs (its default, 30 s, would let them run over). */
  checkIntervalMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  // A 10 MB SparkPost batch over a slow link still fits; a client trickling a body does not hold a socket longer.
  requestTimeoutMs: 30_000,
  connectionsPerClient: 32,
  maxConnections: 1024,
  checkIntervalMs: 1000,
};

/** An answer a route decides: its status, the sentence of `{"error"}` and more fields of the body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** More of the answer's body, besides `error`. */
    readonly details: object = {},
  ) {
    super(message);
  }
}

/** What one answer's security headers are, from its content type and body. */
export type SecurityHeaders = (
  request: FastifyRequest,
  contentType: string,
  body: unknown,
) => Record<string, string>;

export interface HttpServerOptions {
  /** Bodies above this many bytes are refused with 413 (a route may set its own `bodyLimit`). */
  bodyLimit: number;
  headers: SecurityHeaders;
  limits?: HttpLimits;
  /** Serve HTTPS (the console's CONSOLE_TLS_CERT and CONSOLE_TLS_KEY). */
  https?: { cert: Buffer; key: Buffer } | null;
  /** The answer to a path that cannot even be decoded: the server's 404 for a path it does not serve. */
  badUrl: (request: FastifyRequest, reply: FastifyReply) => FastifyReply;
  /** Which peers' X-Forwarded-* headers are believed. */
  trustProxy?: (address: string) => boolean;
}

/** A fastify instance with the limits and the security headers; routes and the error handler are the caller's. */
export function buildHttpServer(options: HttpServerOptions): FastifyInstance {
  const limits = options.limits ?? DEFAULT_HTTP_LIMITS;
  // Node's own options: headersTimeout has no fastify option, and the check interval is set only at creation.
  const node = {
    headersTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: limits.checkIntervalMs,
  };
  const app = Fastify({
    ...(options.https ? { https: { ...options.https, ...node } } : { http: node }),
    logger: false,
    bodyLimit: options.bodyLimit,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    trustProxy: options.trustProxy ?? false,
    // A path that cannot be decoded (`%zz`) names nothing served here: the server's own 404, as any unknown
    // path. Fastify answers these before its hooks, so the headers are set here (no inline script in a 404).
    frameworkErrors: (error, request, raw) => {
      const reply = raw as unknown as FastifyReply;
      if (error.code !== 'FST_ERR_BAD_URL') return reply.code(500).send(error);
      reply.headers(options.headers(request, 'text/plain', ''));
      return options.badUrl(request, reply);
    },
  }) as unknown as FastifyInstance;
  const server = app.server as Server;
  server.maxHeadersCount = 100;
  server.maxConnections = limits.maxConnections;
  capConnectionsPerClient(server, limits.connectionsPerClient);
  // Once closing, an answer ends its connection: close() then waits for no client's keep-alive to lapse.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.headers(options.headers(request, String(reply.getHeader('content-type') ?? ''), payload));
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  return app;
}

/** Closes a client's connections past its share at once: neither node nor fastify caps them per address. */
function capConnectionsPerClient(server: Server, perClient: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket) => {
    const client = socket.remoteAddress ?? 'unknown';
    const count = (open.get(client) ?? 0) + 1;
    if (count > perClient) {
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

const BASE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};
const NOTHING_RUNS = {
  ...BASE_HEADERS,
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};
const INLINE_SCRIPT = /<script>([\s\S]*?)<\/script>/g;

/**
 * The headers of the metrics port and the feedback receiver. HTML may run only its own inline scripts (by hash),
 * fetch only its own origin, and be framed by nobody; anything else may run nothing at all.
 */
export const apiSecurityHeaders: SecurityHeaders = (_request, contentType, body) => {
  if (!contentType.startsWith('text/html')) return NOTHING_RUNS;
  const hashes = [...String(body).matchAll(INLINE_SCRIPT)].map(
    (m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`,
  );
  const script = hashes.length > 0 ? hashes.join(' ') : "'none'";
  return {
    ...BASE_HEADERS,
    'content-security-policy': `default-src 'none'; script-src ${script}; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  };
};

/**
 * Sends JSON as `application/json` with no charset parameter, as RFC 8259 registers it and as these servers have
 * always answered (fastify adds `; charset=utf-8` to a JSON string, not to bytes).
 */
export const sendJson = (reply: FastifyReply, status: number, value: unknown) =>
  reply
    .code(status)
    .type('application/json')
    .send(Buffer.from(JSON.stringify(value)));

/** How a server words its answers; `error` is the sentence, `details` more fields (JSON servers). */
export interface ErrorAnswers {
  log: Logger;
  /** What a failure nobody expected answers: a status (else the error's own) and a sentence; the cause is logged. */
  unexpected: { status?: number; message: string; log: string };
  /** Writes the answer: `{"error", …details}`, or the console's page. */
  send: (reply: FastifyReply, status: number, error: string, details: object) => FastifyReply;
  /** The server's own sentence for one of fastify's or a plugin's errors (the console's CSRF refusal), or null. */
  explain?: (error: FastifyError) => string | null;
  /** Logged (warn) for each refused request. */
  refused?: string;
}

/** The one error handler: a route's HttpError, fastify's own refusals (413, 415, 400) and the unexpected. */
export function handleErrors(app: FastifyInstance, answers: ErrorAnswers): void {
  app.setErrorHandler((error: FastifyError | HttpError, request, reply) => {
    // The path without its query (which may carry an address: the console's profile?email=).
    const where = { path: request.url.split('?')[0] };
    if (error instanceof HttpError) {
      if (answers.refused)
        answers.log.warn({ ...where, status: error.status, reason: error.message }, answers.refused);
      return answers.send(reply, error.status, error.message, error.details);
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      answers.log.error({ ...where, err: error.message }, answers.unexpected.log);
      return answers.send(reply, answers.unexpected.status ?? status, answers.unexpected.message, {});
    }
    const message =
      error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `the body is over ${request.routeOptions.bodyLimit} bytes`
        : (answers.explain?.(error) ?? error.message);
    if (answers.refused) answers.log.warn({ ...where, status, reason: message }, answers.refused);
    if (status === 413) {
      // The rest of the body is not wanted: the answer closes the connection, then the socket goes.
      reply.header('connection', 'close');
      reply.raw.once('finish', () => request.raw.destroy());
    }
    return answers.send(reply, status, message, {});
  });
}
