// The plan's enqueueing order: the first batches go out alone, so the first message never waits for the whole plan.
import { enqueueChunks } from './plan';

describe('enqueueChunks', () => {
  it('enqueues a few batches first, then chunks of 1,000, covering every batch once in order', () => {
    const chunks = enqueueChunks(2500);
    expect(chunks[0]).toEqual([0, 16]);
    expect(chunks.slice(1)).toEqual([
      [16, 1016],
      [1016, 2016],
      [2016, 2500],
    ]);
  });

  it('covers small plans in one call and an empty plan in none', () => {
    expect(enqueueChunks(3)).toEqual([[0, 3]]);
    expect(enqueueChunks(0)).toEqual([]);
  });

  it('names each batch exactly once, whatever the plan size', () => {
    for (const total of [1, 16, 17, 1016, 1017, 12345]) {
      const batches = enqueueChunks(total).flatMap(([a, b]) =>
        Array.from({ length: b - a }, (_, i) => a + i),
      );
      expect(batches).toEqual(Array.from({ length: total }, (_, i) => i));
    }
  });
});
