// Failure classification: an SMTP failure's type (hard, soft, ignored) and reason, named as the reference product does.
//
// Each reason has one default type. The SMTP class decides the type only of 'not defined' (5 → hard, 4 → soft,
// no code → soft), with one exception: a transient (class 4) code never yields 'hard'. The server itself says the
// condition may pass, and e.g. Postfix's `450 4.1.1 ... unverified address: Connection timed out` must not
// quarantine a good address at once as a hard 'user unknown' would.
//
// | reason            | type    | why                                                            |
// |-------------------|---------|----------------------------------------------------------------|
// | user unknown      | hard    | the mailbox does not exist                                     |
// | invalid domain    | hard    | the domain has no mail host                                    |
// | account disabled  | hard    | closed by the provider (soft on a 4xx code, see above)         |
// | message too large | hard    | the same message is refused again on every retry               |
// | on denylist       | hard    | the recipient complained about us: never send again            |
// | mailbox full      | soft    | mailboxes empty out, so even 5.2.2 is soft                     |
// | unreachable       | soft    | network or routing trouble (x.4.x)                             |
// | refused           | soft    | policy, relay, throttling, greylisting (x.7.x)                 |
// | spam rejection    | soft    | the sender's reputation, not the address, is at fault          |
// | out of office     | ignored | an answer, not a failure of the address                        |
// | not defined       | class   | 5 → hard, 4 → soft, no code → soft                             |

/** Hard: the address is bad; soft: a temporary refusal; ignored: an answer that is no failure of the address. */
export type FailureType = 'hard' | 'soft' | 'ignored';

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
}

/** A failure's type and reason. */
export interface Classification {
  type: FailureType;
  reason: FailureReason;
  /** set when the code's class and the event type disagree */
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

// Checked before any code: auto-replies and complaints come with whatever code the MTA picked.
const OUT_OF_OFFICE = /out of (?:the )?office|auto[- ]?reply|automatic(?:ally)? repl|\bvacation\b/i;
const COMPLAINT = /\b(?:spam|abuse) (?:complaint|report)|\bcomplained\b|\bfeedback loop\b/i;

const INVALID_DOMAIN =
  /domain (?:name )?(?:not found|does ?n(?:o|['’])t exist)|host (?:or domain name )?not found|non-?existent domain|\bno mx\b|\bnull mx\b|unroute?able/i;
const USER_UNKNOWN =
  /user unknown|unknown user|does ?n(?:o|['’])t exist|no such (?:user|mailbox|recipient)|recipient rejected|unknown recipient|invalid recipient|(?:user|mailbox|recipient) not found|does ?n(?:o|['’])t have an? \S+ account/i;
const MAILBOX_FULL =
  /mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the )?(?:storage|quota)|insufficient storage|mailbox size limit/i;
const ACCOUNT_DISABLED = /(?:account|mailbox|user) (?:is |has been )?disabled|\binactive\b|\bsuspended\b/i;
const MESSAGE_TOO_LARGE =
  /message (?:is )?too (?:large|big)|size limit|size exceeds|exceeds (?:the )?maximum (?:message )?size/i;
const SPAM =
  /spam|\bblocked\b|(?<!not )\blisted\b|black ?list|block ?list|deny ?list|\brbl\b|dnsbl|reputation|unsolicited/i;
// 5.7.1 is "delivery not authorized": with these words it is a verdict on the sender, otherwise a plain refusal.
const SPAM_OR_POLICY = new RegExp(`${SPAM.source}|\\bpolicy\\b|\\bpolicies\\b`, 'i');
const UNREACHABLE =
  /connection (?:timed out|refused)|timed out|unable to connect|host unreachable|network is unreachable|no route to host/i;
const THROTTLING =
  /gr[ae]y ?list|try (?:again )?later|later time|rate limit|rate-limit|too many|too quickly|receiving mail at a rate|temporarily deferred|throttl/i;
// RFC 5321's stock text for 550: "mailbox not found, no access, or command rejected for policy reasons".
const MAILBOX_UNAVAILABLE = /mailbox unavailable/i;

// Where the code is vague, the first of these that matches decides; most specific first.
const TEXT_RULES: ReadonlyArray<readonly [KnownReason, RegExp]> = [
  ['invalid domain', INVALID_DOMAIN],
  ['user unknown', USER_UNKNOWN],
  ['mailbox full', MAILBOX_FULL],
  ['account disabled', ACCOUNT_DISABLED],
  ['message too large', MESSAGE_TOO_LARGE],
  ['spam rejection', SPAM],
  ['unreachable', UNREACHABLE],
  ['refused', THROTTLING],
];

/** What an RFC 3463 subject.detail says, and which text may overrule it. */
interface StatusRule {
  reason: KnownReason;
  unless?: readonly [KnownReason, RegExp];
}

const STATUS_RULES: Readonly<Record<string, StatusRule>> = {
  '1.1': { reason: 'user unknown' },
  '1.2': { reason: 'invalid domain' },
  '1.3': { reason: 'user unknown' }, // bad mailbox syntax
  '1.6': { reason: 'user unknown' }, // mailbox moved, no forwarding address
  '1.7': { reason: 'refused' }, // bad sender address
  '1.8': { reason: 'refused' },
  '1.10': { reason: 'invalid domain' }, // null MX (RFC 7505)
  // Gmail answers 4.2.1 when the recipient receives mail too fast: throttling, not a closed account.
  '2.1': { reason: 'account disabled', unless: ['refused', THROTTLING] },
  '2.2': { reason: 'mailbox full' },
  '2.3': { reason: 'message too large' },
  '3.4': { reason: 'message too large' },
};

function ruleForStatus(subject: number, detail: number): StatusRule | undefined {
  // x.4.x is network and routing; Office 365 reports a missing domain as 5.4.4 or 5.4.310.
  if (subject === 4) return { reason: 'unreachable', unless: ['invalid domain', INVALID_DOMAIN] };
  if (subject === 7) {
    return detail === 1
      ? { reason: 'refused', unless: ['spam rejection', SPAM_OR_POLICY] }
      : { reason: 'refused' };
  }
  return STATUS_RULES[`${subject}.${detail}`]; // x.0.0, x.1.0, x.5.x, …: vague, the text decides
}

/** The failure's evidence, normalized: the diagnostic's own reply fills in a missing code or status. */
interface Evidence {
  status?: { text: string; smtpClass: 4 | 5; subject: number; detail: number };
  code?: number;
  smtpClass?: 4 | 5;
  text: string;
}

const STATUS_SHAPE = /^#?([45])\.(\d{1,3})\.(\d{1,3})$/;

function readEvidence(failure: SmtpFailure): Evidence {
  const text = failure.diagnostic ?? '';
  const parsed = text ? parseSmtpResponse(text) : {};
  const status = readStatus(failure.enhancedStatus) ?? readStatus(parsed.enhancedStatus);
  const code = readCode(failure.smtpCode) ?? readCode(parsed.smtpCode);
  const codeClass = code === undefined ? undefined : (Math.floor(code / 100) as 4 | 5);
  return { status, code, smtpClass: status?.smtpClass ?? codeClass, text };
}

function readStatus(value: string | undefined): Evidence['status'] {
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

function reasonFor(evidence: Evidence): FailureReason {
  const { status, text } = evidence;
  if (OUT_OF_OFFICE.test(text)) return 'out of office';
  if (COMPLAINT.test(text)) return 'on denylist';
  const rule = status && ruleForStatus(status.subject, status.detail);
  if (rule) return rule.unless?.[1].test(text) ? rule.unless[0] : rule.reason;
  const fromText = TEXT_RULES.find(([, pattern]) => pattern.test(text));
  if (fromText) return fromText[0];
  if (status?.subject === 1 && MAILBOX_UNAVAILABLE.test(text)) return 'user unknown';
  return 'not defined';
}

function typeFor(reason: FailureReason, smtpClass: 4 | 5 | undefined): FailureType {
  if (reason === 'not defined') return smtpClass === 5 ? 'hard' : 'soft';
  const type = DEFAULT_TYPE[reason];
  return type === 'hard' && smtpClass === 4 ? 'soft' : type;
}

/** Classifies from the SMTP evidence alone (RFC 3463 class 5 = permanent/hard, 4 = transient/soft; subject.detail picks the reason; the diagnostic text decides where the code is vague, e.g. 5.0.0 or 550 without enhanced status). */
export function classifySmtp(failure: SmtpFailure): Classification {
  const evidence = readEvidence(failure);
  const reason = reasonFor(evidence);
  return { type: typeFor(reason, evidence.smtpClass), reason };
}

/** Classifies a feedback event: `eventType` is 'hard_bounce' | 'soft_bounce'; the event's own type wins where the code contradicts it (e.g. a soft_bounce event carrying 5.1.1 is soft, reason still 'user unknown'), and `disagreement` describes the conflict in one sentence (no address in it). An out-of-office diagnostic is 'ignored' whatever the type. */
export function classifyBounce(
  eventType: 'hard_bounce' | 'soft_bounce',
  failure: SmtpFailure,
): Classification {
  const evidence = readEvidence(failure);
  const reason = reasonFor(evidence);
  if (reason === 'out of office') return { type: 'ignored', reason };
  // The event drives the lifecycle (a soft bounce is retried, a hard one is final), so its type is kept.
  const type: FailureType = eventType === 'hard_bounce' ? 'hard' : 'soft';
  const { smtpClass } = evidence;
  if (smtpClass === undefined || smtpClass === (type === 'hard' ? 5 : 4)) return { type, reason };
  // Only the normalized status or the numeric code goes into the sentence: never the diagnostic, which may
  // carry the recipient's address.
  const evidenceName = evidence.status ? `SMTP status ${evidence.status.text}` : `SMTP code ${evidence.code}`;
  const meaning = smtpClass === 5 ? 'permanent' : 'transient';
  return {
    type,
    reason,
    disagreement: `The MTA reported a ${type} bounce but ${evidenceName} is ${meaning} (class ${smtpClass}); the event's type was kept.`,
  };
}

// A reply starting the text (DSNs prefix it with "smtp;"), a code-and-status pair anywhere, or a status alone.
const LEADING_REPLY =
  /^\s*(?:smtp;\s*)?([245]\d\d)(?:[ \t-]+|(?=\r?\n)|$)(?:#?([245]\.\d{1,3}\.\d{1,3})(?!\.?\d))?/i;
const EMBEDDED_REPLY = /(?<![\w.])([245]\d\d)[ -]#?([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)/;
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
