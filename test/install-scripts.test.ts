// Every dependency with an install script has a reviewed decision in package.json's allowScripts (npm 11).
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const read = (file: string) => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8'));

test('each package of the lockfile that has an install script is approved or denied in allowScripts', () => {
  const allow: Record<string, boolean> = read('package.json').allowScripts ?? {};
  const packages: Record<string, { hasInstallScript?: boolean }> = read('package-lock.json').packages;
  const withScripts = Object.entries(packages)
    .filter(([key, p]) => key !== '' && p.hasInstallScript)
    .map(([key]) => key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length));
  expect(withScripts.length).toBeGreaterThan(0);
  expect([...new Set(withScripts)].filter((name) => typeof allow[name] !== 'boolean')).toEqual([]);
});
