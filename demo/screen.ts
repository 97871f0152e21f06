// The demo's terminal: a live area redrawn in place on a terminal, plain periodic lines in a pipe or a log.
import type { DeliveryStatus } from '../db/delivery-status';

const pct = (fraction: number) => `${(fraction * 100).toFixed(1)} %`;

export function bar(fraction: number, width = 30): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/** One line a delivery: what a log or a pipe gets instead of the redrawn tile. */
export function compactLine(s: DeliveryStatus): string {
  return (
    `delivery ${s.id} (EFS ${s.efs ? 'on' : 'off'}) ${s.state}: sent ${s.sent}/${s.toSend}, ` +
    `delivered ${pct(s.deliveredRate)}, bounces + errors ${pct(s.bouncesAndErrorsRate)}, ` +
    `open ${pct(s.openRate)}, click ${pct(s.clickRate)}`
  );
}

/** A block of lines that replaces itself on a terminal, and prints at most every `plainEveryMs` otherwise. */
export class LiveArea {
  private drawn = 0;
  private lastPlain = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly plainEveryMs: number,
  ) {}

  get tty(): boolean {
    return this.out.isTTY === true;
  }

  draw(full: string[], compact: string[]): void {
    if (this.tty) {
      // Back to the block's first line, clear to the end of the screen, write the new block.
      const back = this.drawn > 0 ? `\x1b[${this.drawn}F\x1b[0J` : '';
      this.out.write(`${back}${full.join('\n')}\n`);
      this.drawn = full.length;
      return;
    }
    if (Date.now() - this.lastPlain < this.plainEveryMs) return;
    this.lastPlain = Date.now();
    this.out.write(`${compact.join('\n')}\n`);
  }

  /** Leaves the last block on screen; what comes next is written below it. */
  release(): void {
    this.drawn = 0;
    this.lastPlain = 0;
  }
}
