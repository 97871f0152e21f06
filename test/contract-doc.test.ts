// docs/CONTRACT.md stays in step with the code: every setting, public queue and command is in it, and
// every pointer to the contract in the repository leads to it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SETTINGS } from '../shared/config';
import { queues } from '../shared/queues';
import { cli } from './helpers/cli';

const ROOT = path.resolve(__dirname, '..');
const contract = readFileSync(path.join(ROOT, 'docs/CONTRACT.md'), 'utf8');

/** The subcommands a `--help` output lists under "Commands:". */
async function commandsOf(...group: string[]): Promise<string[]> {
  const help = await cli({}, ...group, '--help');
  expect(help.code).toBe(0);
  const section = help.stdout.split(/^Commands:$/m)[1] ?? '';
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
}

test('every setting of shared/config.ts is described', () => {
  const missing = SETTINGS.filter((name) => !contract.includes(`| \`${name}\``));
  expect(missing).toEqual([]);
});

test('every public queue has its section, and the internal ones are named as internal', () => {
  for (const q of queues) {
    if (q.visibility === 'public') expect(contract).toContain(`### \`${q.name}\``);
    else expect(contract).toMatch(new RegExp(`\\\`${q.name}\\\`[^.]*are internal`, 's'));
  }
});

test('every command of `campaign --help` is in the command table', async () => {
  const top = await commandsOf();
  const paths: string[] = [];
  for (const name of top) {
    const subs = await commandsOf(name);
    if (subs.length === 0) paths.push(name);
    for (const sub of subs) paths.push(`${name} ${sub}`);
  }
  expect(paths.length).toBeGreaterThan(15);
  const missing = paths.filter((p) => !contract.includes(`| \`${p}`) && !contract.includes(`/ \`${p}`));
  expect(missing).toEqual([]);
});

test('README links it, and nothing in the repository points elsewhere for the contract', () => {
  expect(readFileSync(path.join(ROOT, 'README.md'), 'utf8')).toContain('](docs/CONTRACT.md)');
  const name = ['CONTRACT', 'md'].join('.');
  const files = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n');
  const stray = files
    .filter((f) => /\.(ts|js|md|json|ya?ml)$/.test(f) && !f.startsWith('docs/'))
    .flatMap((f) =>
      readFileSync(path.join(ROOT, f), 'utf8')
        .split('\n')
        .map((line, i) => ({ where: `${f}:${i + 1}`, line }))
        .filter(
          ({ line }) =>
            line.includes(name) &&
            line
              .split(name)
              .slice(0, -1)
              .some((b) => !b.endsWith('docs/')),
        ),
    )
    .map((s) => s.where);
  expect(stray).toEqual([]);
});
