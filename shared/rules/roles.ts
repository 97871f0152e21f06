// The operator roles, named once (pure): what each lets an operator do, and the sentence that refuses an action.

/** Confirm (start) deliveries: the reference product's "start deliveries" right. */
export const START_ROLE = 'start-deliveries';
/** See recipients' addresses: sending logs, profiles, quarantine entries, dead-letter payloads. */
export const READ_ADDRESSES_ROLE = 'read-addresses';
/** Release an address from quarantine. */
export const RELEASE_ROLE = 'release-quarantine';
/** Enqueue a dead letter again on its queue. */
export const REPLAY_ROLE = 'replay-dead-letters';

/** Every role an operator can be given, with what it allows; `operator add --role` accepts only these. */
export const ROLE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  [START_ROLE]: 'confirm deliveries',
  [READ_ADDRESSES_ROLE]: 'see recipient addresses',
  [RELEASE_ROLE]: 'release addresses from quarantine',
  [REPLAY_ROLE]: 'replay dead letters',
};

export const OPERATOR_ROLES: readonly string[] = Object.keys(ROLE_DESCRIPTIONS);

/** The console's refusal of an action the operator's roles do not allow; null when they do. */
export function roleRefusal(roles: readonly string[], role: string): string | null {
  if (roles.includes(role)) return null;
  if (role === START_ROLE) return `you do not have the rights to start deliveries (role ${START_ROLE})`;
  return `you do not have the rights to ${ROLE_DESCRIPTIONS[role] ?? role} (role ${role})`;
}
