/**
 * A small typed event emitter for the SDK (browser and Node: no 'node:events').
 *
 * A listener that throws must not break the SDK's own state machine (emits happen inside socket callbacks),
 * so its error is rethrown on a fresh microtask: it still surfaces as an uncaught error, just not here.
 */

type Listener<T> = (payload: T) => void;

/** Emits typed events; `on` returns the unsubscribe function. */
export class TypedEmitter<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Subscribes `fn` to `event`; returns a function that unsubscribes it. */
  on<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(fn as Listener<never>);
    return () => this.off(event, fn);
  }

  /** Subscribes `fn` to the next `event` only; returns a function that unsubscribes it. */
  once<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      fn(payload);
    });
    return off;
  }

  /** Unsubscribes `fn` from `event` (no-op when it was not subscribed). */
  off<K extends keyof Events>(event: K, fn: Listener<Events[K]>): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    set.delete(fn as Listener<never>);
    if (set.size === 0) this.listeners.delete(event);
  }

  /** Calls every listener of `event` with `payload`; never throws. */
  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    // A copy: listeners may unsubscribe (or subscribe others) while we iterate.
    for (const fn of [...set] as Listener<Events[K]>[]) {
      try {
        fn(payload);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /** Number of listeners of `event`. */
  listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Drops every listener. */
  removeAllListeners(): void {
    this.listeners.clear();
  }
}
