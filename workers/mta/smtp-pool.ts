// SMTP to MTA_URL: a pool of SMTP sessions (smtp-session.ts) fed pre-built raw messages from one queue. Each
// session pipelines where the MTA offers it: one write and one round trip a message (LIMITS.md: the sender's
// CPU bounds a real send; nodemailer's connection took two round trips, three writes and a stream a message).
import type { DsnRequest } from '../../shared/message-id';
import { type SessionOptions, type SmtpError, SmtpSession, type Transaction } from './smtp-session';
import { type HandOffResult, handOffFailure, type MtaTransport } from './transport';

export interface SmtpPoolOptions extends SessionOptions {
  /** Sessions at most (SMTP_POOL_SIZE). */
  size: number;
}

/** A message waiting for its session and then for the MTA's answer (a class: no closure made a message). */
class PendingSend implements Transaction {
  constructor(
    readonly envelope: Transaction['envelope'],
    readonly raw: Buffer,
    private readonly resolve: (result: HandOffResult) => void,
  ) {}
  done(error: SmtpError | null): void {
    this.resolve(error ? handOffFailure(error) : { ok: true });
  }
}

export function smtpConnectionPool(options: SmtpPoolOptions): MtaTransport {
  const waiting: Transaction[] = [];
  const sessions = new Set<SmtpSession>();
  /** Sessions still being set up (the others take messages). */
  let connecting = 0;
  let closed = false;

  const next = () => waiting.shift() ?? null;
  const onIdle = (session: SmtpSession) => {
    if (closed) session.quit();
  };
  const onClose = (session: SmtpSession) => {
    if (sessions.delete(session) && !closed) pump();
  };

  const open = () => {
    const session = new SmtpSession(options, next, onIdle, onClose);
    sessions.add(session);
    connecting++;
    session.open().then(
      () => {
        connecting--;
        pump();
      },
      (error) => {
        connecting--;
        sessions.delete(session);
        // The MTA cannot be reached: with no session left, every waiting message is refused for now, and its
        // batch retries later; with sessions up, they go on taking the queue.
        if (sessions.size === 0) for (const tx of waiting.splice(0)) tx.done(error);
      },
    );
  };

  function pump(): void {
    for (const session of sessions) {
      if (waiting.length === 0) return;
      session.pull();
    }
    while (waiting.length > connecting && sessions.size < options.size) open();
  }

  return {
    send(envelope: { from: string; to: string; dsn?: DsnRequest }, raw: Buffer) {
      if (closed)
        return Promise.resolve<HandOffResult>({
          ok: false,
          temporary: true,
          code: null,
          response: 'the transport is closed',
        });
      return new Promise<HandOffResult>((resolve) => {
        waiting.push(new PendingSend(envelope, raw, resolve));
        pump();
      });
    },
    async close() {
      closed = true;
      for (const session of sessions) if (session.idle) session.quit();
    },
  };
}

/** The pool's options that MTA_URL gives. */
export function smtpOptions(mtaUrl: string, poolSize: number): SmtpPoolOptions {
  const url = new URL(mtaUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const secure = url.protocol === 'smtps:';
  const auth = url.username
    ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
    : undefined;
  return {
    host,
    port: Number(url.port) || (secure ? 465 : 25),
    secure,
    auth,
    // Credentials go only over TLS: without it, a network that strips STARTTLS would read them. A loopback
    // MTA is exempt: what it is sent never leaves the machine.
    requireTLS: auth !== undefined && !secure && !isLoopback(host),
    // A loopback MTA commonly presents a self-signed certificate for STARTTLS; `?tlsVerify=false` allows it elsewhere.
    rejectUnauthorized: url.searchParams.get('tlsVerify') === 'false' ? false : !isLoopback(host),
    size: poolSize,
  };
}

/** SMTP with a pool of reused sessions, each carrying one pre-built message after another, pipelined. */
export function smtpTransport(mtaUrl: string, options: { poolSize: number }): MtaTransport {
  return smtpConnectionPool(smtpOptions(mtaUrl, options.poolSize));
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1' || host === '[::1]';
}
