// A count with its noun in the right number: "1 message", "2 messages", "1 delivery", "3 deliveries".

/** `count(1, 'message')` is "1 message"; a noun whose plural is not noun + s gives it: `count(n, 'delivery', 'deliveries')`. */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
