// Locates files that ship beside the code (migrations), whether running from source or from dist/.
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The checkout's root: the nearest folder above this file that holds package.json. */
export function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`package.json not found above ${__dirname}`);
    dir = parent;
  }
  return dir;
}
