// Amazon SNS message signatures (SignatureVersion 1: SHA1, 2: SHA256) and the hosts we accept URLs from.
// docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
import { createVerify } from 'node:crypto';
import { BadPayload, record, text } from './translate';

/** The fields of an SNS HTTP message that the signature covers, plus the signature itself. */
export interface SnsMessage {
  Type: string;
  MessageId: string;
  TopicArn: string;
  Subject?: string;
  Message: string;
  Timestamp: string;
  Token?: string;
  SubscribeURL?: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
}

/** A message whose signature does not verify: answered 403. */
export class BadSignature extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadSignature';
  }
}

/** Reads an SNS message's envelope; a missing field is a bad payload. */
export function readSnsMessage(body: unknown): SnsMessage {
  const m = record(body);
  const required = ['Type', 'MessageId', 'TopicArn', 'Message', 'Timestamp', 'SignatureVersion', 'Signature'];
  const missing = required.filter((k) => typeof m?.[k] !== 'string');
  if (!m || missing.length > 0)
    throw new BadPayload(`not an SNS message: ${missing.join(', ') || 'body'} missing`);
  const certUrl = text(m.SigningCertURL) ?? text(m.SigningCertUrl);
  if (!certUrl) throw new BadPayload('not an SNS message: SigningCertURL missing');
  return { ...(m as unknown as SnsMessage), SigningCertURL: certUrl, SubscribeURL: text(m.SubscribeURL) };
}

/** The string SNS signs: chosen fields, each as "Name\nvalue\n", in byte order of the names. */
export function stringToSign(m: SnsMessage): string {
  const fields =
    m.Type === 'Notification'
      ? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type']
      : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  let out = '';
  for (const f of fields) {
    const value = m[f as keyof SnsMessage];
    // A field SNS left out (absent or null) is not signed; "null" would never verify.
    if (value !== undefined && value !== null) out += `${f}\n${value}\n`;
  }
  return out;
}

// Regional SNS endpoints only (sns.eu-west-1.amazonaws.com, sns.us-gov-west-1…, sns.cn-north-1….cn): a looser
// pattern such as sns.<anything>.amazonaws.com also matches S3 endpoints anyone can host files on.
const SNS_HOST = /^sns\.[a-z]{2}(-gov)?-[a-z]+-\d\.amazonaws\.com(\.cn)?$/;
const CERT_PATH = /^\/SimpleNotificationService-[0-9a-f]+\.pem$/;

function parse(raw: string): URL | null {
  try {
    return new URL(raw);
  } catch {
    return null;
  }
}

const onTestHost = (url: URL, testHosts: readonly string[]) =>
  testHosts.includes(url.host) && (url.protocol === 'http:' || url.protocol === 'https:');

const onSnsHost = (url: URL) =>
  url.protocol === 'https:' && SNS_HOST.test(url.hostname) && url.port === '' && url.username === '';

/**
 * Whether SNS may make us fetch this certificate: https on an SNS regional host, a certificate's path and
 * no query (each distinct URL costs a fetch), or, only where the test override names it, a test server.
 */
export function allowedCertUrl(raw: string, testHosts: readonly string[]): boolean {
  const url = parse(raw);
  if (!url) return false;
  if (onTestHost(url, testHosts)) return true;
  return onSnsHost(url) && CERT_PATH.test(url.pathname) && url.search === '';
}

/** Whether a SubscribeURL may be fetched: SNS's ConfirmSubscription action on an SNS regional host. */
export function allowedSubscribeUrl(raw: string, testHosts: readonly string[]): boolean {
  const url = parse(raw);
  if (!url) return false;
  if (onTestHost(url, testHosts)) return true;
  return onSnsHost(url) && url.pathname === '/' && url.searchParams.get('Action') === 'ConfirmSubscription';
}

/** Verifies the signature with the certificate PEM; throws BadSignature when it does not match. */
export function verifySignature(m: SnsMessage, certificatePem: string): void {
  const algorithm =
    m.SignatureVersion === '1' ? 'RSA-SHA1' : m.SignatureVersion === '2' ? 'RSA-SHA256' : null;
  if (!algorithm) throw new BadSignature(`SignatureVersion ${m.SignatureVersion} is not 1 or 2`);
  const verifier = createVerify(algorithm);
  verifier.update(stringToSign(m), 'utf8');
  let ok = false;
  try {
    ok = verifier.verify(certificatePem, m.Signature, 'base64');
  } catch {
    ok = false;
  }
  if (!ok) throw new BadSignature('the SNS signature does not verify');
}
