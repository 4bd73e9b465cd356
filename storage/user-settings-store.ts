import { checkId } from './conversation-store.js';
import type { Sql } from './db.js';
import { bounded, DEFAULT_STATEMENT_TIMEOUT_MS } from './pg-errors.js';

/** A user's privacy settings (defaults for a user who never changed one). */
export interface UserSettings {
  /** Off: nobody sees when this user read a direct conversation, and this user sees nobody's reads. */
  readReceipts: boolean;
}

export const DEFAULT_USER_SETTINGS: Readonly<UserSettings> = { readReceipts: true };

/** Per-user privacy settings, changed by the business server (server API). */
export class UserSettingsStore {
  constructor(
    private readonly sql: Sql,
    private readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
  ) {}

  /** The user's settings. */
  async get(uid: string): Promise<UserSettings> {
    checkId(uid, 'uid');
    const rows = await bounded('read user settings', this.sql<{ read_receipts: boolean }[]>`
      SELECT read_receipts FROM user_settings WHERE uid = ${uid}`, this.timeoutMs);
    return rows[0] ? { readReceipts: rows[0].read_receipts } : { ...DEFAULT_USER_SETTINGS };
  }

  /**
   * What a user's connector needs when their first device attaches, in one statement (connect storms make many):
   * everyone the user blocks or is blocked by (`user_blocks`), and whether the user has read receipts on.
   */
  async privacy(uid: string): Promise<{ related: string[]; readReceipts: boolean }> {
    checkId(uid, 'uid');
    const rows = await bounded('read privacy', this.sql<{ related: string[]; read_receipts: boolean }[]>`
      SELECT ARRAY(SELECT blocked_uid FROM user_blocks WHERE uid = ${uid} UNION SELECT uid FROM user_blocks WHERE blocked_uid = ${uid}) AS related,
             COALESCE((SELECT read_receipts FROM user_settings WHERE uid = ${uid}), true) AS read_receipts`, this.timeoutMs);
    return { related: rows[0]!.related, readReceipts: rows[0]!.read_receipts };
  }

  /** Changes the settings named in `change`; returns them all after it. */
  async set(uid: string, change: Partial<UserSettings>): Promise<UserSettings> {
    checkId(uid, 'uid');
    const readReceipts = change.readReceipts ?? null;
    const rows = await bounded('change user settings', this.sql<{ read_receipts: boolean }[]>`
      INSERT INTO user_settings (uid, read_receipts) VALUES (${uid}, COALESCE(${readReceipts}::boolean, true))
      ON CONFLICT (uid) DO UPDATE SET read_receipts = COALESCE(${readReceipts}::boolean, user_settings.read_receipts), updated_at = now()
      RETURNING read_receipts`, this.timeoutMs);
    return { readReceipts: rows[0]!.read_receipts };
  }
}
