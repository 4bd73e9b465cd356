import { checkId } from './ids.js';
import type { Sql } from './db.js';
import { MaxBatchWriter } from './max-batch-writer.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** How long delivery marks gather before one statement stores them all. */
export const DEFAULT_DELIVERED_FLUSH_MS = 500;

interface Mark {
  conv: string;
  uid: string;
  seq: number;
}

/**
 * Members' delivery marks (the highest seq a device of theirs acknowledged holding), stored in batches: every
 * acknowledged message moves one, and a statement per ack would double what Postgres does per message. A batch
 * that fails is tried again with the next one: the members may not ack again for a long time.
 */
export class DeliveredMarkStore {
  private readonly writer: MaxBatchWriter<Mark>;

  constructor(sql: Sql, opts: { flushMs?: number; timeoutMs?: number; onError?: (err: unknown) => void } = {}) {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
    this.writer = new MaxBatchWriter<Mark>({
      delayMs: opts.flushMs ?? DEFAULT_DELIVERED_FLUSH_MS,
      merge: (had, next) => (next.seq > had.seq ? next : had),
      sort: (a, b) => (a.conv < b.conv ? -1 : a.conv > b.conv ? 1 : a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0),
      retry: true,
      onError: opts.onError ?? (() => {}),
      // A member who left meanwhile has no row: nothing to write.
      write: async (part) => {
        await bounded('record delivery marks', sql`
          UPDATE members m SET delivered_seq = t.seq
          FROM unnest(${part.map((x) => x.conv)}::text[], ${part.map((x) => x.uid)}::text[], ${part.map((x) => x.seq)}::int8[]) AS t(conv_id, uid, seq)
          WHERE m.conv_id = t.conv_id AND m.uid = t.uid AND m.delivered_seq < t.seq`, timeoutMs);
      },
    });
  }

  /** Records, soon, that a device of `uid` holds `conv` up to `seq`. */
  record(conv: string, uid: string, seq: number): void {
    checkId(conv, 'conv');
    checkId(uid, 'uid');
    this.writer.add(`${conv}\n${uid}`, { conv, uid, seq });
  }

  /** Writes what is recorded so far; resolves once it is stored (or failed: `onError` was told). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** Writes what is recorded (once: a failure now is not tried again) and takes no more. */
  close(): Promise<void> {
    return this.writer.close();
  }
}
