// The feedback receiver: POST /feedback/{sparkpost,ses,kumomta,generic}, authenticated as each provider does,
// translated into the contract's events and enqueued in batches. 2xx only once the batch is in Redis.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Queue } from 'bullmq';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type postgres from 'postgres';
import { recordDeadLetters } from '../../../db/dead-letters';
import type { Config } from '../../../shared/config';
import type { Logger } from '../../../shared/logger';
import { apiSecurityHeaders, buildHttpServer, HttpError, handleErrors, sendJson } from '../http-server';
import { Coalescer, enqueueTranslation } from './enqueue';
import { PROVIDERS, translateProviderBody, translateSnsNotification } from './providers';
import { refusalMessage, refusedDeadLetters, screenTranslation } from './screen';
import {
  allowedCertUrl,
  allowedSubscribeUrl,
  BadSignature,
  certificateKey,
  checkTimestamp,
  readSnsMessage,
  type SnsMessage,
  verifySignature,
} from './sns';
import { BadPayload, type Translation } from './translate';

export { PROVIDERS } from './providers';

/** The receiver's paths; the provider is checked against PROVIDERS, the rest is a 404. */
const FEEDBACK_PATH = /^\/feedback\/([a-z]+)\/?(?:\?.*)?$/;
const NOT_FOUND = 'not found; POST /feedback/{sparkpost,ses,kumomta,generic}';

/** A provider's body is refused above this size; SparkPost batches stay far below it. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** An SNS message is at most 256 KB; SES bodies are read before they are authenticated, so keep them small. */
const MAX_SNS_BODY_BYTES = 300 * 1024;
/** Certificates kept; SNS uses a handful, and each distinct URL costs a fetch. */
const MAX_CERTIFICATES = 16;

export interface FeedbackServerDeps {
  config: Config;
  log: Logger;
  sql: postgres.Sql;
  feedbackQueue: Queue;
  trackingQueue: Queue;
  /** The clock events are checked against (an event dated more than an hour ahead is refused). */
  now?: () => Date;
  /** GETs a URL SNS named (certificate, SubscribeURL); only called for URLs `allowedSnsUrl` accepts. */
  fetchText?: (url: string) => Promise<string>;
}

export interface FeedbackServer {
  port(): number;
  close(): Promise<void>;
}

async function defaultFetch(url: string): Promise<string> {
  const response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${new URL(url).host} answered ${response.status}`);
  return response.text();
}

/** Compares digests, not the texts: the time taken tells nothing of the token, not even its length. */
const digest = (value: string) => createHash('sha256').update(value).digest();
const same = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

/** The shared token as a bearer token, a basic-auth password (any user) or an X-Feedback-Token header. */
function checkToken(headers: IncomingHttpHeaders, token: string | undefined): void {
  if (!token) throw new HttpError(401, 'FEEDBACK_TOKEN is not set: this endpoint accepts nobody');
  const auth = headers.authorization ?? '';
  const given = [String(headers['x-feedback-token'] ?? '')];
  if (/^bearer /i.test(auth)) given.push(auth.slice(7).trim());
  if (/^basic /i.test(auth)) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    given.push(decoded.slice(decoded.indexOf(':') + 1));
  }
  if (!given.some((g) => g !== '' && same(g, token))) throw new HttpError(401, 'missing or wrong token');
}

/**
 * Resolves once the jobs are in Redis; the answer names them, so a sender can follow its batch. Events the
 * workers would refuse are dead-lettered here, one by one, and make the answer a 400 that still names the
 * jobs of the others: a sender's poison never shares a job with another sender's events.
 */
async function enqueue(deps: FeedbackServerDeps, coalescer: Coalescer, provider: string, t: Translation) {
  const screened = screenTranslation(t, deps.now?.() ?? new Date());
  const { refused } = screened;
  if (refused.length > 0) await recordDeadLetters(deps.sql, refusedDeadLetters(provider, refused));
  const result = { ...summary(screened), jobIds: await coalescer.submit(screened) };
  if (refused.length === 0) return result;
  throw new HttpError(400, refusalMessage(refused, screened.feedback.length + screened.tracking.length), {
    ...result,
    refused: refused.slice(0, 20).map((r) => r.reason),
  });
}

/** SES through SNS: verify, answer the subscription handshake, translate notifications. */
async function handleSns(
  deps: FeedbackServerDeps,
  coalescer: Coalescer,
  body: string,
  cert: (url: string) => Promise<string>,
) {
  // An envelope that is no SNS message is refused, not kept: it is not authenticated, and anyone could send it.
  let m: SnsMessage;
  try {
    m = readSnsMessage(JSON.parse(body));
  } catch (error) {
    throw new HttpError(400, error instanceof BadPayload ? error.message : 'the body is not JSON');
  }
  const topics = deps.config.SNS_TOPIC_ARNS?.split(',') ?? [];
  if (!topics.includes(m.TopicArn))
    throw new BadSignature(
      topics.length === 0
        ? 'no SNS topic is accepted; set SNS_TOPIC_ARNS to the ARN of your SES feedback topic'
        : `topic ${m.TopicArn} is not one of SNS_TOPIC_ARNS`,
    );
  const testHosts = deps.config.SNS_TEST_HOSTS?.split(',') ?? [];
  if (!allowedCertUrl(m.SigningCertURL, testHosts))
    throw new BadSignature(
      'SigningCertURL is not an SNS certificate (https://sns.<region>.amazonaws.com/SimpleNotificationService-….pem)',
    );
  // Before the certificate: an old message costs no fetch.
  checkTimestamp(m, deps.now?.() ?? new Date());
  verifySignature(m, await cert(certificateKey(m.SigningCertURL)));
  if (m.Type === 'SubscriptionConfirmation') {
    if (!m.SubscribeURL || !allowedSubscribeUrl(m.SubscribeURL, testHosts))
      throw new BadSignature('SubscribeURL is not on an SNS host');
    await (deps.fetchText ?? defaultFetch)(m.SubscribeURL);
    deps.log.info({ topicArn: m.TopicArn }, 'SNS subscription confirmed.');
    return { confirmed: true };
  }
  if (m.Type !== 'Notification') return { ignored: 1 }; // UnsubscribeConfirmation
  return enqueue(deps, coalescer, 'ses', translateSnsNotification(m));
}

const summary = (t: Translation) => ({
  accepted: t.feedback.length,
  tracking: t.tracking.length,
  ignored: t.ignored,
});

export async function startFeedbackServer(deps: FeedbackServerDeps): Promise<FeedbackServer> {
  const coalescer = new Coalescer((t) =>
    enqueueTranslation({ feedback: deps.feedbackQueue, tracking: deps.trackingQueue }, t),
  );
  const certificates = new Map<string, Promise<string>>();
  const certFile = deps.config.SNS_CERT_FILE;
  const cert = (url: string) => {
    // Certificates are cached per URL; SNS rotates them by publishing a new URL.
    let pem = certificates.get(url);
    if (!pem) {
      if (certificates.size >= MAX_CERTIFICATES) certificates.delete(certificates.keys().next().value!);
      pem = certFile ? readFile(certFile, 'utf8') : (deps.fetchText ?? defaultFetch)(url);
      pem.catch(() => certificates.delete(url));
      certificates.set(url, pem);
    }
    return pem;
  };

  async function route(provider: string, body: string, contentType: string | undefined): Promise<object> {
    try {
      switch (provider) {
        case 'ses':
          return await handleSns(deps, coalescer, body, cert);
        default: {
          const translation = await translateProviderBody(provider, body, contentType ?? '');
          return await enqueue(deps, coalescer, provider, translation);
        }
      }
    } catch (error) {
      if (error instanceof BadPayload) {
        // Kept with its reason so that nothing a provider sent is lost, even what we could not read.
        await recordDeadLetters(deps.sql, [
          {
            queue: `feedback-http/${provider}`,
            jobId: null,
            reason: `bad ${provider} body: ${error.message}`,
            payload: { contentType: contentType ?? null, body },
          },
        ]);
        throw new HttpError(400, error.message);
      }
      if (error instanceof BadSignature) throw new HttpError(403, error.message);
      throw error;
    }
  }

  const app = buildHttpServer({
    bodyLimit: MAX_BODY_BYTES,
    headers: apiSecurityHeaders,
    badUrl: (_request, reply) => sendJson(reply, 404, { error: NOT_FOUND }),
  });
  handleErrors(app, {
    log: deps.log,
    refused: 'Feedback request refused.',
    // Redis or PostgreSQL unreachable: the provider retries later, nothing was acknowledged.
    unexpected: {
      status: 503,
      message: 'feedback could not be stored; retry later',
      log: 'Feedback request failed.',
    },
    send: (reply, status, error, details) => sendJson(reply, status, { error, ...details }),
  });
  // Every body is taken as the text it came as, whatever its type: each provider reads its own (JSON, JSON lines,
  // mail), and a body that cannot be read is dead-lettered as it was sent, not refused by a parser before.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  // Refused before the body is read or kept: a wrong path, method or provider, and (only authenticated senders
  // can fill the dead letters) a missing or wrong token.
  const admit = async (request: FastifyRequest) => {
    const match = FEEDBACK_PATH.exec(request.url);
    if (!match) throw new HttpError(404, NOT_FOUND);
    if (request.method !== 'POST') throw new HttpError(405, 'only POST is accepted');
    const provider = match[1]!;
    if (!PROVIDERS.includes(provider))
      throw new HttpError(404, `no provider "${provider}"; expected ${PROVIDERS.join(', ')}`);
    if (provider !== 'ses') checkToken(request.headers, deps.config.FEEDBACK_TOKEN);
  };
  const receive = async (request: FastifyRequest, reply: FastifyReply) => {
    const provider = FEEDBACK_PATH.exec(request.url)![1]!;
    const body = typeof request.body === 'string' ? request.body : '';
    return sendJson(reply, 200, await route(provider, body, request.headers['content-type']));
  };
  const methods = [...app.supportedMethods];
  app.route({ method: methods, url: '/feedback/*', onRequest: admit, handler: receive });
  // SES bodies are read before they are authenticated (by their signature): a smaller limit of their own.
  for (const url of ['/feedback/ses', '/feedback/ses/'])
    app.route({ method: methods, url, bodyLimit: MAX_SNS_BODY_BYTES, onRequest: admit, handler: receive });
  app.setNotFoundHandler(async (request) => {
    await admit(request);
    throw new HttpError(404, NOT_FOUND);
  });

  // BIND_ADDRESS unset: every interface, as before.
  await app.listen({ port: deps.config.FEEDBACK_PORT, host: deps.config.BIND_ADDRESS ?? '::' });
  return {
    port: () => (app.server.address() as AddressInfo).port,
    // In-flight requests finish (and are answered once stored); new ones on open connections get a 503.
    close: () => app.close(),
  };
}
