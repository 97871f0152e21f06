// Failure classification: an SMTP failure's reason, and the type (hard, soft, ignored) that the reason decides.
//
// The reason decides the type, whatever the source claims (DESIGN.md, docs/CONTRACT.md): a `hard_bounce` event whose
// server said `552 5.2.2 mailbox full` is a soft failure, retried and counted as one; a `soft_bounce` carrying
// `550 5.1.1 user unknown` is hard and final. The event's declared type decides only where the reason is
// 'not defined'. A transient (class 4) reply never yields 'hard': the server itself says the condition may pass,
// and e.g. Postfix's `450 4.1.1 ... unverified address: Connection timed out` must not quarantine a good address
// at once as a hard 'user unknown' would.
//
// | reason            | type    | why                                                            |
// |-------------------|---------|----------------------------------------------------------------|
// | user unknown      | hard    | the mailbox does not exist                                     |
// | invalid domain    | hard    | the domain has no mail host                                    |
// | account disabled  | hard    | closed by the provider (soft on a 4xx code, see above)         |
// | message too large | hard    | the same message is refused again on every retry               |
// | on denylist       | hard    | the recipient complained about us: never send again            |
// | mailbox full      | soft    | mailboxes empty out, so even 5.2.2 is soft                     |
// | unreachable       | soft    | network, routing or the receiving system's trouble (x.3, x.4)  |
// | refused           | soft    | policy, authentication, relay, throttling (x.5, x.6, x.7)      |
// | spam rejection    | soft    | the sender's reputation, not the address, is at fault          |
// | out of office     | ignored | an answer, not a failure of the address                        |
// | not defined       | event   | the declared type; without one, by class: 5 → hard, else soft  |
//
// The receiving server's own reply (in the diagnostic) is believed over a report's vaguer summary: a DSN's
// `Status: 5.0.0`, or a `Status: 5.1.1` above the server's `550 5.7.1 ... IP blacklisted`.
import {
  COMPLAINT,
  OUT_OF_OFFICE,
  providerCodeReason,
  reasonInText,
  ruleForStatus,
  unavailableMailbox,
  vagueStatusReason,
} from './failure-text';
import type { FailureType } from './log-values';
import { type SmtpCommand, smtpCommandIn, verbOf } from './smtp-command';

export type { FailureType } from './log-values';

/** Every failure reason, as the reference product names them. */
export const FAILURE_REASONS = [
  'user unknown',
  'invalid domain',
  'mailbox full',
  'account disabled',
  'unreachable',
  'refused',
  'message too large',
  'spam rejection',
  'on denylist',
  'out of office',
  'not defined',
] as const;

/** One of FAILURE_REASONS. */
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** What the MTA said about a failed attempt; every part is optional. */
export interface SmtpFailure {
  smtpCode?: number;
  enhancedStatus?: string;
  diagnostic?: string;
  /** The SMTP command the reply answered, where the report names it ('RCPT', 'DATA', …; see smtp-command.ts). */
  command?: string;
}

/** A failure as a feedback event reports it: the SMTP evidence, and the reason a provider that classifies bounces itself gave. */
export interface ReportedFailure extends SmtpFailure {
  /** The provider's own classification, translated by its documented table; 'not defined' leaves it to the evidence. */
  reason?: FailureReason;
}

/** A failure's type and reason. */
export interface Classification {
  type: FailureType;
  reason: FailureReason;
  /** set when the reason overruled the event's declared type: one sentence, no address in it */
  disagreement?: string;
}

type KnownReason = Exclude<FailureReason, 'not defined'>;

const DEFAULT_TYPE: Record<KnownReason, FailureType> = {
  'user unknown': 'hard',
  'invalid domain': 'hard',
  'account disabled': 'hard',
  'message too large': 'hard',
  'on denylist': 'hard',
  'mailbox full': 'soft',
  unreachable: 'soft',
  refused: 'soft',
  'spam rejection': 'soft',
  'out of office': 'ignored',
};

interface Status {
  text: string;
  smtpClass: 4 | 5;
  subject: number;
  detail: number;
}

/** The failure's evidence, normalized: the receiving server's reply first, the report's fields after it. */
interface Evidence {
  status?: Status;
  code?: number;
  smtpClass?: 4 | 5;
  text: string;
  /** The command the reply answered, where known (RCPT TO speaks of the recipient; see reasonFor). */
  stage?: SmtpCommand;
}

const RCPT_REPLY = /recipient address rejected:/i;
const STATUS_SHAPE = /^#?([45])\.(\d{1,3})\.(\d{1,3})$/;

function readEvidence(failure: SmtpFailure): Evidence {
  const text = failure.diagnostic ?? '';
  const reply = text ? parseSmtpResponse(text) : {};
  const said = readStatus(reply.enhancedStatus);
  const reported = readStatus(failure.enhancedStatus);
  // A report's own x.0.0 (or nothing) says less than the server's status; the server's x.0.0 says less than a
  // specific report. RFC 3463 defines subjects 0 to 7: anything else in the text is no status (a version number).
  const serverStatus = said && said.subject <= 7 ? said : undefined;
  const status =
    !serverStatus || (vague(serverStatus) && reported && !vague(reported)) ? reported : serverStatus;
  const code = readCode(reply.smtpCode) ?? readCode(failure.smtpCode);
  const codeClass = code === undefined ? undefined : (Math.floor(code / 100) as 4 | 5);
  // The class is the server's when it gave one: a transient reply stays transient under a report's 5.x.x.
  const serverClass = serverStatus?.smtpClass ?? classOf(readCode(reply.smtpCode));
  let stage = failure.command ? verbOf(failure.command) : smtpCommandIn(text);
  // Postfix words its recipient restrictions "Recipient address rejected:": that reply answered RCPT TO, though a
  // pipelining client's report names DATA, the last command it had sent (RFC 2920).
  if (stage === 'DATA' && RCPT_REPLY.test(text) && !/end of data/i.test(text)) stage = 'RCPT';
  return { status, code, smtpClass: serverClass ?? status?.smtpClass ?? codeClass, text, stage };
}

const vague = (s: Status) => s.subject === 0 || s.detail === 0;
const classOf = (code: number | undefined) =>
  code === undefined ? undefined : (Math.floor(code / 100) as 4 | 5);

function readStatus(value: string | undefined): Status | undefined {
  const match = value === undefined ? null : STATUS_SHAPE.exec(value.trim());
  if (!match) return undefined;
  const [, cls, subject, detail] = match;
  return {
    text: `${cls}.${Number(subject)}.${Number(detail)}`,
    smtpClass: Number(cls) as 4 | 5,
    subject: Number(subject),
    detail: Number(detail),
  };
}

function readCode(value: number | undefined): number | undefined {
  return value !== undefined && Number.isInteger(value) && value >= 400 && value <= 599 ? value : undefined;
}

// The reasons that blame the recipient's address, and so quarantine it or count against it.
const ADDRESS_REASONS: ReadonlySet<FailureReason> = new Set([
  'user unknown',
  'invalid domain',
  'account disabled',
]);
// A "user unknown" whose address slot is empty ("550 : User unknown", where RCPT TO replies read "550 <a@b>: User
// unknown"): the reply of a filter to the message as a whole (KDDI's au answers so after DATA), about no recipient.
const NO_ADDRESS_NAMED = /(?<![\w.])5\d\d(?:[ -]#?5\.\d{1,3}\.\d{1,3})?:?[ \t]+:[ \t]*user unknown\b/i;

// Yahoo's per-recipient verdicts given at the end of DATA carry its "delivery error: dd" prefix.
const VERDICT_AFTER_DATA = /\bdelivery error: dd\b/i;

function reasonFor(evidence: Evidence): FailureReason {
  const reason = reasonOfWords(evidence);
  const { stage, status, code } = evidence;
  const early = stage === 'MAIL' || stage === 'EHLO' || stage === 'CONN';
  // A server that answered the greeting or EHLO with a refusal was up: it refused the sending host.
  if (early && reason === 'unreachable' && code !== undefined) return 'refused';
  if (!ADDRESS_REASONS.has(reason)) return reason;
  // Before RCPT TO the recipient had not been named: a refusal of MAIL FROM, EHLO or the connection is the sender's.
  if (early) return 'refused';
  // 500-504 say the command or its argument was malformed (RFC 5321): about an address only with an x.1.x status.
  if (code !== undefined && code >= 500 && code <= 504 && status?.subject !== 1) return 'refused';
  if (reason !== 'user unknown' || stage === 'RCPT') return reason;
  // After DATA the recipient had been accepted at RCPT TO: a "user unknown" there is a content or sender filter
  // (Japanese carriers, Sendmail milters), not a missing mailbox. Except where the receiver documents that it
  // checks recipients only after DATA: Yahoo accepts every RCPT TO and answers the end of DATA with
  // "554 delivery error: dd This user doesn't have a yahoo.com account" (its published SMTP error codes).
  if (stage === 'DATA' && !VERDICT_AFTER_DATA.test(evidence.text)) return 'refused';
  if (NO_ADDRESS_NAMED.test(evidence.text)) return 'refused';
  // RFC 3463 X.2.0 and X.2.1 say "the mailbox exists" (but refuses this message): a "user unknown" beside them
  // contradicts the status, which only a reply to RCPT TO (above) outweighs. Japanese carriers' recipient-side
  // sender filters answer so ("550 5.2.1 <a@b>... User Unknown"); Sisimai calls it "filtered". The safe side wins.
  return status?.subject === 2 && status.detail <= 1 ? 'refused' : reason;
}

function reasonOfWords(evidence: Evidence): FailureReason {
  const { status, text } = evidence;
  if (OUT_OF_OFFICE.test(text)) return 'out of office';
  if (COMPLAINT.test(text)) return 'on denylist';
  const coded = providerCodeReason(text);
  if (coded) return coded;
  if (status && unavailableMailbox(status.subject, status.smtpClass, text)) return 'user unknown';
  const rule = status && ruleForStatus(status.subject, status.detail);
  if (rule) return rule.unless?.find(([, pattern]) => pattern.test(text))?.[0] ?? rule.reason;
  const fromText = reasonInText(text);
  if (fromText) return fromText;
  return (status && vagueStatusReason(status.subject)) ?? 'not defined';
}

function typeFor(
  reason: FailureReason,
  smtpClass: 4 | 5 | undefined,
  declared?: 'hard' | 'soft',
): FailureType {
  if (reason === 'not defined')
    return smtpClass === 4 ? 'soft' : (declared ?? (smtpClass === 5 ? 'hard' : 'soft'));
  const type = DEFAULT_TYPE[reason];
  return type === 'hard' && smtpClass === 4 ? 'soft' : type;
}

/** Classifies from the SMTP evidence alone (RFC 3463 class 5 = permanent/hard, 4 = transient/soft; subject.detail picks the reason; the diagnostic text decides where the code is vague, e.g. 5.0.0 or 550 without enhanced status). A reason given with it (a provider's or a known notice's own) is taken as classifyBounce takes it. */
export function classifySmtp(failure: ReportedFailure): Classification {
  const evidence = readEvidence(failure);
  const reason = givenOrRead(failure, evidence);
  return { type: typeFor(reason, evidence.smtpClass), reason };
}

/** The reason a source gave (a provider's table, a notice's form), else the evidence's; out of office always wins. */
function givenOrRead(failure: ReportedFailure, evidence: Evidence): FailureReason {
  const read = reasonFor(evidence);
  const given = failure.reason !== undefined && failure.reason !== 'not defined' ? failure.reason : undefined;
  return read === 'out of office' ? read : (given ?? read);
}

/**
 * Classifies a feedback event: the reason (the provider's own, else read from the evidence) decides the type; the
 * declared `eventType` only decides a 'not defined' reason, and even then a 4xx reply is soft. An out-of-office
 * text is 'ignored' whatever the provider said. Where the type differs from the declared one, `disagreement` says
 * why in one sentence (no address in it).
 */
export function classifyBounce(
  eventType: 'hard_bounce' | 'soft_bounce',
  failure: ReportedFailure,
): Classification {
  const evidence = readEvidence(failure);
  const reason = givenOrRead(failure, evidence);
  const declared = eventType === 'hard_bounce' ? 'hard' : 'soft';
  const type = typeFor(reason, evidence.smtpClass, declared);
  if (type === declared || type === 'ignored') return { type, reason };
  // Only the reason and the normalized status or code go into the sentence: never the diagnostic, which may
  // carry the recipient's address.
  const evidenceName = evidence.status
    ? ` (SMTP status ${evidence.status.text})`
    : evidence.code
      ? ` (SMTP code ${evidence.code})`
      : '';
  return {
    type,
    reason,
    disagreement: `The MTA reported a ${declared} bounce, but the reason '${reason}'${evidenceName} makes it ${type}.`,
  };
}

// A reply starting the text (DSNs prefix it with "smtp;"), a code-and-status pair anywhere, or a status alone.
const LEADING_REPLY =
  /^\s*(?:[\w-]+;\s*)?([245]\d\d)(?:[ \t-]+|(?=\r?\n)|$)(?:#?([245]\.\d{1,3}\.\d{1,3})(?!\.?\d))?/i;
// SES quotes the server's reply after its own summary: "5.1.0 - Unknown address error 550-'5.7.1 …'".
const EMBEDDED_REPLY = /(?<![\w.])([245]\d\d)[ -]['"]?#?([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)/;
const BARE_STATUS = /(?<![\w.])#?([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)/;
const CONTINUATION_PREFIX = /^[ \t]*[245]\d\d[ \t-]+(?:#?[245]\.\d{1,3}\.\d{1,3}(?!\.?\d))?/;

/** Pulls the basic code, the enhanced status and the human text out of a raw SMTP reply (e.g. nodemailer's `err.response`), multi-line replies included. */
export function parseSmtpResponse(text: string): SmtpFailure {
  const reply = LEADING_REPLY.exec(text) ?? EMBEDDED_REPLY.exec(text);
  if (!reply) {
    const status = BARE_STATUS.exec(text)?.[1];
    return withoutEmpty({ enhancedStatus: status, diagnostic: squeeze(text) });
  }
  const rest = text.slice(reply.index + reply[0].length);
  const lines = rest
    .split(/\r?\n/)
    .map((line, i) => (i === 0 ? line : line.replace(CONTINUATION_PREFIX, '')));
  return withoutEmpty({
    smtpCode: Number(reply[1]),
    enhancedStatus: reply[2],
    diagnostic: squeeze(lines.join(' ')),
  });
}

function squeeze(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function withoutEmpty(failure: SmtpFailure): SmtpFailure {
  return Object.fromEntries(
    Object.entries(failure).filter(([, value]) => value !== undefined && value !== ''),
  );
}
