// The confirm refusals: one sentence per reason, shared by the worker and the command line.
import { type ConfirmableRow, deliveryRefusal, operatorRefusal } from './confirm';

const now = new Date('2026-11-24T12:00:00Z');
const prepared: ConfirmableRow = {
  state: 'prepared',
  confirmedBy: null,
  confirmedAt: null,
  stateReason: null,
  supersededAt: null,
  executionEnds: null,
};

test('operatorRefusal: an unknown login says how to create it; a login without the role says which', () => {
  expect(operatorRefusal('alice', ['start-deliveries'])).toBeNull();
  expect(operatorRefusal('bob', [])).toBe('operator bob lacks the role start-deliveries');
  expect(operatorRefusal('nobody', null)).toBe(
    'operator nobody lacks the role start-deliveries (no such operator; create it with: campaign operator add nobody --role start-deliveries)',
  );
});

test('deliveryRefusal: only a prepared delivery, not superseded nor past its validity, may be confirmed', () => {
  expect(deliveryRefusal('7', prepared, now)).toBeNull();
  expect(deliveryRefusal('7', undefined, now)).toBe('delivery 7 not found');
  expect(
    deliveryRefusal(
      '7',
      { ...prepared, state: 'sent', confirmedBy: 'alice', confirmedAt: new Date('2026-11-24T10:00:00Z') },
      now,
    ),
  ).toBe(
    'delivery 7 is not prepared (it is sent, confirmed by alice at 2026-11-24T10:00:00.000Z); nothing was changed',
  );
  expect(
    deliveryRefusal('7', { ...prepared, state: 'stopped', stateReason: 'stopped by an operator' }, now),
  ).toBe('delivery 7 is not prepared (it is stopped: stopped by an operator); nothing was changed');
  expect(
    deliveryRefusal('7', { ...prepared, supersededAt: new Date('2026-11-24T11:00:00Z') }, now),
  ).toContain('whose next occurrence came at 2026-11-24T11:00:00.000Z; it is never sent late');
  expect(deliveryRefusal('7', { ...prepared, executionEnds: now }, now)).toContain(
    'whose validity period ended at 2026-11-24T12:00:00.000Z',
  );
  expect(deliveryRefusal('7', { ...prepared, executionEnds: new Date(now.getTime() + 1) }, now)).toBeNull();
});
