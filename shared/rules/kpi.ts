// KPI arithmetic: the delivery tile's figures from its counters (pure, no I/O).

/** The counters a delivery keeps; every other figure is derived from them. */
export interface KpiCounters {
  toSend: number;
  sent: number;
  delivered: number;
  failed: number;
  opens: number;
  clicks: number;
  /** Optional: counters read before complaints existed have none. */
  complaints?: number;
}

/** The tile as docs/CONTRACT.md's `campaign status --json` shows it (without identity and dates). */
export interface KpiTile {
  progress: number;
  toSend: number;
  sent: number;
  delivered: number;
  deliveredRate: number;
  bouncesAndErrors: number;
  bouncesAndErrorsRate: number;
  opens: number;
  openRate: number;
  clicks: number;
  clickRate: number;
  complaints: number;
  complaintRate: number;
}

/** A fraction rounded to four decimals; 0 where the denominator is 0. */
export function rate(numerator: number, denominator: number): number {
  return denominator > 0 ? Math.round((numerator / denominator) * 10_000) / 10_000 : 0;
}

/** Rates are fractions of `sent` (delivered, bounces + errors) or of `delivered` (opens, clicks, complaints). */
export function kpiTile(c: KpiCounters, allSent: boolean): KpiTile {
  return {
    progress: c.toSend > 0 ? rate(c.sent, c.toSend) : allSent ? 1 : 0,
    toSend: c.toSend,
    sent: c.sent,
    delivered: c.delivered,
    deliveredRate: rate(c.delivered, c.sent),
    bouncesAndErrors: c.failed,
    bouncesAndErrorsRate: rate(c.failed, c.sent),
    opens: c.opens,
    openRate: rate(c.opens, c.delivered),
    clicks: c.clicks,
    clickRate: rate(c.clicks, c.delivered),
    complaints: c.complaints ?? 0,
    complaintRate: rate(c.complaints ?? 0, c.delivered),
  };
}
