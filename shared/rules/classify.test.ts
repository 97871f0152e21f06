// Unit tests for failure classification: real bounce lines from the big mailbox providers and MTAs.
import fc from 'fast-check';
import {
  classifyBounce,
  classifySmtp,
  FAILURE_REASONS,
  type FailureReason,
  type FailureType,
  parseSmtpResponse,
} from './classify';

interface BounceLine {
  proves: string;
  line: string;
  type: FailureType;
  reason: FailureReason;
}

const GMAIL_NO_SUCH_USER = [
  '550-5.1.1 The email account that you tried to reach does not exist. Please try',
  "550-5.1.1 double-checking the recipient's email address for typos or",
  '550-5.1.1 unnecessary spaces. Learn more at',
  '550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si123 - gsmtp',
].join('\r\n');

// biome-ignore format: one bounce line per row reads as a table
const bounceLines: BounceLine[] = [
  // Gmail
  { proves: 'Gmail 5.1.1 (multi-line) is a hard user unknown', line: GMAIL_NO_SUCH_USER, type: 'hard', reason: 'user unknown' },
  { proves: 'Gmail 4.2.2 over quota is a soft mailbox full', line: '452-4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp', type: 'soft', reason: 'mailbox full' },
  { proves: 'Gmail 5.2.1 disabled account is a hard account disabled', line: '550-5.2.1 The email account that you tried to reach is disabled. Learn more at https://support.google.com/mail/?p=DisabledUser', type: 'hard', reason: 'account disabled' },
  { proves: "Gmail 4.2.1 'receiving mail at a rate' is throttling (soft refused), not a disabled account", line: '450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. Please resend your message at a later time.', type: 'soft', reason: 'refused' },
  { proves: 'Gmail 5.7.1 unsolicited mail is a soft spam rejection', line: '550-5.7.1 [1.2.3.4] Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.', type: 'soft', reason: 'spam rejection' },
  { proves: "Gmail 5.7.26 unauthenticated sender is a soft refused (x.7.x other than 7.1, even with 'blocked')", line: '550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM.', type: 'soft', reason: 'refused' },
  { proves: 'Gmail 4.7.28 rate limiting is a soft refused', line: '421-4.7.28 [1.2.3.4] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited.', type: 'soft', reason: 'refused' },
  { proves: 'Gmail 5.2.3 is a hard message too large', line: "552-5.2.3 Your message exceeded Google's message size limits.", type: 'hard', reason: 'message too large' },
  // Outlook / Office 365
  { proves: "Outlook.com 5.5.0 'mailbox unavailable' is its reply for an address it does not have: hard user unknown", line: '550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [AM5EUR03FT020.eop-EUR03.prod.protection.outlook.com]', type: 'hard', reason: 'user unknown' },
  { proves: 'Outlook 5.7.1 blocked using Spamhaus is a soft spam rejection', line: '550 5.7.1 Service unavailable, Client host [1.2.3.4] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/1.2.3.4 (AS3130). [BN1NAM02FT034.eop-nam02.prod.protection.outlook.com]', type: 'soft', reason: 'spam rejection' },
  { proves: 'Office 365 RecipNotFound 5.1.1 is a hard user unknown', line: '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found', type: 'hard', reason: 'user unknown' },
  { proves: 'Office 365 5.4.4 nonexistent domain: x.4.x text may name an invalid domain', line: '550 5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain', type: 'hard', reason: 'invalid domain' },
  { proves: 'Office 365 5.2.2 quota is mailbox full and soft despite class 5', line: '554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded', type: 'soft', reason: 'mailbox full' },
  { proves: 'Office 365 5.7.606 banned IP is a soft refused (x.7.x other than 7.1)', line: '550 5.7.606 Access denied, banned sending IP [1.2.3.4]. To request removal from this list please visit https://sender.office.com/', type: 'soft', reason: 'refused' },
  { proves: 'Office 365 5.3.4 size limit is a hard message too large', line: '550 5.3.4 ROUTING.SizeLimit; message size exceeds fixed maximum size for route', type: 'hard', reason: 'message too large' },
  { proves: 'Exchange 5.7.1 relay denial without spam words is a soft refused', line: '550 5.7.1 Unable to relay', type: 'soft', reason: 'refused' },
  { proves: 'an Outlook automatic reply is ignored', line: 'Automatic reply: Thank you for your email. I will reply when I am back.', type: 'ignored', reason: 'out of office' },
  // Yahoo
  { proves: "Yahoo 554 'doesn't have a yahoo.com account' (no enhanced status) is a hard user unknown", line: "554 delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] - mta1234.mail.gq1.yahoo.com", type: 'hard', reason: 'user unknown' },
  { proves: 'Yahoo 4.7.0 TSS04 deferral is a soft refused', line: '421 4.7.0 [TSS04] Messages from 1.2.3.4 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes', type: 'soft', reason: 'refused' },
  { proves: 'Yahoo 554 disabled mailbox is a hard account disabled', line: '554 delivery error: dd Sorry your message to someone@yahoo.com cannot be delivered. This mailbox is disabled (554.30). - mta1234.mail.bf1.yahoo.com', type: 'hard', reason: 'account disabled' },
  { proves: "Yahoo's old '552 1 ... mailbox not found' is a hard user unknown", line: '552 1 Requested mail action aborted, mailbox not found', type: 'hard', reason: 'user unknown' },
  { proves: 'Yahoo 5.7.1 BL21 Spamhaus listing is a soft spam rejection', line: "553 5.7.1 [BL21] Connections will not be accepted from 1.2.3.4, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes", type: 'soft', reason: 'spam rejection' },
  { proves: 'a plain 4.2.2 mailbox full is soft', line: '452 4.2.2 Mailbox full', type: 'soft', reason: 'mailbox full' },
  // Postfix
  { proves: 'Postfix 5.1.1 virtual mailbox table is a hard user unknown', line: '550 5.1.1 <someone@example.com>: Recipient address rejected: User unknown in virtual mailbox table', type: 'hard', reason: 'user unknown' },
  { proves: 'Postfix 4.2.0 greylisting is a soft refused', line: '450 4.2.0 <someone@example.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.com.html', type: 'soft', reason: 'refused' },
  { proves: 'Postfix 5.7.1 relay access denied is a soft refused', line: '554 5.7.1 <someone@example.com>: Relay access denied', type: 'soft', reason: 'refused' },
  { proves: 'Postfix transient 4.1.1 (unverified address) is user unknown but soft: a 4xx never quarantines at once', line: '450 4.1.1 <someone@example.com>: Recipient address rejected: unverified address: connect to mx.example.com[1.2.3.4]:25: Connection timed out', type: 'soft', reason: 'user unknown' },
  { proves: 'Postfix 5.1.2 domain not found is a hard invalid domain', line: '550 5.1.2 <someone@nowhere.example>: Recipient address rejected: Domain not found', type: 'hard', reason: 'invalid domain' },
  { proves: 'Postfix host-not-found text without a code is a hard invalid domain', line: 'Host or domain name not found. Name service error for name=nowhere.example type=MX: Host not found, try again', type: 'hard', reason: 'invalid domain' },
  { proves: 'a connection timeout without a code is a soft unreachable', line: 'connect to mx.example.com[1.2.3.4]:25: Connection timed out', type: 'soft', reason: 'unreachable' },
  { proves: 'a 4.4.2 timeout is a soft unreachable (x.4.x)', line: '451 4.4.2 Timeout - closing connection', type: 'soft', reason: 'unreachable' },
  // Exim
  { proves: 'Exim 550 Unrouteable address is a hard invalid domain', line: '550 Unrouteable address', type: 'hard', reason: 'invalid domain' },
  { proves: 'Exim 552 message size exceeds maximum is a hard message too large', line: '552 Message size exceeds maximum permitted', type: 'hard', reason: 'message too large' },
  { proves: 'Exim/cPanel 550 No Such User Here is a hard user unknown', line: '550 No Such User Here', type: 'hard', reason: 'user unknown' },
  { proves: "Exim 451 'please try later' is a soft refused", line: '451 Temporary local problem - please try later', type: 'soft', reason: 'refused' },
  { proves: "Exim 550 administrative prohibition (its ACL 'deny' text) is a soft refused", line: '550 Administrative prohibition', type: 'soft', reason: 'refused' },
  // Mimecast
  { proves: 'Mimecast 550 Invalid Recipient is a hard user unknown', line: '550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550 [aBcD123.uk1]', type: 'hard', reason: 'user unknown' },
  { proves: 'Mimecast 550 envelope blocked is a soft spam rejection', line: '550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550 [aBcD123.uk1]', type: 'soft', reason: 'spam rejection' },
  { proves: "Mimecast 554 'rejected due to security policies' is a soft refused: the policy, not the address", line: '554 Email rejected due to security policies - https://community.mimecast.com/docs/DOC-1369#554 [aBcD123.us1]', type: 'soft', reason: 'refused' },
  { proves: 'Mimecast 451 resource unavailable is not defined, soft from class 4', line: '451 Internal resource temporarily unavailable - https://community.mimecast.com/docs/DOC-1369#451', type: 'soft', reason: 'not defined' },
  // qmail, Sendmail, RFC 7504
  { proves: "qmail's 'couldn't find a mail exchanger' under 5.4.4 is a hard invalid domain", line: "<a@nowhere.example>: Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)", type: 'hard', reason: 'invalid domain' },
  { proves: "Sendmail's 'Host unknown' is a hard invalid domain", line: '550 Host unknown (Authoritative answer from name server)', type: 'hard', reason: 'invalid domain' },
  { proves: "RFC 7504's 'Host does not accept mail' is a hard invalid domain", line: '550 Host does not accept mail', type: 'hard', reason: 'invalid domain' },
  { proves: 'a system not accepting network messages (5.3.2) is the host refusing all mail: invalid domain', line: '521 5.3.2 <a@b.example>: Recipient address rejected: System not accepting network messages', type: 'hard', reason: 'invalid domain' },
  { proves: "Exim's 'Unroutable sender address' is the sender's: soft refused", line: '550 Unroutable sender address', type: 'soft', reason: 'refused' },
  { proves: "a 'From: Domain is invalid' refusal is the sender's: soft refused", line: '550 5.2.0 <a@b.example> From: Domain is invalid. Please provide a valid From:', type: 'soft', reason: 'refused' },
  { proves: 'a daily relay quota is a rate limit: soft refused, not a full mailbox', line: "554 You've reached your daily relay quota - 203.0.113.1", type: 'soft', reason: 'refused' },
  { proves: 'an SPF refusal under 5.1.0 is the sender\'s: soft refused', line: "550 5.1.0 192.0.2.1 is not allowed to send from <x.example> per it's SPF Record", type: 'soft', reason: 'refused' },
  { proves: "Microsoft's SC-004 block text is a soft spam rejection", line: "550 SC-004 (COL0-MC1-F1) Unfortunately, messages from 192.0.2.1 weren't sent. Please contact your Internet service provider.", type: 'soft', reason: 'spam rejection' },
  { proves: "Microsoft's 5.1.10 RecipientNotFound is a hard user unknown (not a null MX)", line: '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup', type: 'hard', reason: 'user unknown' },
  { proves: 'a 554 service currently unavailable is a soft unreachable', line: '554 Service currently unavailable', type: 'soft', reason: 'unreachable' },
  { proves: 'a rate limit outranks the "blocked" that comes with it (Tencent)', line: '550 Ip frequency limited [Blocked IP 192.0.2.1]', type: 'soft', reason: 'refused' },
  { proves: "Gmail's 5.7.1 'not RFC 5322 compliant' is a refusal, though it names spam", line: '550-5.7.1 This message is not RFC 5322 compliant. There are multiple Subject headers. To reduce the amount of spam sent to Gmail, this message has been blocked.', type: 'soft', reason: 'refused' },
  // Stage, syntax and the destination's own trouble
  { proves: "a 501 (malformed argument) naming an invalid domain is no verdict on the address: soft refused", line: "501 5.0.0 Invalid domain name", type: 'soft', reason: 'refused' },
  { proves: 'a 501 with a bad-mailbox-syntax status (5.1.3) is about the address: hard user unknown', line: '501 5.1.3 Bad recipient address syntax', type: 'hard', reason: 'user unknown' },
  { proves: "Facebook's RCP-P2 under 5.1.1 (the recipient's preferences refuse it) is a soft refusal", line: "550 5.1.1 RCP-P2 https://www.facebook.com/postmaster/response_codes?ip=192.0.2.1#rcp The attempted recipient's preferences prevent messages from being delivered", type: 'soft', reason: 'refused' },
  { proves: "Exim's null-MX text ('an MX or SRV record indicated no SMTP service') is a hard invalid domain", line: 'an MX or SRV record indicated no SMTP service', type: 'hard', reason: 'invalid domain' },
  { proves: "'User not exist' is a hard user unknown", line: '550 <a@b.example>... User not exist', type: 'hard', reason: 'user unknown' },
  { proves: "Gmail's notice 'the address couldn't be found' is a hard user unknown", line: "Your message wasn't delivered to a@b.example because the address couldn't be found, or is unable to receive mail.", type: 'hard', reason: 'user unknown' },
  { proves: "a connection timeout outranks the 'Deferred:' that comes with it: soft unreachable", line: '421 b.example (smtp)... Deferred: Connection timed out during user open with b.example', type: 'soft', reason: 'unreachable' },
  { proves: "Exim's failed 'pipe to |program' is the destination's own trouble: soft unreachable, not a class-5 not defined", line: 'pipe to |/usr/local/bin/filter a@b.example generated by a@b.example Child process of pipe returned 1', type: 'soft', reason: 'unreachable' },
  // Vague codes and answers
  { proves: "5.1.0 with 'mailbox unavailable' is a hard user unknown", line: '550 5.1.0 Address rejected: mailbox unavailable', type: 'hard', reason: 'user unknown' },
  { proves: "5.0.0 with 'recipient rejected' lets the text decide: user unknown", line: '550 5.0.0 Recipient rejected', type: 'hard', reason: 'user unknown' },
  { proves: "550 'mailbox unavailable' without an enhanced status is not defined (RFC 5321's stock text)", line: '550 Requested action not taken: mailbox unavailable', type: 'hard', reason: 'not defined' },
  { proves: 'an out-of-office answer with a class 5 code is still ignored', line: '550 5.0.0 Auto-reply: I am out of the office until Monday', type: 'ignored', reason: 'out of office' },
  { proves: 'a vacation notice without a code is ignored', line: 'Out of Office: on vacation until 3 January with limited access to email', type: 'ignored', reason: 'out of office' },
  { proves: 'a spam complaint is on denylist (hard)', line: 'spam complaint from the recipient (feedback loop)', type: 'hard', reason: 'on denylist' },
  { proves: 'an empty reply is not defined and soft (no code: vague)', line: '', type: 'soft', reason: 'not defined' },
];

describe('classifySmtp on real bounce lines', () => {
  test.each(bounceLines)('$proves', ({ line, type, reason }) => {
    expect(classifySmtp(parseSmtpResponse(line))).toEqual({ type, reason });
    // An MTA event that carries only the raw line as its diagnostic classifies the same way.
    expect(classifySmtp({ diagnostic: line })).toEqual({ type, reason });
  });
});

describe('classifySmtp on structured fields', () => {
  // biome-ignore format: one case per row reads as a table
  test.each([
    { proves: 'the enhanced status alone picks the reason', failure: { enhancedStatus: '5.1.1' }, type: 'hard', reason: 'user unknown' },
    { proves: "the server's own status in the diagnostic wins over a report's status", failure: { enhancedStatus: '5.1.1', diagnostic: "550 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org" }, type: 'soft', reason: 'spam rejection' },
    { proves: "a report's vague 5.0.0 gives way to the server's 5.2.2", failure: { enhancedStatus: '5.0.0', diagnostic: '552 5.2.2 Mailbox full' }, type: 'soft', reason: 'mailbox full' },
    { proves: "the server's vague 5.0.0 gives way to a report's specific 5.1.1", failure: { enhancedStatus: '5.1.1', diagnostic: '550 5.0.0 rejected' }, type: 'hard', reason: 'user unknown' },
    { proves: "a transient server reply stays soft under a report's permanent status", failure: { enhancedStatus: '5.4.7', diagnostic: '451 4.4.1 Connection timed out' }, type: 'soft', reason: 'unreachable' },
    { proves: "SES's summary before the server's quoted reply gives way to it", failure: { enhancedStatus: '5.0.0', diagnostic: "5.1.0 - Unknown address error 550-'5.2.2 <a@b.example>... Mailbox Full' (delivery attempts: 0)" }, type: 'soft', reason: 'mailbox full' },
    { proves: 'a version number in the text is no status (subjects are 0 to 7)', failure: { enhancedStatus: '5.1.1', diagnostic: 'delivered by Exim 4.92.3: no such user' }, type: 'hard', reason: 'user unknown' },
    { proves: "a user unknown in reply to DATA is a filter: the address passed RCPT TO", failure: { enhancedStatus: '5.0.0', diagnostic: '550 Unknown user', command: 'DATA' }, type: 'soft', reason: 'refused' },
    { proves: "a user unknown in reply to BDAT (CHUNKING's DATA) is a filter's too", failure: { diagnostic: '550 5.1.1 User unknown', command: 'BDAT' }, type: 'soft', reason: 'refused' },
    { proves: "Exim's 'after end of data' counts as the command", failure: { diagnostic: 'SMTP error from remote mail server after end of data: 550 5.1.1 User unknown' }, type: 'soft', reason: 'refused' },
    { proves: "Postfix's '(in reply to end of DATA command)' counts as the command", failure: { diagnostic: 'host mx.example[192.0.2.1] said: 550 5.1.1 User unknown (in reply to end of DATA command)' }, type: 'soft', reason: 'refused' },
    { proves: 'a refusal of MAIL FROM is the sender\'s, whatever words blame an address', failure: { diagnostic: '553 5.1.0 mx.x.example does not exist', command: 'MAIL' }, type: 'soft', reason: 'refused' },
    { proves: 'a refusal at EHLO is the sending host\'s', failure: { diagnostic: '550 5.1.2 Host unknown', command: 'EHLO' }, type: 'soft', reason: 'refused' },
    { proves: "a 'user unknown' with an empty address slot ('550 : User unknown') is a filter's answer to the message", failure: { diagnostic: '550 : User unknown' }, type: 'soft', reason: 'refused' },
    { proves: "a 'user unknown' under 5.2.1 (RFC 3463: the mailbox exists) with no stage named is a filter's: soft refused", failure: { enhancedStatus: '5.2.1', diagnostic: '550 5.2.1 <a@b.example>... User Unknown' }, type: 'soft', reason: 'refused' },
    { proves: "a 'no such user' beside a report's 5.2.0 (the mailbox exists) is a soft refused", failure: { enhancedStatus: '5.2.0', diagnostic: '550 No such user here' }, type: 'soft', reason: 'refused' },
    { proves: "the same 5.2.1 'User Unknown' in reply to RCPT TO stays a hard user unknown", failure: { enhancedStatus: '5.2.1', diagnostic: '550 5.2.1 <a@b.example>... User Unknown', command: 'RCPT' }, type: 'hard', reason: 'user unknown' },
    { proves: "5.2.1 with a disabled mailbox's words stays account disabled", failure: { diagnostic: '550 5.2.1 This mailbox has been disabled' }, type: 'hard', reason: 'account disabled' },
    { proves: "Orange's documented OFR_506 under the words 'Mail rejected' is a spam verdict: soft spam rejection", failure: { diagnostic: '550 5.2.0 Mail rejete. Mail rejected. OFR004_506 [506]' }, type: 'soft', reason: 'spam rejection' },
    { proves: "La Poste's LPN…_417 is a full mailbox, whatever the status", failure: { diagnostic: '552 5.1.1 Boite du destinataire pleine. Recipient overquota. LPN007_417 (in reply to RCPT TO command)' }, type: 'soft', reason: 'mailbox full' },
    { proves: "Orange's OFR…_104 is too many connections: soft refused", failure: { diagnostic: '421 mwinf0000 ME Trop de connexions. Too many connections, slow down. OFR005_104 [104]' }, type: 'soft', reason: 'refused' },
    { proves: "an Orange code whose meaning is not published leaves the words to decide", failure: { diagnostic: '421 4.2.0 Service refuse. Veuillez essayer plus tard. Service refused, please try later. OFR001_109 [109]' }, type: 'soft', reason: 'refused' },
    { proves: "Yahoo's 'delivery error: dd … doesn't have a … account' at the end of DATA is Yahoo's documented verdict on the address: hard", failure: { diagnostic: "554 delivery error: dd This user doesn't have a ymail.com account (a@ymail.com) [0] - mta7.mail.example.yahoo.com", command: 'DATA' }, type: 'hard', reason: 'user unknown' },
    { proves: "Yahoo's dd prefix on a full mailbox stays a soft mailbox full", failure: { diagnostic: '554 delivery error: dd Requested mail action aborted, mailbox is full - mta7.mail.example.yahoo.com', command: 'DATA' }, type: 'soft', reason: 'mailbox full' },
    { proves: "the same words naming the address at RCPT TO stay a hard user unknown", failure: { diagnostic: '550 <a@b.example>: User unknown', command: 'RCPT' }, type: 'hard', reason: 'user unknown' },
    { proves: "Postfix's 'refused to talk to me: 421' is the server refusing the sending host at its greeting: soft refused", failure: { diagnostic: 'delivery temporarily suspended: connect to mx.b.example[192.0.2.1]: server refused to talk to me: 421 Service not available, closing transmission channel' }, type: 'soft', reason: 'refused' },
    { proves: "'Access denied' under a routing status (5.4.1) is a server refusing, not a network fault: soft refused", failure: { diagnostic: '550 5.4.1 All recipient addresses rejected : Access denied [AM0EUR00FT001.eop-eur00.prod.protection.example.com]' }, type: 'soft', reason: 'refused' },
    { proves: "DMA's 'DNS lookup failure: host <name> not found' is the DNS saying the name does not exist: invalid domain", failure: { diagnostic: 'DNS lookup failure: host mail.nowhere.example not found' }, type: 'hard', reason: 'invalid domain' },
    { proves: "Messaging Server's 'Illegal host/domain name found' under 5.4.4 is an invalid domain", failure: { enhancedStatus: '5.4.4', diagnostic: 'Illegal host/domain name found' }, type: 'hard', reason: 'invalid domain' },
    { proves: "a 'host <name> not found, try again' is a lookup to retry, not a missing domain", failure: { enhancedStatus: '4.4.3', diagnostic: 'DNS lookup failure: host mx.b.example not found, try again' }, type: 'soft', reason: 'unreachable' },
    { proves: 'a spam verdict stated as the cause outranks the SPF advice after it: soft spam rejection', failure: { enhancedStatus: '5.0.0', diagnostic: 'Your message to the list was rejected due to spam classification. Set up SPF records for your sending domain.' }, type: 'soft', reason: 'spam rejection' },
    { proves: 'an SPF failure that is the cause stays a refusal, even with the word spam nearby', failure: { diagnostic: '550 5.7.23 The message was rejected because of Sender Policy Framework violation (SPF fail); see our spam policy' }, type: 'soft', reason: 'refused' },
    { proves: 'x.3.x is the receiving system at fault: soft unreachable', failure: { enhancedStatus: '5.3.5', diagnostic: '550 system incorrectly configured' }, type: 'soft', reason: 'unreachable' },
    { proves: 'x.5.x protocol trouble is a soft refused', failure: { diagnostic: '504 5.5.4 Command parameter not implemented' }, type: 'soft', reason: 'refused' },
    { proves: "a sender refusal under a recipient status is the sender's: refused", failure: { diagnostic: '553 5.1.8 <news@x.example>: Sender address rejected: Domain not found' }, type: 'soft', reason: 'refused' },
    { proves: 'a blocklist named under 5.1.1 is about the sender: spam rejection', failure: { enhancedStatus: '5.1.1', diagnostic: '553 http://www.spamhaus.org/query/bl?ip=192.0.2.1' }, type: 'soft', reason: 'spam rejection' },
    { proves: "words of an unknown user under 5.7.1 stay a soft refusal: RFC 3463's 5.7.1 covers per-recipient filters", failure: { diagnostic: '550 5.7.1 <a@b.example>: Recipient address rejected: User unknown' }, type: 'soft', reason: 'refused' },
    { proves: 'words of an unknown user overrule a vague policy status (5.7.0)', failure: { diagnostic: '550 5.7.0 No such user!' }, type: 'hard', reason: 'user unknown' },
    { proves: "Microsoft 365's 5.4.1 'Recipient address rejected: Access denied' is its directory not knowing the address", failure: { diagnostic: '550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [DB5EUR03FT013.eop-EUR03.prod.protection.outlook.com]' }, type: 'hard', reason: 'user unknown' },
    { proves: 'a malformed status is ignored and the code decides the class', failure: { smtpCode: 550, enhancedStatus: 'five.one.one' }, type: 'hard', reason: 'not defined' },
    { proves: "a '#'-prefixed status with spaces is read", failure: { enhancedStatus: ' #5.1.2 ' }, type: 'hard', reason: 'invalid domain' },
    { proves: 'a success code is no failure class: vague, soft', failure: { smtpCode: 250 }, type: 'soft', reason: 'not defined' },
    { proves: 'a 4xx code makes account disabled soft', failure: { smtpCode: 450, enhancedStatus: '4.2.1', diagnostic: 'account disabled' }, type: 'soft', reason: 'account disabled' },
    { proves: 'no evidence at all is a soft not defined', failure: {}, type: 'soft', reason: 'not defined' },
  ] as const)('$proves', ({ failure, type, reason }) => {
    expect(classifySmtp(failure)).toEqual({ type, reason });
  });

  test('never throws and always answers with a known reason, whatever the input', () => {
    const failure = fc.record(
      { smtpCode: fc.integer({ min: -1, max: 1000 }), enhancedStatus: fc.string(), diagnostic: fc.string() },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(failure, (input) => {
        const { reason, type } = classifySmtp(input);
        expect(FAILURE_REASONS).toContain(reason);
        expect(['hard', 'soft', 'ignored']).toContain(type);
      }),
    );
  });
});

describe('classifyBounce: the reason decides the type, the declared type only a not-defined reason', () => {
  test("docs/CONTRACT.md's example: a hard_bounce with 552 5.2.2 mailbox full is soft, and says why", () => {
    expect(
      classifyBounce('hard_bounce', { smtpCode: 552, enhancedStatus: '5.2.2', diagnostic: 'mailbox full' }),
    ).toEqual({
      type: 'soft',
      reason: 'mailbox full',
      disagreement:
        "The MTA reported a hard bounce, but the reason 'mailbox full' (SMTP status 5.2.2) makes it soft.",
    });
  });

  // biome-ignore format: one case per row reads as a table
  test.each([
    { proves: 'a soft_bounce carrying 5.1.1 user unknown is hard', eventType: 'soft_bounce', failure: { smtpCode: 550, enhancedStatus: '5.1.1', diagnostic: '<a@b.example>: user unknown' }, type: 'hard', reason: 'user unknown', disagrees: true },
    { proves: 'a hard_bounce with 4.2.2 is soft (mailbox full)', eventType: 'hard_bounce', failure: { smtpCode: 452, enhancedStatus: '4.2.2' }, type: 'soft', reason: 'mailbox full', disagrees: true },
    { proves: 'a hard_bounce with a 4xx user unknown is soft: a 4xx is never hard', eventType: 'hard_bounce', failure: { smtpCode: 450, enhancedStatus: '4.1.1' }, type: 'soft', reason: 'user unknown', disagrees: true },
    { proves: 'a hard_bounce with a 4xx and no reason is soft: a 4xx is never hard', eventType: 'hard_bounce', failure: { smtpCode: 451 }, type: 'soft', reason: 'not defined', disagrees: true },
    { proves: 'a hard_bounce refused by policy (5.7.1 relay denied) is soft', eventType: 'hard_bounce', failure: { diagnostic: '554 5.7.1 <a@b.example>: Relay access denied' }, type: 'soft', reason: 'refused', disagrees: true },
    { proves: 'a soft_bounce with only a 5xx code keeps its declared type: the reason is not defined', eventType: 'soft_bounce', failure: { smtpCode: 554 }, type: 'soft', reason: 'not defined', disagrees: false },
    { proves: 'a hard_bounce with only a 5xx code is hard', eventType: 'hard_bounce', failure: { smtpCode: 554 }, type: 'hard', reason: 'not defined', disagrees: false },
    { proves: 'the code inside the diagnostic counts as evidence', eventType: 'soft_bounce', failure: { diagnostic: 'smtp; 550 5.1.1 <a@b.example>: Recipient address rejected: User unknown' }, type: 'hard', reason: 'user unknown', disagrees: true },
    { proves: 'a hard_bounce with 5.1.1 agrees', eventType: 'hard_bounce', failure: { smtpCode: 550, enhancedStatus: '5.1.1' }, type: 'hard', reason: 'user unknown', disagrees: false },
    { proves: 'a soft_bounce with 4.2.2 agrees', eventType: 'soft_bounce', failure: { smtpCode: 452, enhancedStatus: '4.2.2' }, type: 'soft', reason: 'mailbox full', disagrees: false },
    { proves: 'a hard_bounce without evidence is a hard not defined', eventType: 'hard_bounce', failure: {}, type: 'hard', reason: 'not defined', disagrees: false },
    { proves: 'a soft_bounce without evidence is a soft not defined', eventType: 'soft_bounce', failure: {}, type: 'soft', reason: 'not defined', disagrees: false },
    { proves: "a provider's own reason decides (SES MailboxFull on a hard_bounce): soft", eventType: 'hard_bounce', failure: { reason: 'mailbox full' }, type: 'soft', reason: 'mailbox full', disagrees: true },
    { proves: "a provider's reason wins over vaguer evidence", eventType: 'hard_bounce', failure: { reason: 'user unknown', diagnostic: '550 5.4.1 Access denied' }, type: 'hard', reason: 'user unknown', disagrees: false },
    { proves: "a provider's hard reason on a 4xx reply is still soft", eventType: 'hard_bounce', failure: { reason: 'user unknown', smtpCode: 450 }, type: 'soft', reason: 'user unknown', disagrees: true },
    { proves: "a provider's 'not defined' leaves the reason to the evidence", eventType: 'hard_bounce', failure: { reason: 'not defined', diagnostic: '552 5.2.2 over quota' }, type: 'soft', reason: 'mailbox full', disagrees: true },
    { proves: 'an out-of-office hard_bounce is ignored', eventType: 'hard_bounce', failure: { smtpCode: 550, diagnostic: 'Automatic reply: out of office' }, type: 'ignored', reason: 'out of office', disagrees: false },
    { proves: 'an out-of-office soft_bounce is ignored', eventType: 'soft_bounce', failure: { diagnostic: 'I am on vacation' }, type: 'ignored', reason: 'out of office', disagrees: false },
    { proves: "an out-of-office text is ignored whatever the provider's reason", eventType: 'hard_bounce', failure: { reason: 'user unknown', diagnostic: 'auto-reply: back on Monday' }, type: 'ignored', reason: 'out of office', disagrees: false },
  ] as const)('$proves', ({ eventType, failure, type, reason, disagrees }) => {
    const result = classifyBounce(eventType, failure);
    expect({ type: result.type, reason: result.reason }).toEqual({ type, reason });
    expect(result.disagreement !== undefined).toBe(disagrees);
    expect(result.disagreement ?? '').not.toContain('@');
  });

  test("the type is always the reason's own, whatever the declared type (4xx never hard)", () => {
    const failure = fc.record(
      {
        smtpCode: fc.integer({ min: 400, max: 599 }),
        enhancedStatus: fc.constantFrom('5.1.1', '5.2.2', '4.2.2', '5.7.1', '5.0.0', '4.4.7', '5.3.4'),
        diagnostic: fc.constantFrom('user unknown', 'mailbox full', 'spam', 'over quota', '', 'rejected'),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(failure, (input) => {
        const hard = classifyBounce('hard_bounce', input);
        const soft = classifyBounce('soft_bounce', input);
        if (hard.reason !== 'not defined')
          expect(hard).toMatchObject({ type: soft.type, reason: soft.reason });
        expect(hard.reason).toBe(soft.reason);
        const smtp = classifySmtp(input);
        if (smtp.reason !== 'not defined') expect(hard.type).toBe(smtp.type);
        const transient = input.smtpCode !== undefined && input.smtpCode < 500;
        if (transient && !input.enhancedStatus?.startsWith('5')) expect(hard.type).not.toBe('hard');
      }),
    );
  });
});

describe('parseSmtpResponse', () => {
  // biome-ignore format: one case per row reads as a table
  test.each([
    { proves: 'a Gmail multi-line reply is joined without its continuation prefixes', text: GMAIL_NO_SUCH_USER, expected: { smtpCode: 550, enhancedStatus: '5.1.1', diagnostic: "The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. Learn more at https://support.google.com/mail/?p=NoSuchUser a1si123 - gsmtp" } },
    { proves: 'a one-line reply gives code, status and text', text: '452 4.2.2 Mailbox full', expected: { smtpCode: 452, enhancedStatus: '4.2.2', diagnostic: 'Mailbox full' } },
    { proves: 'a reply without enhanced status gives code and text', text: '550 Unrouteable address', expected: { smtpCode: 550, diagnostic: 'Unrouteable address' } },
    { proves: "a DSN 'smtp;' prefix is skipped", text: 'smtp; 550 5.1.1 user unknown', expected: { smtpCode: 550, enhancedStatus: '5.1.1', diagnostic: 'user unknown' } },
    { proves: 'a reply embedded after other text is found', text: "Can't send mail - all recipients were rejected: 550 5.1.1 <a@b.example>: User unknown", expected: { smtpCode: 550, enhancedStatus: '5.1.1', diagnostic: '<a@b.example>: User unknown' } },
    { proves: 'a bare status without a code is found, not an IP address', text: 'rejected by 10.1.2.3 with status 5.7.1 (policy)', expected: { enhancedStatus: '5.7.1', diagnostic: 'rejected by 10.1.2.3 with status 5.7.1 (policy)' } },
    { proves: 'a lone code is a code', text: '421', expected: { smtpCode: 421 } },
    { proves: 'text without any code is all diagnostic', text: '  Connection timed out  ', expected: { diagnostic: 'Connection timed out' } },
    { proves: 'an empty text gives nothing', text: '', expected: {} },
  ])('$proves', ({ text, expected }) => {
    expect(parseSmtpResponse(text)).toEqual(expected);
  });
});
