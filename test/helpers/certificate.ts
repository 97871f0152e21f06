// A self-signed certificate made by openssl for a test (two days, RSA 2048, no passphrase): the console's own
// TLS, the SNS signatures the feedback receiver checks.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** Writes cert.pem and key.pem into `dir` for the subject (e.g. `/CN=localhost`), with extra `-addext` values. */
export function selfSignedCertificate(
  dir: string,
  subject: string,
  extensions: string[] = [],
): { certFile: string; keyFile: string } {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile],
      ...['-subj', subject, '-days', '2'],
      ...extensions.flatMap((e) => ['-addext', e]),
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile };
}
