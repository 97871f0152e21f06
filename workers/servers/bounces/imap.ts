// The bounce mailbox read over IMAP (BOUNCE_IMAP_URL, imapflow): each mail goes through receiveMail, as a mail taken
// by SMTP does, and is flagged, moved or deleted only once its events are in Redis or its dead letter in PostgreSQL.
//
// Never applied twice: a mail read again (a crash between the enqueue and the flag, or two replicas reading at once)
// gives the same event ids (the reader derives them from its Message-ID) and the same dead-letter key (its bytes),
// so the feedback worker and the dead letters take it once. Replicas also take turns: a pass holds a PostgreSQL
// advisory lock named by the mailbox, and a replica that cannot have it skips its pass.
import type { Queue } from 'bullmq';
import { ImapFlow } from 'imapflow';
import type postgres from 'postgres';
import { recordDeadLetters } from '../../../db/dead-letters';
import type { Logger } from '../../../shared/logger';
import { BOUNCES_DEAD_LETTER_QUEUE, type ReceiveDeps, receiveMail } from './receive';

/** The keyword a mail taken is flagged with (`flag`), and that a search leaves out in every mode. */
export const TAKEN_KEYWORD = '$CampaignTaken';

/** What BOUNCE_IMAP_URL and its companions say. */
export interface ImapSettings {
  host: string;
  port: number;
  secure: boolean;
  user: string;
  pass: string;
  mailbox: string;
  after: { kind: 'flag' } | { kind: 'delete' } | { kind: 'move'; mailbox: string };
  pollMs: number;
  idle: boolean;
}

/** Reads the settings (BOUNCE_IMAP_URL already checked to be an imap[s]:// URL). */
export function imapSettings(config: {
  BOUNCE_IMAP_URL: string;
  BOUNCE_IMAP_POLL: number;
  BOUNCE_IMAP_IDLE: 'on' | 'off';
  BOUNCE_IMAP_AFTER: string;
}): ImapSettings {
  const url = new URL(config.BOUNCE_IMAP_URL);
  const secure = url.protocol === 'imaps:';
  const after = config.BOUNCE_IMAP_AFTER;
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : secure ? 993 : 143,
    secure,
    user: decodeURIComponent(url.username),
    pass: decodeURIComponent(url.password),
    mailbox: decodeURIComponent(url.pathname.replace(/^\//, '')) || 'INBOX',
    after: after.startsWith('move:')
      ? { kind: 'move', mailbox: after.slice(5) }
      : { kind: after === 'delete' ? 'delete' : 'flag' },
    pollMs: config.BOUNCE_IMAP_POLL,
    idle: config.BOUNCE_IMAP_IDLE === 'on',
  };
}

const ADDRESS = /[^\s<>,;:"()[\]]+@[^\s<>,;:"()[\]]+/g;

/**
 * The envelope a mailbox no longer has, from the headers the delivering MTA wrote: the recipient (Delivered-To,
 * X-Original-To, Envelope-To, then To and Cc, where the VERP return path is) and the sender (Return-Path).
 */
export function envelopeOfMail(raw: Buffer): { mailFrom: string; rcptTo: string[] } {
  const text = raw.subarray(0, 64 * 1024).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const fields = new Map<string, string[]>();
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    fields.set(name, [...(fields.get(name) ?? []), line.slice(colon + 1)]);
  }
  const addresses = (name: string) => (fields.get(name) ?? []).flatMap((v) => v.match(ADDRESS) ?? []);
  const rcptTo = [
    ...new Set(
      ['delivered-to', 'x-original-to', 'envelope-to', 'to', 'cc'].flatMap(addresses).map((a) => a.trim()),
    ),
  ];
  return { mailFrom: addresses('return-path')[0] ?? '', rcptTo };
}

export interface ImapReaderDeps {
  settings: ImapSettings;
  log: Logger;
  sql: postgres.Sql;
  feedbackQueue: Queue;
  maxSize: number;
  translate?: ReceiveDeps['translate'];
}

export interface ImapReader {
  /** `ok` while connected to the mailbox; otherwise why not. */
  state(): string;
  /** Mails taken so far (tests follow it). */
  taken(): number;
  /** Ends after the mail in hand is stored and marked, then logs out. */
  close(): Promise<void>;
}

/** The advisory lock key of one mailbox: replicas reading the same one take turns. */
const lockName = (s: ImapSettings) => `campaign-bounce-imap:${s.host}:${s.port}:${s.user}:${s.mailbox}`;

export function startImapReader(deps: ImapReaderDeps): ImapReader {
  const { settings, log } = deps;
  let stopping = false;
  let state = 'connecting';
  let taken = 0;
  let client: ImapFlow | null = null;
  let wake: (() => void) | null = null;
  // Set by the server's EXISTS (IDLE) and reset by a pass: mail that came during a pass is read at once after it.
  let newMail = false;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (newMail || stopping) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });

  /** One mail: stored (events queued or dead letter kept), then marked; a failure to store leaves it unmarked. */
  async function takeMail(imap: ImapFlow, uid: number): Promise<void> {
    const meta = await imap.fetchOne(String(uid), { uid: true, size: true }, { uid: true });
    if (!meta) return; // expunged meanwhile (another reader took it)
    if ((meta.size ?? 0) > deps.maxSize) {
      // Not read at all: kept as a dead letter naming it, and left in the mailbox (flagged) for a person.
      await recordDeadLetters(deps.sql, [
        {
          queue: BOUNCES_DEAD_LETTER_QUEUE,
          jobId: `imap-${settings.mailbox}-${uid}-oversize`,
          reason: `the mail is over BOUNCE_MAX_SIZE (${meta.size} > ${deps.maxSize} bytes); left in the IMAP mailbox ${settings.mailbox}, UID ${uid}`,
          payload: { mailbox: settings.mailbox, uid, size: meta.size },
        },
      ]);
      await imap.messageFlagsAdd(String(uid), [TAKEN_KEYWORD], { uid: true });
      return;
    }
    const message = await imap.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
    if (message === false || !message.source) return; // expunged meanwhile
    const raw = message.source;
    const outcome = await receiveMail(deps, { raw, ...envelopeOfMail(raw) });
    // Only now: the events are in Redis or the dead letter in PostgreSQL.
    if (settings.after.kind === 'delete') await imap.messageDelete(String(uid), { uid: true });
    else if (settings.after.kind === 'move') {
      await imap.messageFlagsAdd(String(uid), [TAKEN_KEYWORD], { uid: true });
      await imap.messageMove(String(uid), settings.after.mailbox, { uid: true });
    } else await imap.messageFlagsAdd(String(uid), [TAKEN_KEYWORD, '\\Seen'], { uid: true });
    taken++;
    log.info({ uid, size: raw.length, ...outcome }, 'Bounce mail taken from the IMAP mailbox.');
  }

  /** Reads every mail not taken yet, if no other replica is reading this mailbox now. */
  async function pass(imap: ImapFlow): Promise<void> {
    const reserved = await deps.sql.reserve();
    try {
      const [row] = await reserved`select pg_try_advisory_lock(hashtext(${lockName(settings)})) as ok`;
      if (!row?.ok) return log.debug('Another replica is reading the IMAP mailbox; this pass is skipped.');
      newMail = false;
      try {
        const uids = (await imap.search({ deleted: false, unKeyword: TAKEN_KEYWORD }, { uid: true })) || [];
        for (const uid of uids) {
          if (stopping) break;
          await takeMail(imap, uid);
        }
      } finally {
        await reserved`select pg_advisory_unlock(hashtext(${lockName(settings)}))`;
      }
    } finally {
      reserved.release();
    }
  }

  async function session(): Promise<void> {
    const imap = new ImapFlow({
      host: settings.host,
      port: settings.port,
      secure: settings.secure,
      auth: { user: settings.user, pass: settings.pass },
      logger: false,
      disableAutoIdle: !settings.idle,
      autoIdleDelay: 1000,
      connectionTimeout: 30_000,
    });
    client = imap;
    // A dropped connection is reported here and by the command that needed it; the loop reconnects.
    imap.on('error', (error: Error) => log.debug({ err: error.message }, 'IMAP connection error.'));
    imap.on('close', () => wake?.());
    imap.on('exists', () => {
      newMail = true;
      wake?.();
    });
    await imap.connect();
    try {
      if (settings.after.kind === 'move')
        await imap.mailboxCreate(settings.after.mailbox).catch((error: { serverResponseCode?: string }) => {
          if (error.serverResponseCode !== 'ALREADYEXISTS') throw error;
        });
      const lock = await imap.getMailboxLock(settings.mailbox);
      try {
        state = 'ok';
        log.info({ mailbox: settings.mailbox, host: settings.host }, 'Reading the IMAP bounce mailbox.');
        while (!stopping && imap.usable) {
          await pass(imap);
          if (!stopping && imap.usable) await sleep(settings.pollMs);
        }
      } finally {
        lock.release();
      }
    } finally {
      await imap.logout().catch(() => imap.close());
      client = null;
    }
  }

  const running = (async () => {
    let backoff = 1000;
    while (!stopping) {
      try {
        await session();
        backoff = 1000;
        if (!stopping) {
          state = 'connecting (the IMAP server closed the connection)';
          // A server that takes the login and drops at once must not be called in a tight loop.
          newMail = false;
          await sleep(backoff);
        }
      } catch (error) {
        if (stopping) break;
        state = `connecting (${(error as Error).message})`;
        log.warn(
          { err: (error as Error).message },
          'The IMAP bounce mailbox cannot be read now; trying again.',
        );
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  })();

  return {
    state: () => state,
    taken: () => taken,
    async close() {
      const connected = state === 'ok';
      stopping = true;
      state = 'closing';
      wake?.();
      // Still connecting: nothing in hand to finish, so the attempt is cut short.
      if (!connected) client?.close();
      await running;
    },
  };
}
