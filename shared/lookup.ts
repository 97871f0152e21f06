// Reading a constant table by an untrusted key: own entries only, so that `constructor`, `__proto__` or
// `toString` from a provider or a mail is an unknown key, never a property of Object.prototype.

/** The table's own entry for `key`, or undefined. */
export function lookup<V>(table: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}
