import { checkId } from './ids.js';
import type { Sql } from './db.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** A user's privacy settings (defaults for a user who never changed one). */
export interface UserSettings {
  /** Off: nobody sees when this user read a direct conversation, and this user sees nobody's reads. */
  readReceipts: boolean;
  /** Off: nobody is told when this user was last online (presence, lists), and this user is told nobody's. */
  lastSeen: boolean;
}

export const DEFAULT_USER_SETTINGS: Readonly<UserSettings> = { readReceipts: true, lastSeen: true };

type SettingsRow = { read_receipts: boolean; last_seen: boolean };
const fromRow = (r: SettingsRow): UserSettings => ({ readReceipts: r.read_receipts, lastSeen: r.last_seen });

/** Per-user privacy settings, changed by the business server (server API). */
export class UserSettingsStore {
  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
  ) {}

  /** The user's settings. */
  async get(uid: string): Promise<UserSettings> {
    checkId(uid, 'uid');
    const rows = await bounded('read user settings', this.sql<SettingsRow[]>`
      SELECT read_receipts, last_seen FROM user_settings WHERE uid = ${uid}`, this.timeoutMs);
    return rows[0] ? fromRow(rows[0]) : { ...DEFAULT_USER_SETTINGS };
  }

  /**
   * What a user's connector needs when their first device attaches, in one statement (connect storms make many):
   * everyone the user blocks or is blocked by (`user_blocks`), and the user's settings.
   */
  async privacy(uid: string): Promise<{ related: string[] } & UserSettings> {
    checkId(uid, 'uid');
    const rows = await bounded('read privacy', this.sql<({ related: string[] } & SettingsRow)[]>`
      SELECT ARRAY(SELECT blocked_uid FROM user_blocks WHERE uid = ${uid} UNION SELECT uid FROM user_blocks WHERE blocked_uid = ${uid}) AS related,
             COALESCE(s.read_receipts, true) AS read_receipts, COALESCE(s.last_seen, true) AS last_seen
      FROM (SELECT 1) one LEFT JOIN user_settings s ON s.uid = ${uid}`, this.timeoutMs);
    return { related: rows[0]!.related, ...fromRow(rows[0]!) };
  }

  /** Changes the settings named in `change`; returns them all after it. */
  async set(uid: string, change: Partial<UserSettings>): Promise<UserSettings> {
    checkId(uid, 'uid');
    const readReceipts = change.readReceipts ?? null;
    const lastSeen = change.lastSeen ?? null;
    const rows = await bounded('change user settings', this.sql<SettingsRow[]>`
      INSERT INTO user_settings (uid, read_receipts, last_seen) VALUES (${uid}, COALESCE(${readReceipts}::boolean, true), COALESCE(${lastSeen}::boolean, true))
      ON CONFLICT (uid) DO UPDATE SET read_receipts = COALESCE(${readReceipts}::boolean, user_settings.read_receipts),
                                      last_seen = COALESCE(${lastSeen}::boolean, user_settings.last_seen), updated_at = now()
      RETURNING read_receipts, last_seen`, this.timeoutMs);
    return fromRow(rows[0]!);
  }
}
