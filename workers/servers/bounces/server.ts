// The bounce mailbox's SMTP server: refuses every recipient this system did not hand out (550), caps size and
// sessions, and answers 250 to a mail only once it is feedback in Redis or a dead letter in PostgreSQL.
import type { AddressInfo } from 'node:net';
import type { Queue } from 'bullmq';
import type postgres from 'postgres';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { handedOutReturnPath } from '../../../db/bounces';
import type { Config } from '../../../shared/config';
import type { Logger } from '../../../shared/logger';
import { type ReceiveDeps, receiveMail } from './receive';
import { KnownReturnPaths, readRecipient } from './recipients';

/** Recipients one mail may name: a bounce goes to one return path; a long list is someone else's mail. */
const MAX_RECIPIENTS = 50;

export interface BounceServerDeps {
  config: Config;
  log: Logger;
  sql: postgres.Sql;
  feedbackQueue: Queue;
  translate?: ReceiveDeps['translate'];
}

export interface BounceServer {
  port(): number;
  /** `ok` while it takes mail; otherwise why not. */
  state(): string;
  /** Stops taking sessions, lets the mails in flight be stored, then returns. */
  close(): Promise<void>;
}

/** An SMTP refusal: smtp-server answers with its code and text. */
function smtpError(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

export async function startBounceServer(deps: BounceServerDeps): Promise<BounceServer> {
  const { config, log } = deps;
  const listed = config.BOUNCE_ADDRESSES ?? [];
  const known = new KnownReturnPaths();
  const inFlight = new Set<Promise<unknown>>();
  let state = 'starting';

  async function checkRecipient(address: string): Promise<Error | null> {
    const r = readRecipient(address, listed);
    if (r.kind === 'listed') return null;
    if (r.kind === 'foreign') return smtpError(550, `5.1.1 <${address}>: no such address: ${r.reason}`);
    if (known.has(r.ref, r.domain)) return null;
    if (!(await handedOutReturnPath(deps.sql, r.ref, r.domain)))
      return smtpError(
        550,
        `5.1.1 <${address}>: no such address: no delivery of this system handed out this return path`,
      );
    known.add(r.ref, r.domain);
    return null;
  }

  function onData(
    stream: NodeJS.ReadableStream & { sizeExceeded?: boolean },
    session: SMTPServerSession,
    callback: (error?: Error | null, message?: string) => void,
  ) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => {
      // Past the limit nothing more is kept; smtp-server reads the rest away and the mail is refused below.
      if (!stream.sizeExceeded) chunks.push(chunk);
    });
    stream.on('end', () => {
      if (stream.sizeExceeded)
        return callback(smtpError(552, `5.3.4 the mail is over ${config.BOUNCE_MAX_SIZE} bytes`));
      const mail = {
        raw: Buffer.concat(chunks),
        mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        rcptTo: session.envelope.rcptTo.map((r) => r.address),
      };
      const work = receiveMail(deps, mail).then(
        (outcome) => {
          log.info({ session: session.id, size: mail.raw.length, ...outcome }, 'Bounce mail taken.');
          callback(
            null,
            outcome.kind === 'feedback'
              ? `2.0.0 taken: ${outcome.events} feedback events queued`
              : '2.0.0 taken: kept as a dead letter',
          );
        },
        (error: Error) => {
          // Neither Redis nor PostgreSQL took it: the sending MTA keeps it and tries again later.
          log.error({ session: session.id, err: error.message }, 'Bounce mail could not be stored.');
          callback(smtpError(451, '4.3.0 the mail could not be stored now; try again later'));
        },
      );
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
    });
  }

  const server = new SMTPServer({
    banner: 'campaign-pipeline bounce mailbox',
    size: config.BOUNCE_MAX_SIZE,
    maxClients: config.BOUNCE_MAX_CONNECTIONS,
    // Bounces arrive unauthenticated from any MTA; STARTTLS would need a certificate of the return-path domain.
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    // This mailbox sends no reports of its own, so it offers none.
    hideDSN: true,
    disableReverseLookup: true,
    logger: false,
    socketTimeout: 60_000,
    // On shutdown, sessions get this long to finish the mail they are sending, then a 421.
    closeTimeout: Math.min(10_000, Math.floor(config.SHUTDOWN_TIMEOUT / 2)),
    onMailFrom(_address, _session, callback) {
      if (state !== 'ok') return callback(smtpError(421, '4.3.2 shutting down; try again later'));
      callback();
    },
    onRcptTo(address, session, callback) {
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS)
        return callback(smtpError(452, `4.5.3 at most ${MAX_RECIPIENTS} recipients a mail`));
      checkRecipient(address.address).then(
        (refusal) => callback(refusal),
        (error: Error) => {
          log.warn({ err: error.message }, 'Could not check a bounce recipient: answered 451.');
          callback(smtpError(451, '4.3.0 the address cannot be checked now; try again later'));
        },
      );
    },
    onData,
  });
  // A client dropping its connection mid-session is its own story, not the mailbox's.
  server.on('error', (error) => log.debug({ err: error.message }, 'Bounce mailbox session error.'));
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(config.BOUNCE_PORT, config.BOUNCE_HOST, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  state = 'ok';
  return {
    port: () => (server.server.address() as AddressInfo).port,
    state: () => state,
    async close() {
      state = 'closing';
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...inFlight]);
    },
  };
}
