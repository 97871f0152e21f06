// KPI arithmetic of the delivery tile.
import { type KpiCounters, kpiTile, rate } from './kpi';

const counters = (c: Partial<KpiCounters>): KpiCounters => ({
  toSend: 0,
  sent: 0,
  delivered: 0,
  failed: 0,
  opens: 0,
  clicks: 0,
  ...c,
});

describe('rate', () => {
  it.each([
    [0, 0, 0],
    [5, 0, 0],
    [0, 7, 0],
    [1, 3, 0.3333],
    [2, 3, 0.6667],
    [350, 370, 0.9459],
    [20, 370, 0.0541],
    [5, 5, 1],
    [1, 20_000, 0.0001],
    [1, 30_000, 0],
  ])('%d of %d is %d (four decimals, 0 where the denominator is 0)', (numerator, denominator, fraction) => {
    expect(rate(numerator, denominator)).toBe(fraction);
  });
});

describe('kpiTile', () => {
  it('computes the example tile of docs/CONTRACT.md', () => {
    expect(kpiTile(counters({ toSend: 1000, sent: 370, delivered: 350, failed: 20 }), false)).toEqual({
      progress: 0.37,
      toSend: 1000,
      sent: 370,
      delivered: 350,
      deliveredRate: 0.9459,
      bouncesAndErrors: 20,
      bouncesAndErrorsRate: 0.0541,
      opens: 0,
      openRate: 0,
      clicks: 0,
      clickRate: 0,
      complaints: 0,
      complaintRate: 0,
    });
  });

  it('takes the complaint rate over delivered', () => {
    const tile = kpiTile(counters({ toSend: 100, sent: 100, delivered: 80, complaints: 2 }), false);
    expect(tile).toMatchObject({ complaints: 2, complaintRate: 0.025 });
  });

  it('takes delivered and bounce rates over sent, open and click rates over delivered', () => {
    const tile = kpiTile(
      counters({ toSend: 200, sent: 100, delivered: 80, failed: 20, opens: 40, clicks: 10 }),
      false,
    );
    expect(tile).toMatchObject({
      deliveredRate: 0.8,
      bouncesAndErrorsRate: 0.2,
      openRate: 0.5,
      clickRate: 0.125,
    });
  });

  it('gives every rate as 0 for a delivery nothing was sent for', () => {
    const tile = kpiTile(counters({ toSend: 10 }), false);
    expect(tile).toMatchObject({
      progress: 0,
      deliveredRate: 0,
      bouncesAndErrorsRate: 0,
      openRate: 0,
      clickRate: 0,
    });
  });

  it.each([
    [true, 1],
    [false, 0],
  ])(
    'with nothing to send, shows progress as done only once the delivery is sent (allSent=%s → %d)',
    (allSent, progress) => {
      expect(kpiTile(counters({ toSend: 0 }), allSent).progress).toBe(progress);
    },
  );

  it('shows progress 1 when every message is sent', () => {
    expect(kpiTile(counters({ toSend: 3, sent: 3, delivered: 3 }), true).progress).toBe(1);
  });
});
