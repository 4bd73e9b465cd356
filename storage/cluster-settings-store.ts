import { ErrorCode, ImError } from '../protocol/errors.js';
import type { Sql } from './db.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** One recorded cluster-wide setting. */
export interface ClusterSetting {
  /** The flag's name (`large-group`), or `shards.<kind>` for the fixed shard counts. */
  name: string;
  value: string;
  /** When it was recorded or last changed (ms since the epoch, database clock). */
  setAt: number;
  /** Whether `set` may change it (shard counts are fixed for the cluster's life). */
  changeable: boolean;
}

const FLAG = 'flag.';
const MAX_NAME = 100;
const MAX_VALUE = 1000;

function check(name: string, value: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME) throw new ImError(ErrorCode.INVALID_FIELD, `setting name must be 1 to ${MAX_NAME} characters`);
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_VALUE) throw new ImError(ErrorCode.INVALID_FIELD, `setting ${name}: value must be 1 to ${MAX_VALUE} characters`);
}

/**
 * Settings every node of the cluster must share, by flag name, kept in `cluster_settings` beside the shard counts:
 * nodes that disagreed on, say, which groups are large would publish deliveries nobody listens for. The first node
 * records its values; later ones compare.
 */
export class ClusterSettingsStore {
  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
  ) {}

  /** Records each of `mine` not yet recorded, then returns the recorded value of each (the first recorder's). */
  async agree(mine: Record<string, string>): Promise<Map<string, string>> {
    const names = Object.keys(mine);
    if (names.length === 0) return new Map();
    for (const n of names) check(n, mine[n]!);
    const recorded = await this.recordFirst(names.map((n) => FLAG + n), names.map((n) => mine[n]!));
    return new Map(names.map((n) => [n, recorded.get(FLAG + n)!]));
  }

  /** Records `value` under `name` unless something is recorded there already; returns what is recorded (fixed for good). */
  async agreeFixed(name: string, value: string): Promise<string> {
    check(name, value);
    if (name.startsWith(FLAG)) throw new ImError(ErrorCode.INVALID_FIELD, `a fixed setting's name must not start with "${FLAG}"`);
    return (await this.recordFirst([name], [value])).get(name)!;
  }

  /** Inserts each key not recorded yet, then reads every key back: the first recorder's value, by key. */
  private async recordFirst(keys: string[], values: string[]): Promise<Map<string, string>> {
    await bounded('record cluster settings', this.sql`
      INSERT INTO cluster_settings (key, value) SELECT k, to_jsonb(v) FROM unnest(${keys}::text[], ${values}::text[]) AS t(k, v)
      ON CONFLICT (key) DO NOTHING`, this.timeoutMs);
    const rows = await bounded('read cluster settings', this.sql<{ key: string; value: unknown }[]>`
      SELECT key, value FROM cluster_settings WHERE key = ANY(${keys}::text[])`, this.timeoutMs);
    return new Map(rows.map((r) => [r.key, String(r.value)]));
  }

  /** Every recorded setting: the agreed flags, then the shard counts. */
  async list(): Promise<ClusterSetting[]> {
    const rows = await bounded('read cluster settings', this.sql<{ key: string; value: unknown; set_at: Date }[]>`
      SELECT key, value, set_at FROM cluster_settings ORDER BY key`, this.timeoutMs);
    return rows.map((r) => {
      const flag = r.key.startsWith(FLAG);
      return { name: flag ? r.key.slice(FLAG.length) : r.key, value: String(r.value), setAt: r.set_at.getTime(), changeable: flag };
    });
  }

  /** Changes a recorded flag setting; NOT_FOUND when no node ever recorded one of that name (a typo, most likely). */
  async set(name: string, value: string): Promise<void> {
    check(name, value);
    const rows = await bounded('change a cluster setting', this.sql`
      UPDATE cluster_settings SET value = to_jsonb(${value}::text), set_at = now() WHERE key = ${FLAG + name} RETURNING 1`, this.timeoutMs);
    if (rows.length === 0) throw new ImError(ErrorCode.NOT_FOUND, `no cluster setting "${name}" that can be changed (imctl settings lists them)`);
  }
}
