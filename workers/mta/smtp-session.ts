// One SMTP session to the MTA: greeting, EHLO, STARTTLS, AUTH, then message after message. Where the MTA offers
// PIPELINING (RFC 2920), a message's data, its end and the next message's envelope leave in one write, so a
// message costs one round trip and one write (LIMITS.md: the sender's CPU a message bounds a real send).
import net from 'node:net';
import os from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import tls from 'node:tls';
import type { DsnRequest } from '../../shared/message-id';
import { toWireData } from './smtp-wire';

/** How to reach and greet the MTA. */
export interface SessionOptions {
  host: string;
  port: number;
  secure: boolean;
  auth?: { user: string; pass: string };
  /** Refuse to go on (and so to send AUTH) unless STARTTLS succeeds: a missing or stripped STARTTLS fails. */
  requireTLS: boolean;
  rejectUnauthorized: boolean;
}

/** A refusal or a failure, shaped as nodemailer's errors are (handOffFailure reads code, responseCode, response). */
export class SmtpError extends Error {
  constructor(
    message: string,
    readonly code: 'EENVELOPE' | 'EMESSAGE' | 'ECONNECTION' | 'EPROTOCOL' | 'EAUTH' | 'ETLS' | 'ETIMEDOUT',
    readonly response?: string,
  ) {
    super(response ? `${message}: ${response}` : message);
  }
  get responseCode(): number | undefined {
    const code = this.response ? Number(this.response.slice(0, 3)) : Number.NaN;
    return Number.isInteger(code) ? code : undefined;
  }
}

/** One message for a session: its envelope, its raw bytes, and who waits for the MTA's answer. */
export interface Transaction {
  envelope: { from: string; to: string; dsn?: DsnRequest };
  raw: Buffer;
  done: (error: SmtpError | null) => void;
}

const CONNECTION_TIMEOUT = 15_000;
const SOCKET_TIMEOUT = 60_000;
const END = Buffer.from('.\r\n');
const CR = 13;
/** What an envelope address must not hold: it would end or break out of its command. */
const NOT_AN_ADDRESS = /[\r\n<>]/;
/** What only SMTPUTF8 carries in an envelope. */
const NOT_ASCII = /[^\t\x20-\x7e]/;

/** The EHLO name nodemailer would give: the host name when qualified, else the loopback literal. */
function ehloName(): string {
  const name = os.hostname() || '';
  if (!name.includes('.')) return '[127.0.0.1]';
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) ? `[${name}]` : name.replace(/[\r\n]+/g, '');
}

/** RFC 3461 xtext: what is not printable ASCII, '+' or '=' travels as +HH. */
function xtext(value: string): string {
  if (!/[^\x21-\x2a\x2c-\x3c\x3e-\x7e]/.test(value)) return value;
  let out = '';
  for (const byte of Buffer.from(value)) {
    out +=
      byte < 0x21 || byte > 0x7e || byte === 0x2b || byte === 0x3d
        ? `+${byte.toString(16).toUpperCase().padStart(2, '0')}`
        : String.fromCharCode(byte);
  }
  return out;
}

type Reply = string;
type Stage = 'mail' | 'rcpt' | 'data';

/**
 * A session. `next` is asked for the following message whenever the session can take one; `onIdle` is told
 * when it has nothing in flight, `onClose` once it is gone (each message in flight was failed before).
 */
export class SmtpSession {
  private socket!: net.Socket;
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';
  private lines: string[] = [];
  private readonly expecting: ((reply: Reply) => void)[] = [];
  private extensions = new Set<string>();
  private authMethods: string[] = [];
  private pipelining = false;
  /** The message whose envelope is out (waiting for MAIL, RCPT and DATA replies). */
  private envelopeOut: (Transaction & { failure?: SmtpError; mailFailed?: boolean }) | null = null;
  /** Data to write once the event loop has turned (see onEnvelope); nothing may be written before it. */
  private held: Buffer[] | null = null;
  /** The message whose data is out (waiting for the reply to its end). */
  private dataOut: Transaction | null = null;
  private dead = false;
  private ready = false;
  /** Set up once: from then on its end is reported to onClose. */
  private setUp = false;
  /** Without PIPELINING: a RSET is out, and nothing may be written before its reply. */
  private resetting = false;
  /** Rejects open() when the session fails while it is being set up. */
  private setupFailed: ((error: Error) => void) | null = null;
  // The handlers of a pipelined message's four replies, made once a session rather than once a message.
  private readonly onMail = (reply: Reply) => this.onEnvelope('mail', reply);
  private readonly onRcpt = (reply: Reply) => this.onEnvelope('rcpt', reply);
  private readonly onDataReply = (reply: Reply) => this.onEnvelope('data', reply);
  private readonly onEndReply = (reply: Reply) => this.onEnd(reply);

  constructor(
    private readonly options: SessionOptions,
    private readonly next: () => Transaction | null,
    private readonly onIdle: (session: SmtpSession) => void,
    private readonly onClose: (session: SmtpSession) => void,
  ) {}

  /** True when no message is in flight. */
  get idle(): boolean {
    return this.envelopeOut === null && this.dataOut === null;
  }

  /** Connects, greets, upgrades to TLS where offered, authenticates; rejects with why it could not. */
  async open(): Promise<void> {
    const failed = new Promise<never>((_, reject) => {
      this.setupFailed = reject;
    });
    const timer = setTimeout(
      () => this.fail(new SmtpError('Connection timeout', 'ETIMEDOUT')),
      CONNECTION_TIMEOUT,
    );
    try {
      await Promise.race([this.handshake(), failed]);
      this.ready = true;
      this.setUp = true;
    } catch (error) {
      this.fail(error as Error);
      throw error;
    } finally {
      clearTimeout(timer);
      this.setupFailed = null;
    }
    this.socket.setTimeout(SOCKET_TIMEOUT);
    this.pull();
  }

  private async handshake(): Promise<void> {
    const { host, port, secure } = this.options;
    const servername = net.isIP(host) ? undefined : host;
    this.attach(
      secure
        ? tls.connect({ host, port, servername, rejectUnauthorized: this.options.rejectUnauthorized })
        : net.connect({ host, port }),
    );
    await this.expect(220, 'the greeting');
    await this.ehlo();
    if (!secure && (this.extensions.has('STARTTLS') || this.options.requireTLS)) {
      if (!this.extensions.has('STARTTLS'))
        throw new SmtpError('The MTA offers no STARTTLS, and TLS is required', 'ETLS');
      this.write('STARTTLS\r\n');
      await this.expect(220, 'STARTTLS');
      await this.upgrade(servername);
      await this.ehlo();
    }
    if (this.options.auth) await this.login(this.options.auth);
  }

  /** Takes the next message if the session can (nothing waiting for envelope replies). */
  pull(): void {
    // Without PIPELINING, a command waits for the reply before it; with it, the next envelope may follow the end.
    if (!this.ready || this.dead || this.envelopeOut || this.held) return;
    if (!this.pipelining && (this.dataOut || this.resetting)) return;
    const tx = this.next();
    if (tx) this.writeEnvelope(tx, []);
    else if (this.idle) this.onIdle(this);
  }

  /** Ends the session politely. */
  quit(): void {
    if (this.dead) return;
    this.ready = false;
    this.expecting.push(() => this.socket.end());
    this.write('QUIT\r\n');
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 120_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(new SmtpError(error.message, 'ECONNECTION')));
    socket.on('close', () => this.fail(new SmtpError('The MTA closed the connection', 'ECONNECTION')));
    socket.on('timeout', () => this.fail(new SmtpError('The MTA went silent', 'ETIMEDOUT')));
  }

  private upgrade(servername: string | undefined): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    plain.removeAllListeners('timeout');
    plain.on('error', (error) => this.fail(new SmtpError(error.message, 'ECONNECTION')));
    return new Promise((resolve) => {
      const secure = tls.connect({
        socket: plain,
        servername,
        rejectUnauthorized: this.options.rejectUnauthorized,
      });
      this.attach(secure);
      secure.once('secureConnect', () => resolve());
    });
  }

  private async ehlo(): Promise<void> {
    this.write(`EHLO ${ehloName()}\r\n`);
    let reply = await this.reply();
    if (!reply.startsWith('2')) {
      this.write(`HELO ${ehloName()}\r\n`);
      reply = await this.reply();
      if (!reply.startsWith('2')) throw new SmtpError('The MTA refused HELO', 'EPROTOCOL', reply);
    }
    const lines = reply.split('\n').slice(1);
    this.extensions = new Set(lines.map((l) => l.slice(4).split(/[ =]/)[0]!.toUpperCase()));
    const auth = lines.find((l) => /^AUTH[ =]/i.test(l.slice(4)));
    this.authMethods = auth ? auth.slice(9).toUpperCase().split(/\s+/) : [];
    this.pipelining = this.extensions.has('PIPELINING');
  }

  private async login(auth: { user: string; pass: string }): Promise<void> {
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    let reply: Reply;
    if (this.authMethods.includes('LOGIN') && !this.authMethods.includes('PLAIN')) {
      this.write('AUTH LOGIN\r\n');
      await this.expect(334, 'AUTH LOGIN');
      this.write(`${b64(auth.user)}\r\n`);
      await this.expect(334, 'AUTH LOGIN');
      this.write(`${b64(auth.pass)}\r\n`);
      reply = await this.reply();
    } else {
      this.write(`AUTH PLAIN ${b64(`\0${auth.user}\0${auth.pass}`)}\r\n`);
      reply = await this.reply();
    }
    if (!reply.startsWith('235')) throw new SmtpError('Invalid login', 'EAUTH', reply);
  }

  private reply(): Promise<Reply> {
    return new Promise((resolve) => this.expecting.push(resolve));
  }

  private async expect(code: number, what: string): Promise<void> {
    const reply = await this.reply();
    if (!reply.startsWith(String(code))) throw new SmtpError(`The MTA refused ${what}`, 'EPROTOCOL', reply);
  }

  private write(text: string): void {
    if (!this.dead) this.socket.write(text);
  }

  /** Writes a message's envelope (all of it and DATA where pipelining, else MAIL alone), after `before`. */
  private writeEnvelope(tx: Transaction, before: Buffer[]): void {
    const { from, to, dsn } = tx.envelope;
    if (NOT_AN_ADDRESS.test(from) || NOT_AN_ADDRESS.test(to)) {
      tx.done(
        new SmtpError(
          `Invalid envelope address ${JSON.stringify(NOT_AN_ADDRESS.test(from) ? from : to)}`,
          'EENVELOPE',
        ),
      );
      for (const b of before) this.socket.write(b);
      this.pull();
      return;
    }
    const dsnOffered = dsn !== undefined && this.extensions.has('DSN');
    const utf8 = (NOT_ASCII.test(from) || NOT_ASCII.test(to)) && this.extensions.has('SMTPUTF8');
    // Headers only come back in a report (RET=HDRS): they name the message; its content is not ours to return.
    const mail = `MAIL FROM:<${from}>${utf8 ? ' SMTPUTF8' : ''}${dsnOffered ? ` RET=HDRS${dsn.envid ? ` ENVID=${xtext(dsn.envid)}` : ''}` : ''}\r\n`;
    const rcpt = `RCPT TO:<${to}>${dsnOffered ? ` NOTIFY=${dsn.notify.join(',')}${dsn.orcpt ? ` ORCPT=${xtext(dsn.orcpt)}` : ''}` : ''}\r\n`;
    this.envelopeOut = tx;
    if (this.pipelining) {
      this.expecting.push(this.onMail, this.onRcpt, this.onDataReply);
      before.push(Buffer.from(`${mail}${rcpt}DATA\r\n`));
    } else {
      this.expecting.push((r) => this.onEnvelope('mail', r, rcpt));
      before.push(Buffer.from(mail));
    }
    this.writeAll(before);
  }

  /** One write (one system call) for what leaves together. */
  private writeAll(buffers: Buffer[]): void {
    if (this.dead) return;
    this.socket.cork();
    for (const b of buffers) this.socket.write(b);
    this.socket.uncork();
  }

  private onEnvelope(stage: Stage, reply: Reply, rcpt?: string): void {
    const tx = this.envelopeOut!;
    const ok = reply.startsWith('2') || (stage === 'data' && reply.startsWith('3'));
    if (!ok && !tx.failure) {
      tx.failure = new SmtpError(
        stage === 'mail'
          ? 'Mail command failed'
          : stage === 'rcpt'
            ? 'Recipient command failed'
            : 'Data command failed',
        'EENVELOPE',
        reply,
      );
      tx.mailFailed = stage === 'mail';
    }
    if (!this.pipelining && stage !== 'data') {
      if (tx.failure) {
        this.envelopeFailed(tx, reply);
        return;
      }
      if (stage === 'mail') {
        this.expecting.push((r) => this.onEnvelope('rcpt', r));
        this.write(rcpt!);
        return;
      }
      this.expecting.push((r) => this.onEnvelope('data', r));
      this.write('DATA\r\n');
      return;
    }
    if (stage !== 'data') return;
    if (tx.failure) {
      this.envelopeFailed(tx, reply);
      return;
    }
    // DATA accepted: the data, its end and (pipelining) the next envelope in one write.
    this.envelopeOut = null;
    this.dataOut = tx;
    this.expecting.push(this.onEndReply);
    const data = toWireData(tx.raw);
    data.push(END);
    const following = this.pipelining ? this.next() : null;
    if (following) this.writeEnvelope(following, data);
    else if (!this.pipelining) this.writeAll(data);
    else {
      // The reply that freed a sender's next message is often in the same read as this 354: once it has run,
      // the next message is usually queued, and leaves with this one's data (one write rather than two).
      this.held = data;
      setImmediate(() => {
        const held = this.held;
        this.held = null;
        if (!held || this.dead) return;
        const next = this.next();
        if (next) this.writeEnvelope(next, held);
        else this.writeAll(held);
      });
    }
  }

  /** A refused envelope: the message fails alone, the session is reset for the next one. */
  private envelopeFailed(
    tx: Transaction & { failure?: SmtpError; mailFailed?: boolean },
    reply: Reply,
  ): void {
    this.envelopeOut = null;
    tx.done(tx.failure!);
    if (reply.startsWith('3')) {
      // DATA taken although the envelope was refused: without a sender there is no transaction to end
      // (drop the session); without a recipient, an empty message ends it for nobody.
      if (tx.mailFailed) {
        this.fail(new SmtpError('The MTA took DATA without a sender', 'EPROTOCOL', reply));
        return;
      }
      this.expecting.push(() => {});
      this.write('.\r\n');
    }
    this.expecting.push((r) => {
      if (!r.startsWith('2')) this.fail(new SmtpError('Could not reset the session', 'EPROTOCOL', r));
      else if (!this.pipelining) {
        this.resetting = false;
        this.pull();
      }
    });
    // With PIPELINING the next envelope follows the RSET at once; without, it waits for the RSET's reply.
    const following = this.pipelining ? this.next() : null;
    if (following) this.writeEnvelope(following, [Buffer.from('RSET\r\n')]);
    else {
      this.write('RSET\r\n');
      // Without PIPELINING the session is busy until the reset is answered: no envelope may be written before.
      if (this.pipelining && this.idle) this.onIdle(this);
      else if (!this.pipelining) this.resetting = true;
    }
  }

  private onEnd(reply: Reply): void {
    const tx = this.dataOut!;
    this.dataOut = null;
    tx.done(reply.startsWith('2') ? null : new SmtpError('Message failed', 'EMESSAGE', reply));
    if (!this.envelopeOut) this.pull();
  }

  private onData(chunk: Buffer): void {
    const text = this.rest + this.decoder.write(chunk);
    let start = 0;
    for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', start)) {
      // The line without its CRLF (or bare LF).
      const line = text.slice(start, at > start && text.charCodeAt(at - 1) === CR ? at - 1 : at);
      start = at + 1;
      if (line[3] === '-') {
        this.lines.push(line); // a multi-line reply goes on
        continue;
      }
      let reply = line;
      if (this.lines.length > 0) {
        this.lines.push(line);
        reply = this.lines.join('\n');
        this.lines = [];
      }
      this.rest = text.slice(start);
      const handler = this.expecting.shift();
      // RFC 5321 4.2: 421 may come at any time and ends the session; what is in flight is refused for now.
      if (reply.startsWith('421') && (reply[3] === ' ' || reply[3] === '-'))
        this.fail(new SmtpError('The MTA is closing the session', 'ECONNECTION', reply));
      else if (handler) handler(reply);
      else this.fail(new SmtpError('Unexpected reply', 'EPROTOCOL', reply));
      if (this.dead) return;
    }
    this.rest = start === 0 ? text : text.slice(start);
    if (this.rest.length > 64 * 1024) this.fail(new SmtpError('The MTA reply is too long', 'EPROTOCOL'));
  }

  /** The session is over: what is in flight fails (temporary unless the MTA said otherwise), once. */
  private fail(error: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.ready = false;
    const failure = error instanceof SmtpError ? error : new SmtpError(error.message, 'ECONNECTION');
    for (const tx of [this.dataOut, this.envelopeOut]) tx?.done(failure);
    this.dataOut = null;
    this.envelopeOut = null;
    this.expecting.length = 0;
    this.socket?.destroy();
    // A session that was never set up is reported by open() alone.
    this.setupFailed?.(failure);
    if (this.setUp) this.onClose(this);
  }
}
