// What the words of a failure mean: the text patterns and RFC 3463 status rules that give a failure its reason.
//
// Written from the formats and the providers' documented replies (RFC 3463, RFC 5321, Postfix, Exim, Sendmail,
// qmail, Gmail, Yahoo, Microsoft 365 / Outlook, mail.ru, Yandex, Mimecast, …), not from single bounce mails.
// Every pattern errs on the soft side: calling a good address 'user unknown' quarantines it at once, the worst
// mistake a classifier can make here, so the hard reasons ask for words that only a missing address uses.

import { lookup } from '../lookup';

/** A reason that a text or a status can name ('not defined' is what is left when none does). */
export type TextReason =
  | 'user unknown'
  | 'invalid domain'
  | 'mailbox full'
  | 'account disabled'
  | 'unreachable'
  | 'refused'
  | 'message too large'
  | 'spam rejection'
  | 'on denylist'
  | 'out of office';

// Checked before any code: auto-replies and complaints come with whatever code the MTA picked.
export const OUT_OF_OFFICE =
  /out of (?:the )?office|auto[- ]?reply|automatic(?:ally)? repl|auto[- ]?respon(?:se|der)|\bvacation\b|\bon (?:annual |parental |sick )?leave\b|away from (?:the |my )?(?:office|desk)/i;
export const COMPLAINT = /\b(?:spam|abuse) (?:complaint|report)|\bcomplained\b|\bfeedback loop\b/i;

// The sender's own address or domain was refused: nothing to do with the recipient, however it is worded.
const SENDER =
  /sender (?:address |domain )?(?:rejected|refused|denied|unknown|invalid|verif\w* failed|not (?:allowed|permitted))|sender verify|(?:mail from|from address|envelope sender|return[- ]path)\b[^.;]{0,40}\b(?:rejected|refused|invalid|not (?:allowed|permitted))|sender domain must|must resolve|(?:unroute?able|unknown|invalid|unverifiable|bad) sender(?: address| domain)?\b|\bfrom:? ?(?:domain|address|header) (?:is )?(?:invalid|not valid|unknown|rejected)/i;
// RFC 7504's 521 / 556 texts ("does not accept mail") and qmail's "couldn't find a mail exchanger" included, and the
// DNS's own "no such name" as MTAs word it: DMA "DNS lookup failure: host <name> not found", Messaging Server
// "Illegal host/domain name found" (Postfix's "Host not found, try again" is a timeout: DNS_TRY_AGAIN, first).
const INVALID_DOMAIN =
  /invalid domain|domain (?:is )?invalid|host unknown|unknown host\b|indicated no smtp service|(?:host|domain|system) (?:does ?n(?:o|['’])t |is not |not )accept(?:ing)? (?:network )?(?:mail|messages)|couldn['’]?t find (?:a mail exchanger|any host)|domain (?:name )?(?:not found|unknown|does ?n(?:o|['’])t exist|is not (?:valid|hosted|served))|host (?:or domain name )?not found|non-?existent domain|no such domain|unknown domain|illegal host\/domain name|\bhost \S{1,255} not found\b(?!, try again)|\bnxdomain\b|\bno mx\b|\bnull mx\b|no (?:valid )?mx (?:record|host)|unroute?able/i;
const USER_UNKNOWN =
  /user ?unknown|unknown (?:user|recipient|address|local[- ]part|mailbox|account)|addressee unknown|recipient unknown|(?:user|mailbox|recipient|address|account|addressee) (?:name )?(?:not found|not known|not listed|does ?n(?:o|['’])t exist|unavailable: user not found)|does ?n(?:o|['’])t exist|no such (?:user|mailbox|recipient|address|account|person)|no mailbox (?:here )?by that name|(?:invalid|bad|illegal) (?:recipient|mailbox|address|user|destination mailbox)|recipient rejected|not a valid (?:recipient|mailbox|user|address)|is not a known user|\bRecip(?:ient)?NotFound\b|does ?n(?:o|['’])t have an? \S+ account|no longer (?:a valid|exists)|mailbox (?:is )?not present|user (?:account )?(?:is )?not (?:found|here)|recipient address rejected\.?\s*(?:\(in reply to|$)|(?:user(?: ?name)?|recipient|mailbox|e-?mail address)\b[^.;<>]{0,25}\bis (?:not valid|invalid)|invalid (?:\w+ ){0,2}user ?id\b|(?:user|mailbox|recipient|account) not exists?\b|address (?:could ?n['’]?t|can ?not) be found|not listed in (?:the )?(?:domino directory|public name (?:&|and) address book)|ディレクトリ(?:には見つかりません|のリストにありません)/i;
// Words only an unknown address uses: enough to overrule a policy status (Yandex "5.7.1 No such user!").
const USER_UNKNOWN_STRICT =
  /user ?unknown|unknown (?:user|recipient)|no such (?:user|mailbox|recipient)|(?:user|mailbox|recipient) not found|(?:account|mailbox|address) does ?n(?:o|['’])t exist|invalid (?:recipient|mailbox)|\bRecip(?:ient)?NotFound\b/i;
const MAILBOX_FULL =
  /mail ?box (?:is |was |has )?(?:full|over|exceed(?:s|ed)?)|over (?:the |its )?(?:storage |disk |mailbox )?(?:quota|limit)|quota (?:exceeded|full|violation)|exceeds? (?:the |his |her |their )?(?:storage|quota|mailbox)|(?:disk|storage|mailbox) (?:quota|space|full|limit)|insufficient (?:system )?storage|not enough (?:disk |storage )?space|mailbox size limit|\bQuotaExceeded|would exceed (?:the )?(?:mailbox )?quota|is full\b|(?:user|account|recipient) (?:is )?over ?quota|too much mail/i;
const ACCOUNT_DISABLED =
  /(?:account|mailbox|user|address|recipient) (?:is |has been |was )?(?:temporarily )?(?:disabled|deactivated|de-activated|suspended|inactive|closed|expired|terminated|frozen|locked|discontinued|blocked for inactivity)|\binactive (?:account|mailbox|user)|\bsuspended\b|no longer (?:active|in use|available)|(?:disabled|inactive|expired|suspended) (?:account|mailbox|user)|recipient(?:['’]s)? (?:account|mailbox) (?:is |has been )?(?:blocked|locked)/i;
const MESSAGE_TOO_LARGE =
  /message (?:is )?too (?:large|big)|(?:message|mail|email) (?:size|length) (?:limit|exceeds?|too)|size limit|size exceeds|exceeds? (?:the |our )?(?:maximum|max|fixed|allowed|size) (?:permitted |allowed )?(?:message |mail )?(?:size|length)|message exceeds|too large for|\bSizeLimit\b|message size/i;
const SPAM =
  /spam|\bjunk\b|\bblocked\b|(?<!not )\blisted\b|black ?list|block ?list|deny ?list|\brbl\b|dnsbl|\bdnsrbl\b|reputation|unsolicited|\bbulk (?:mail|e-?mail)|\bvirus|malware|phish|spamhaus|spamcop|barracuda|\bsorbs\b|uceprotect|\bcbl\b|abuseat|suspicious|content (?:rejected|filter)|rejected (?:due to|because of) content|\bUCE\b|weren['’]t sent|\b(?:SC|DY|OU)-00\d\b/i;
// 5.7.1 is "delivery not authorized": with these words it is a verdict on the sender, otherwise a plain refusal.
const SPAM_OR_POLICY = new RegExp(`${SPAM.source}|\\bpolicy\\b|\\bpolicies\\b`, 'i');
const UNREACHABLE =
  /connection (?:timed out|refused|reset|closed|lost|dropped|attempt failed)|timed? ?out|timeout|unable to connect|could not connect|can(?:no|['’])t connect|host unreachable|network (?:is )?unreachable|no route to host|\bexpired\b|retry time(?:out)? (?:exceeded|not reached)|too long in (?:the )?queue|(?:could not be|was not|has not been) delivered (?:with)?in|not responding|did not accept our requests to connect|(?:maximum (?:number of )?|after \d+ |failed \d+ )(?:delivery )?(?:attempts|retries)|delivery time expired|giving up|gave up|did not (?:respond|answer)|no answer from|lost connection|remote (?:host|server) (?:closed|disconnected)|(?:mail|routing) loop|loops back|too many hops|hop count exceeded|\bDNS (?:lookup )?(?:error|failure|timeout)|temporary (?:lookup )?failure|service (?:is )?(?:currently |temporarily )?(?:not |un)available|system (?:not accepting|incorrectly configured)/i;
// Rate limits name the sender's pace, more specific than the "blocked" that often comes with them.
const RATE =
  /rate limit|rate-limit|ratelimit|too many (?:connections|messages|recipients|concurrent|sessions|errors|mails)|too (?:quickly|fast)|receiving mail at a rate|unusual rate|(?:sending|message|connection) rate|frequency limit|throttl|connection limit|exceeded (?:the )?(?:rate|limit|number)|\bTSS\d\d\b|slow down|(?:daily|hourly|sending|relay|message) (?:quota|limit)/i;
const THROTTLING = new RegExp(
  `${RATE.source}|gr[ae]y ?list|try (?:again )?later|later time|temporarily (?:deferred|rejected|refused|blocked)|\\bdeferred\\b`,
  'i',
);
// Refusals by policy that name their cause: authentication (SPF, DKIM, DMARC), relaying, reverse DNS, TLS,
// standards compliance. They outrank words of network trouble that come along ("service not available").
const POLICY_NAMED =
  /\bdmarc\b|\bspf\b|\bdkim\b|authenticat|relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed)|prohibited)|not (?:permitted|allowed) to relay|unable to relay|\bptr\b|reverse (?:dns|lookup)|\brdns\b|starttls|encryption required|not (?:rfc ?\d+ )?compliant|\brfc ?5322\b|(?:invalid|bad|unauthori[sz]ed|unverif\w+) (?:sending )?ips?\b|ip (?:address )?(?:is )?not (?:allowed|authori[sz]ed|permitted)/i;
// Refusals by policy in general: ACLs, protocol, and the plain "rejected" / "denied" of a server that says no more.
const POLICY =
  /not authori[sz]ed|permission to post|not (?:a member|allowed to post)|\bpolicy\b|\bpolicies\b|(?:access|permission) denied|administrative prohibition|prohibited|\bhelo\b|\behlo\b|\btls\b|syntax error|command (?:unrecognized|not recognized)|not implemented|bad sequence|protocol (?:violation|error)|\bfiltered\b|not (?:accepted|allowed|permitted)|rejected|refused|denied|\bban(?:ned)?\b/i;
// RFC 5321's stock text for 550: "mailbox not found, no access, or command rejected for policy reasons".
const MAILBOX_UNAVAILABLE = /mailbox unavailable/i;

// Postfix's deferral for a DNS lookup that timed out ("Host not found, try again"); its bounce for a domain that
// does not exist says "Host or domain name not found" first.
const DNS_TRY_AGAIN = /^(?!.*host or domain name not found).*host not found, try again/i;

// The destination's own delivery program failed (Exim "pipe to |…", a Sendmail "|program" alias, procmail, a
// "mailer error"): the receiving system's trouble, not a verdict on the address.
const LOCAL_PROGRAM = /\bpipe to \||"\|[^"\n]{0,200}"\.\.\.|\bmailer error\b|^\s*procmail:/i;
// Connection trouble named as such outranks the "deferred" / "try again later" that comes with it.
const NETWORK =
  /connection (?:timed out|refused|reset)|no route to host|network (?:is )?unreachable|host unreachable|lost connection/i;

// Orange and La Poste (orange.fr, wanadoo.fr, laposte.net) end every refusal with a documented error code,
// OFR… / LPN… / OUK…, whose last three digits name the cause (Orange's published OFR code list): the code says
// more than the bilingual words, which for a spam verdict are only "Mail rejete. Mail rejected.". Codes whose
// meaning is not published, or only "try later", are left to the words.
const ORANGE_CODE = /\b(?:OFR|LPN|OUK)(?:AAA|\d{3})?[_-](\d{3})\b/i;
const ORANGE_CODES: Readonly<Record<string, TextReason>> = {
  '101': 'spam rejection', // blocked using Spamhaus
  '102': 'spam rejection', // source IP blocked for spam
  '104': 'refused', // too many connections
  '305': 'refused', // invalid authentication code
  '401': 'refused', // SPF: not allowed to send
  '402': 'refused', // authentication required
  '403': 'refused', // invalid sender
  '405': 'refused', // invalid sender
  '415': 'refused', // invalid sender
  '416': 'user unknown', // invalid recipient
  '417': 'mailbox full', // recipient over quota
  '420': 'account disabled', // archived recipient
  '421': 'refused', // mail from not owned by user
  '426': 'account disabled', // the recipient account is blocked
  '506': 'spam rejection', // mail rejected as spam
  '514': 'message too large', // message size limit reached
  '517': 'refused', // DMARC verification failed
  '630': 'refused', // client host rejected
};

/** The reason a provider's own documented error code in the text gives (Orange / La Poste), or undefined. */
export function providerCodeReason(text: string): TextReason | undefined {
  const code = ORANGE_CODE.exec(text)?.[1];
  return code === undefined ? undefined : lookup(ORANGE_CODES, code);
}

// A spam verdict stated as the cause ("rejected due to spam classification", "blocked as spam") outranks the
// authentication advice that often follows it ("set up SPF records"): the advice names no refusal.
const SPAM_VERDICT =
  /\b(?:rejected|refused|blocked|bounced|identified|classified|flagged|detected) (?:as|due to|because of|for) (?:being )?(?:likely |probable |suspected )?(?:spam|junk|unsolicited)\b/i;

/** Where the code is vague, the first of these that matches decides; most specific first. */
export const TEXT_RULES: ReadonlyArray<readonly [TextReason, RegExp]> = [
  ['refused', SENDER],
  ['unreachable', LOCAL_PROGRAM],
  ['unreachable', DNS_TRY_AGAIN],
  ['invalid domain', INVALID_DOMAIN],
  ['user unknown', USER_UNKNOWN],
  ['mailbox full', MAILBOX_FULL],
  ['account disabled', ACCOUNT_DISABLED],
  ['message too large', MESSAGE_TOO_LARGE],
  ['refused', RATE],
  ['spam rejection', SPAM_VERDICT],
  ['refused', POLICY_NAMED],
  ['spam rejection', SPAM],
  ['unreachable', NETWORK],
  ['refused', THROTTLING],
  ['unreachable', UNREACHABLE],
  ['refused', POLICY],
];

/** The reason the text names, or undefined. */
export function reasonInText(text: string): TextReason | undefined {
  return TEXT_RULES.find(([, pattern]) => pattern.test(text))?.[0];
}

/** What an RFC 3463 subject.detail says, and which texts may overrule it (the first that matches). */
export interface StatusRule {
  reason: TextReason;
  unless?: ReadonlyArray<readonly [TextReason, RegExp]>;
}

const UNLESS_SENDER = ['refused', SENDER] as const;
// A blocklist named or a rate exceeded is about the sender, whatever mailbox status the server chose.
const BLOCKLIST =
  /spamhaus|spamcop|barracuda|\bsorbs\b|uceprotect|abuseat|\bcbl\b|\brbl\b|dnsbl|black ?list|block ?list|deny ?list|(?<!not )\blisted\b|reputation/i;
// Facebook's documented RCP-P2/P3 ("the recipient's preferences prevent messages from being delivered") under 5.1.1.
const RECIPIENT_CHOICE = /recipient(?:['’]s)? preferences|refused due to recipient/i;
const UNLESS_SENDER_FAULT = [
  UNLESS_SENDER,
  ['spam rejection', BLOCKLIST],
  ['refused', RATE],
  ['refused', RECIPIENT_CHOICE],
] as const;
const UNLESS_USER = ['user unknown', USER_UNKNOWN_STRICT] as const;
// Where a status names no fault of the address (x.3 to x.6), words about the address itself are believed.
const UNLESS_ADDRESS = [
  UNLESS_SENDER,
  ['refused', RATE],
  ['invalid domain', INVALID_DOMAIN],
  UNLESS_USER,
  ['user unknown', /recipient address rejected: access denied/i],
  ['account disabled', ACCOUNT_DISABLED],
  ['mailbox full', MAILBOX_FULL],
  ['refused', POLICY_NAMED],
  // A server that answers "access denied" was reached and refused: a refusal, not network or system trouble.
  ['refused', /\baccess denied\b/i],
] as const;

const STATUS_RULES: Readonly<Record<string, StatusRule>> = {
  '1.1': { reason: 'user unknown', unless: UNLESS_SENDER_FAULT },
  '1.2': { reason: 'invalid domain', unless: UNLESS_SENDER_FAULT },
  '1.3': { reason: 'user unknown', unless: UNLESS_SENDER_FAULT }, // bad mailbox syntax
  '1.4': { reason: 'user unknown' }, // ambiguous destination mailbox
  '1.6': { reason: 'user unknown' }, // mailbox moved, no forwarding address
  '1.7': { reason: 'refused' }, // bad sender address
  '1.8': { reason: 'refused' }, // bad sender system address
  // Null MX (RFC 7505); Microsoft 365 also answers "5.1.10 RESOLVER.ADR.RecipientNotFound" for a missing address.
  '1.10': { reason: 'invalid domain', unless: [UNLESS_USER] },
  // "Other address status": about the address, unless the words put the blame elsewhere.
  '1.0': {
    reason: 'user unknown',
    unless: [
      ...UNLESS_SENDER_FAULT,
      ['refused', POLICY_NAMED],
      ['invalid domain', INVALID_DOMAIN],
      ['mailbox full', MAILBOX_FULL],
      ['account disabled', ACCOUNT_DISABLED],
      ['spam rejection', SPAM],
    ],
  },
  // Gmail answers 4.2.1 when the recipient receives mail too fast: throttling, not a closed account.
  '2.1': { reason: 'account disabled', unless: [['refused', THROTTLING], UNLESS_USER] },
  '2.2': { reason: 'mailbox full' },
  '2.3': { reason: 'message too large' },
  '2.4': { reason: 'refused' }, // mailing list expansion problem: the list's trouble, not the address's
  '3.1': { reason: 'mailbox full' }, // mail system full
  '3.4': { reason: 'message too large' },
  '5.3': { reason: 'refused' }, // too many recipients
  '7.13': { reason: 'account disabled' }, // user account disabled (RFC 3463 registry)
  '7.17': { reason: 'user unknown' }, // mailbox owner has changed (RFC 7293)
  '7.18': { reason: 'invalid domain' }, // domain owner has changed (RFC 7293)
};

/** The rule of a status's subject.detail; undefined where the status is vague and the text alone decides. */
export function ruleForStatus(subject: number, detail: number): StatusRule | undefined {
  const exact = lookup(STATUS_RULES, `${subject}.${detail}`);
  if (exact) return exact;
  if (detail === 0 || subject === 0) return undefined; // x.0.0, x.2.0, …: vague, the text decides
  switch (subject) {
    // x.3.x is the receiving system's trouble (RFC 3463: "under the general control of the destination
    // system administrator"), x.4.x network and routing; Office 365 reports a missing domain as 5.4.4 or
    // 5.4.310, and an address its directory does not know as "5.4.1 Recipient address rejected: Access denied".
    case 3:
    case 4:
      return { reason: 'unreachable', unless: UNLESS_ADDRESS };
    case 5: // protocol: the conversation, not the address
    case 6: // media / content conversion
      return { reason: 'refused', unless: UNLESS_ADDRESS };
    case 7:
      // Only 5.7.1 ("delivery not authorized") is also used for spam verdicts; 5.7.26 "blocked because the sender
      // is unauthenticated" or 4.7.28 "rate limited" are refusals, whatever words come with them. RFC 3463 names
      // per-recipient filtering among 5.7.1's causes, so its "user unknown" may be a filter's: refused, not hard.
      return detail === 1
        ? {
            reason: 'refused',
            unless: [
              ['refused', RATE],
              ['refused', POLICY_NAMED],
              ['spam rejection', SPAM_OR_POLICY],
            ],
          }
        : { reason: 'refused', unless: [UNLESS_USER] };
    default:
      return undefined;
  }
}

/** A mailbox status (x.1.x) or Outlook.com's 5.5.0 with RFC 5321's "mailbox unavailable": the mailbox is not there. */
export function unavailableMailbox(subject: number, smtpClass: number, text: string): boolean {
  return smtpClass === 5 && (subject === 1 || subject === 5) && MAILBOX_UNAVAILABLE.test(text);
}

/** The reason a vague status (x.0.0, x.1.0, …) falls back on when no text names one. */
export function vagueStatusReason(subject: number): TextReason | undefined {
  if (subject === 3 || subject === 4) return 'unreachable';
  if (subject === 5 || subject === 6 || subject === 7) return 'refused';
  return undefined;
}
