/**
 * A first-in first-out queue that takes from the front in O(1): `Array.shift` copies the whole array each time, which
 * a long queue (thousands of waiters, a full webhook backlog) pays on every take. The front is a head index; a taken
 * slot is cleared at once (nothing it held stays reachable), and the array is compacted only once most of it lies
 * behind the head, so one copy pays for the takes that made it so.
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  /** How many wait. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Appends one at the back. */
  push(item: T): void {
    this.items.push(item);
  }

  /** The front one, left in place. */
  peek(): T | undefined {
    return this.items[this.head];
  }

  /** Takes the front one out. */
  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}
