// Notices in a fixed form, where the form rather than an SMTP reply says what happened to a recipient. Pure.
//
// Google Groups answers a post it will not take (the group does not exist, or the sender may not post to it) in the
// sender's language, with no SMTP reply, but always linking its help page on posting: whatever the language, that
// is the group refusing the post. The reason is read from the form only where the mail quotes no reply or status.
import { lookup } from '../lookup';
import type { FailureReason } from '../rules/classify';
import { header, type MimePart } from './mime';

const NOTICES: ReadonlyArray<readonly [FailureReason, RegExp]> = [
  ['refused', /https?:\/\/groups\.google\.com\/support\b/i],
];

/** The reason a notice's form gives, or undefined. */
export function noticeReasonIn(report: string): FailureReason | undefined {
  return NOTICES.find(([, form]) => form.test(report))?.[0];
}

// PowerMTA classifies each bounce itself and writes the class into its DSN, per recipient, as
// `X-PowerMTA-BounceCategory:` (its documented bounce categories). Like SparkPost's bounce classes, the
// reporting MTA's own table is taken as the reason; 'other' leaves it to the evidence. A 4xx stays soft.
const POWERMTA_CATEGORIES: Readonly<Record<string, FailureReason>> = {
  'bad-mailbox': 'user unknown', // bad, invalid or non-existent recipient address
  'bad-domain': 'invalid domain', // invalid or non-existing domain
  'inactive-mailbox': 'account disabled', // expired, inactive or disabled recipient address
  'quota-issues': 'mailbox full',
  'message-expired': 'unreachable', // not delivered before bounce-after
  'no-answer-from-host': 'unreachable',
  'bad-connection': 'unreachable',
  'routing-errors': 'unreachable',
  'spam-related': 'spam rejection',
  'virus-related': 'spam rejection',
  'content-related': 'refused',
  'policy-related': 'refused',
  'relaying-issues': 'refused',
  'protocol-errors': 'refused',
  'bad-configuration': 'refused', // the remote host's configuration
  'invalid-sender': 'refused', // our sending domain's DNS
  other: 'not defined',
};

/** The reason a reporting MTA's own bounce category gives (PowerMTA's), or undefined. */
export function categoryReason(category: string): FailureReason | undefined {
  return category ? lookup(POWERMTA_CATEGORIES, category) : undefined;
}

// fml, the mailing-list manager, answers a post it will not distribute with a notice of its own, marked by its
// `X-MLServer: fml …` header, with no SMTP reply: a post from an address that is not a member ("You … are not
// member (… ML)", "You are not a member of this mailing list <list>") is the list's policy refusing it; "Loop
// Alert: Duplicated Message-ID" is the list having seen the message before (a mail loop). Either way the list
// address is the recipient that failed, and it is not the address's fault: soft.
const FML = /^\s*fml\b/i;
const LIST_NOTICES: ReadonlyArray<readonly [FailureReason, RegExp]> = [
  ['refused', /\bare not (?:a )?member\b/i],
  ['unreachable', /\bloop alert\b|\bduplicated message-id\b/i],
];
const BRACKETED_ADDRESS = /<([^\s<>@"]{1,64}@[^\s<>@"]{1,255})>/;

/** A mailing-list manager's notice (fml's): the list address, the reason its form gives, the sentence that says it. */
export function listNoticeIn(
  mail: MimePart,
  prose: string,
): { email: string; reason: FailureReason; diagnostic: string } | null {
  if (!FML.test(header(mail, 'x-mlserver'))) return null;
  const text = `${header(mail, 'subject')}\n${prose}`;
  const notice = LIST_NOTICES.find(([, words]) => words.test(text));
  if (!notice) return null;
  const line = text.split('\n').find((l) => notice[1].test(l) && BRACKETED_ADDRESS.test(l));
  const address = BRACKETED_ADDRESS.exec(line ?? prose)?.[1];
  if (!address) return null;
  const sentence = (line ?? text.split('\n').find((l) => notice[1].test(l)) ?? '').trim().slice(0, 200);
  return { email: address.toLowerCase(), reason: notice[0], diagnostic: sentence };
}
