import { describe, expect, it } from 'vitest';
import { Fifo } from '../../runtime/fifo.js';

describe('fifo', () => {
  it('fifo – items come out in the order they went in, across the compactions a long queue goes through', () => {
    const q = new Fifo<number>();
    const out: number[] = [];
    let next = 0;
    // Taken more slowly than added: the head passes 1024 with most of the array behind it, many times over.
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 300; i++) q.push(next++);
      for (let i = 0; i < 200; i++) out.push(q.shift()!);
    }
    expect(q.length).toBe(next - out.length);
    expect(q.peek()).toBe(out.length);
    while (q.length > 0) out.push(q.shift()!);
    expect(out).toEqual(Array.from({ length: next }, (_, i) => i));
    expect(q.shift()).toBeUndefined();
    expect(q.peek()).toBeUndefined();
  });
});
