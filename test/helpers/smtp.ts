// A real SMTP server on loopback that plays the MTA in tests: records every message, refuses on demand.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** One message the test MTA accepted. */
export interface ReceivedMessage {
  from: string;
  to: string[];
  raw: string;
  messageId: string | null;
  /** The DSN parameters of the envelope (RFC 3461), when the sender gave any. */
  dsn: { ret: string | null; envid: string | null; notify: string[] | null; orcpt: string | null };
}

/** Decides the reply to a recipient: undefined accepts, else the SMTP code and text to refuse with. */
export type RecipientPolicy = (address: string) => { code: number; message: string } | undefined;

export interface TestMta {
  url: string;
  port: number;
  received: ReceivedMessage[];
  setPolicy(policy: RecipientPolicy): void;
  /** Holds every DATA reply this long, to catch a sender in the middle of a batch. */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

export async function startTestMta(
  policy: RecipientPolicy = () => undefined,
  /** `hideDSN`: plays an MTA without the DSN extension. */
  options: { hideDSN?: boolean } = {},
): Promise<TestMta> {
  let current = policy;
  let delay = 0;
  const received: ReceivedMessage[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 10 * 1024 * 1024,
    hideDSN: options.hideDSN ?? false,
    onRcptTo(address, _session, callback) {
      const refusal = current(address.address);
      if (!refusal) return callback();
      const error = new Error(refusal.message) as Error & { responseCode: number };
      error.responseCode = refusal.code;
      callback(error);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const match = /^X-Campaign-Message-Id: (.+)$/m.exec(raw);
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          messageId: match ? match[1]!.trim() : null,
          dsn: {
            ret: session.envelope.dsn?.ret ?? null,
            envid: session.envelope.dsn?.envid ?? null,
            notify: session.envelope.rcptTo[0]?.dsn?.notify ?? null,
            orcpt: session.envelope.rcptTo[0]?.dsn?.orcpt ?? null,
          },
        });
        if (delay > 0) setTimeout(callback, delay);
        else callback();
      });
    },
  });
  // A sender killed mid-session resets its connection: that is the sender's story, not a test failure.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    received,
    setPolicy: (p) => {
      current = p;
    },
    setDelay: (ms) => {
      delay = ms;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
