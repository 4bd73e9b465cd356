import { storageOutbox, type ImClient, type OutboxStore, type SendResult, type StringStorage } from '../../protocol/sdk/index.js';

/** A Web-Storage-like map in memory. */
export function memoryStorage(): StringStorage {
  const map = new Map<string, string>();
  return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
}

/**
 * One test device's sends across app restarts (the chaos run's and the guarantees property's): the device keeps
 * an outbox that outlives its clients, and each send's answer is settled by the client it was made on or, after
 * `closeAsApp`, by a later client of the device that sent it from the outbox (its `sent` / `sendFailed` events).
 */
export class ReopenableSends {
  private readonly storage = memoryStorage();
  private readonly answers = new Map<string, { resolve: (r: SendResult) => void; reject: (e: unknown) => void }>();
  /** The body of each cid a later client restored from the outbox. */
  private readonly restored = new Map<number, string>();
  /** Clients closed as an app exiting: their sends reject with `closed`, yet stay in the outbox for the next client. */
  private readonly closedAsApp = new WeakSet<ImClient>();

  /** The outbox every client of the device opens on. */
  outbox(): OutboxStore {
    return storageOutbox(this.storage, 'outbox');
  }

  /** Hooks a client of the device: it answers the sends restored from the outbox. */
  watch(client: ImClient): void {
    client.on('sent', (r) => {
      const body = this.restored.get(r.cid);
      if (body !== undefined) this.answers.get(body)?.resolve(r);
    });
    client.on('sendFailed', (f) => {
      const body = this.restored.get(f.cid);
      if (body !== undefined) this.answers.get(body)?.reject(f.error);
    });
  }

  /** Sends `body` through `client`; resolves once durable, whichever client of the device hears it. */
  send(client: ImClient, body: string, send: (client: ImClient) => Promise<SendResult>): Promise<SendResult> {
    const answer = new Promise<SendResult>((resolve, reject) => this.answers.set(body, { resolve, reject }));
    const { resolve, reject } = this.answers.get(body)!;
    send(client).then(resolve, (err: { code?: string }) => (this.closedAsApp.has(client) && err.code === 'closed' ? undefined : reject(err)));
    return answer;
  }

  /** Closes `client` as an app exiting would; returns how many sends its outbox keeps for the next client. */
  closeAsApp(client: ImClient): number {
    this.closedAsApp.add(client);
    client.close();
    const stored = this.storage.getItem('outbox');
    const entries = stored === null ? [] : (JSON.parse(stored) as { entries: { cid: number; body: string }[] }).entries;
    for (const e of entries) this.restored.set(e.cid, e.body);
    return entries.length;
  }

  /** True for a client `closeAsApp` closed (its own `closed` state is expected). */
  wasClosedAsApp(client: ImClient): boolean {
    return this.closedAsApp.has(client);
  }

  /** Sends restored from the outbox so far. */
  get restoredCount(): number {
    return this.restored.size;
  }
}
