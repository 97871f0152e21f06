// Durations as the CLI and settings write them.
import fc from 'fast-check';
import { formatDuration, parseDuration } from './duration';

describe('parseDuration', () => {
  it.each([
    ['45s', 45_000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['3d', 259_200_000],
    ['1h30m', 5_400_000],
    ['1d12h', 129_600_000],
    [' 2h ', 7_200_000],
    ['0h5m', 300_000],
    ['250ms', 250],
    ['1s500ms', 1500],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5', 'h', '1.5h', '-1h', '1w', '3 d', '1H', '1h 30m', 'abc', '10 ms', '1.5ms'])(
    'refuses %j, saying what a duration looks like',
    (text) => {
      expect(() => parseDuration(text)).toThrow(
        /is not a duration; expected a number and a unit, e.g. 45s, 10m, 1h, 3d/,
      );
    },
  );

  it.each(['0s', '0d', '0h0m'])('refuses the zero duration %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/is zero; expected a positive duration/);
  });
});

describe('formatDuration', () => {
  it.each([
    [45_000, '45s'],
    [600_000, '10m'],
    [5_400_000, '90m'],
    [3_600_000, '1h'],
    [259_200_000, '3d'],
    [90_000, '90s'],
    [1500, '1500ms'],
  ])('writes %d ms as %s, in the largest exact unit', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('writes whole seconds so that parseDuration reads them back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), (seconds) => {
        expect(parseDuration(formatDuration(seconds * 1000))).toBe(seconds * 1000);
      }),
    );
  });
});
