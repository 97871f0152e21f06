// SMTP to MTA_URL: a pool of nodemailer SMTPConnections fed pre-built raw messages: the protocol is nodemailer's, but no
// MailComposer runs per message (LIMITS.md: composition and its allocations bound one sender core).
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { DsnRequest } from '../../shared/message-id';
import { type HandOffResult, handOffFailure, type MtaTransport } from './transport';

interface PendingSend {
  envelope: { from: string; to: string; dsn?: DsnRequest };
  raw: Buffer;
  resolve: (result: HandOffResult) => void;
}

interface PooledConnection {
  connection: SMTPConnection;
  dead: boolean;
}

export interface SmtpPoolOptions {
  host: string;
  port: number;
  secure: boolean;
  auth?: { user: string; pass: string };
  rejectUnauthorized: boolean;
  size: number;
}

/** Refusals that concern one message only: the session is fine once reset (as nodemailer's own pool does). */
function messageOnly(error: { code?: string; responseCode?: number }): boolean {
  return (error.code === 'EENVELOPE' || error.code === 'EMESSAGE') && error.responseCode !== 421;
}

export function smtpConnectionPool(options: SmtpPoolOptions): MtaTransport {
  const idle: PooledConnection[] = [];
  const waiting: PendingSend[] = [];
  let open = 0;
  let closed = false;

  const connect = () =>
    new Promise<PooledConnection>((resolve, reject) => {
      const connection = new SMTPConnection({
        host: options.host,
        port: options.port,
        secure: options.secure,
        tls: { rejectUnauthorized: options.rejectUnauthorized },
        connectionTimeout: 15_000,
        greetingTimeout: 15_000,
        socketTimeout: 60_000,
      });
      const pooled: PooledConnection = { connection, dead: false };
      const die = () => {
        if (!pooled.dead) {
          pooled.dead = true;
          open--;
          const at = idle.indexOf(pooled);
          if (at >= 0) idle.splice(at, 1);
        }
      };
      // A refused or dropped connection is reported as an event, not always through connect's callback.
      connection.once('end', () => {
        die();
        reject(new Error('the MTA closed the connection'));
      });
      connection.on('error', (error) => {
        die();
        reject(error);
      });
      connection.connect((error) => {
        if (error) {
          die();
          return reject(error);
        }
        if (!options.auth) return resolve(pooled);
        connection.login(options.auth, (loginError) => {
          if (!loginError) return resolve(pooled);
          connection.close();
          die();
          reject(loginError);
        });
      });
    });

  const release = (pooled: PooledConnection) => {
    if (pooled.dead || closed) return;
    idle.push(pooled);
    pump();
  };

  const run = (pooled: PooledConnection, item: PendingSend) => {
    const { from, to, dsn } = item.envelope;
    // Headers only come back in a report (RET=HDRS): they name the message; its content is not ours to return.
    const envelope = { from, to: [to], ...(dsn ? { dsn: { ...dsn, ret: 'HDRS' as const } } : {}) };
    pooled.connection.send(envelope, item.raw, (error) => {
      if (!error) {
        item.resolve({ ok: true });
        return release(pooled);
      }
      item.resolve(handOffFailure(error));
      if (messageOnly(error) && !pooled.dead) {
        pooled.connection.reset((resetError) => (resetError ? pooled.connection.close() : release(pooled)));
      } else {
        pooled.connection.close();
      }
    });
  };

  function pump(): void {
    while (waiting.length > 0) {
      const pooled = idle.pop();
      if (pooled) {
        run(pooled, waiting.shift()!);
        continue;
      }
      if (open >= options.size) return;
      open++;
      connect().then(release, (error) => {
        // The MTA cannot be reached: every waiting message is refused for now, and the batch retries later.
        for (const item of waiting.splice(0)) item.resolve(handOffFailure(error));
      });
    }
  }

  return {
    send(envelope, raw) {
      if (closed)
        return Promise.resolve({
          ok: false,
          temporary: true,
          code: null,
          response: 'the transport is closed',
        });
      return new Promise((resolve) => {
        waiting.push({ envelope, raw, resolve });
        pump();
      });
    },
    async close() {
      closed = true;
      for (const pooled of idle.splice(0)) pooled.connection.quit();
    },
  };
}

/** SMTP with a pool of reused connections, each carrying one pre-built message after another. */
export function smtpTransport(mtaUrl: string, options: { poolSize: number }): MtaTransport {
  const url = new URL(mtaUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return smtpConnectionPool({
    host,
    port: Number(url.port) || (url.protocol === 'smtps:' ? 465 : 25),
    secure: url.protocol === 'smtps:',
    auth: url.username
      ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
      : undefined,
    // A loopback MTA commonly presents a self-signed certificate for STARTTLS; `?tlsVerify=false` allows it elsewhere.
    rejectUnauthorized: url.searchParams.get('tlsVerify') === 'false' ? false : !isLoopback(host),
    size: options.poolSize,
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1' || host === '[::1]';
}
