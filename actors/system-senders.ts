import { ErrorCode, ImError } from '../protocol/errors.js';
import type { StoredMessage } from '../storage/message-store.js';
import { addDevice, deviceKey, type DeviceState } from './device-sends.js';

/** Keys remembered per conversation with what they asked; one forgotten is read back from its row when repeated. */
const KEYS_KEPT = 1024;

const what = (recall: number): string => (recall > 0 ? `a recall of seq ${recall}` : 'a message');

/**
 * A conversation's senders of system messages (each `from` the server API names), as a device each: its recent keys
 * answered from memory (DeviceState), and what each key was used for: a plain message, or a recall of which seq. The
 * server API's message and recall routes share the key space, so a business server keying both by one action id
 * would have its recall answered with the notice it posted first, and recall nothing; a repeat that asks for
 * something else is refused `conflict` instead.
 */
export class SystemSenders {
  private readonly devs = new Map<string, DeviceState>();
  private readonly asked = new Map<string, number>();

  /** How many senders are remembered (they share the conversation's recent replies with its devices). */
  get size(): number {
    return this.devs.size;
  }

  /** The dedup state of sender `from`. */
  devOf(from: string): DeviceState {
    return this.devs.get(from) ?? addDevice(this.devs, from, 0);
  }

  /**
   * Throws `conflict` when the key answered a different request, as remembered, else as `stored` (its row) says;
   * `stored` is read only when needed: a key answered from memory that this map forgot (more keys than it keeps).
   */
  async check(from: string, key: number, recall: number | undefined, stored: () => Promise<StoredMessage | undefined>): Promise<void> {
    let had = this.asked.get(deviceKey(from, String(key)));
    // Not found: still in the group commit, and then asked so lately that it is remembered.
    if (had === undefined) had = ((await stored()) ?? { recalls: recall }).recalls ?? 0;
    if (had === (recall ?? 0)) return;
    throw new ImError(ErrorCode.CONFLICT, `key ${key} was used for ${what(had)}, not ${what(recall ?? 0)}: use a new key`);
  }

  /** Remembers what `key` asks, as it goes into the group commit. */
  remember(from: string, key: number, recall: number | undefined): void {
    const k = deviceKey(from, String(key));
    this.asked.delete(k);
    this.asked.set(k, recall ?? 0);
    // Forgetting one costs only the check of a repeat answered from memory; one from Postgres is checked anyway.
    if (this.asked.size > KEYS_KEPT) this.asked.delete(this.asked.keys().next().value!);
  }
}
