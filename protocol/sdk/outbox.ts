import { ErrorCode, ImError, toImError } from '../errors.js';
import { mentionListProblem } from '../validate.js';
import type { OutboundEntry } from './send-entry.js';

/** What an outbox holds: the unacknowledged sends in cid order, and whose they are once a `welcome` said so. */
export interface OutboxRecord {
  uid?: string;
  did?: string;
  /**
   * The last cid given out, acked or not: the next run starts above it even if the device's clock went back (the
   * server refuses a cid below one it stored, and answers an equal one with that message's seq).
   */
  lastCid?: number;
  entries: OutboundEntry[];
}

/**
 * Where the SDK keeps unacknowledged sends across app restarts (protocol/README.md §7.1): `load` is called once,
 * before the first connection, `save` after the queue changes (at most once per turn). One store per user and
 * device: a record saved under another user or device is never sent as this one.
 */
export interface OutboxStore {
  load(): OutboxRecord | undefined | Promise<OutboxRecord | undefined>;
  save(record: OutboxRecord): void;
}

/**
 * How long a store's `load()` may take before the client goes on without it (as with a store that failed): an
 * IndexedDB open blocked by another tab of the app never settles, and the client would never connect.
 */
export const DEFAULT_OUTBOX_LOAD_TIMEOUT_MS = 10_000;

/** The part of the Web Storage API an outbox needs (`localStorage`, or any string key-value store). */
export interface StringStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** An outbox kept as JSON under `key`, e.g. `storageOutbox(localStorage, \`im.outbox.${uid}.${did}\`)`. */
export function storageOutbox(storage: StringStorage, key: string): OutboxStore {
  return {
    load: () => {
      const text = storage.getItem(key);
      if (text === null) return undefined;
      try {
        return JSON.parse(text) as OutboxRecord;
      } catch {
        return undefined; // a torn or foreign value: nothing to restore (checkedRecord says the same of bad shapes)
      }
    },
    save: (record) => (record.entries.length === 0 && record.lastCid === undefined ? storage.removeItem(key) : storage.setItem(key, JSON.stringify(record))),
  };
}

const isSeq = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/** The entries of a loaded record that can be sent (a store's data is not trusted to be whole); `chained` orders them. */
export function checkedRecord(raw: unknown): OutboxRecord {
  const r = (raw ?? {}) as Partial<Record<keyof OutboxRecord, unknown>>;
  const record: OutboxRecord = { entries: [] };
  if (typeof r.uid === 'string') record.uid = r.uid;
  if (typeof r.did === 'string') record.did = r.did;
  if (isSeq(r.lastCid)) record.lastCid = r.lastCid;
  if (!Array.isArray(r.entries)) return record;
  for (const x of r.entries as Partial<Record<keyof OutboundEntry, unknown>>[]) {
    if (typeof x !== 'object' || x === null || typeof x.conv !== 'string' || x.conv === '' || !isSeq(x.cid) || typeof x.body !== 'string') continue;
    const e: OutboundEntry = { conv: x.conv, cid: x.cid, body: x.body };
    if (isSeq(x.after)) e.after = x.after;
    if (isSeq(x.recall)) e.recall = x.recall;
    else if (isSeq(x.edit)) e.edit = x.edit;
    else if (isSeq(x.react)) e.react = x.react;
    else {
      if (mentionListProblem(x.mentions) === undefined) e.mentions = x.mentions as string[];
      if (isSeq(x.reply)) e.reply = x.reply;
      if (x.mentionAll === true) e.mentionAll = true;
    }
    record.entries.push(e);
  }
  return record;
}

/** The highest cid an earlier run gave out: its saved sends' and the `lastCid` it recorded (acked sends too). */
export function cidFloor(saved: readonly OutboundEntry[], lastCid = 0): number {
  return saved.reduce((max, e) => Math.max(max, e.cid), lastCid);
}

/**
 * Gives `entries` (in cid order, none sent yet) cids above `floor` when the first is not above it, in the same order,
 * their `after` links among them following; returns each moved cid's new one. Sends made before the store answered
 * took their cids from this run's clock, which may have gone back below cids an earlier run gave out.
 */
export function renumberAbove(entries: readonly OutboundEntry[], floor: number): Map<number, number> {
  const moved = new Map<number, number>();
  if (entries.length === 0 || entries[0]!.cid > floor) return moved;
  let next = floor;
  for (const e of entries) moved.set(e.cid, (e.cid = ++next));
  for (const e of entries) if (e.after !== undefined) e.after = moved.get(e.after) ?? e.after;
  return moved;
}

/** Entries in cid order, each naming the one before it in its conversation (the first of each keeps its `after`). */
export function chained<T extends OutboundEntry>(entries: T[]): T[] {
  const sorted = [...entries].sort((a, b) => a.cid - b.cid);
  const last = new Map<string, number>();
  for (const e of sorted) {
    const before = last.get(e.conv);
    if (before !== undefined) e.after = before;
    last.set(e.conv, e.cid);
  }
  return sorted;
}

/**
 * Keeps an outbound queue in an `OutboxStore`: coalesces saves to one per turn (a burst of acks is one write),
 * and remembers which cids came from the store, so a `welcome` of another user or device can refuse them.
 */
export class Outbox {
  private owner: { uid: string; did: string } | undefined;
  private restored = new Set<number>();
  /** The store has been read: saving before would overwrite what it holds with what this run queued so far. */
  private opened = false;
  private dirty = false;
  private queued = false;
  private stopped = false;
  /** The store could not be read: saving would overwrite what it may still hold (another run's unsent messages). */
  private unread = false;
  /** What was queued when the client closed before the store was read: saved with the stored entries once read. */
  private atStop: OutboundEntry[] | undefined;
  /** Gives up on a load() that does not settle (DEFAULT_OUTBOX_LOAD_TIMEOUT_MS); cleared by its answer or stop(). */
  private loadTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly store: OutboxStore,
    private readonly entries: () => OutboundEntry[],
    private readonly onError: (error: ImError) => void,
    /** The last cid the queue gave out. */
    private readonly lastCid: () => number = () => 0,
    private readonly loadTimeoutMs = DEFAULT_OUTBOX_LOAD_TIMEOUT_MS,
  ) {}

  /**
   * Reads the store once and hands its entries to `restore` (none when the store fails or holds nothing usable).
   * A store that answers at once is read at once: sends made right after the client is created go after it.
   */
  open(restore: (entries: OutboundEntry[], lastCid?: number) => void): Promise<void> {
    let loaded: ReturnType<OutboxStore['load']>;
    try {
      loaded = this.store.load();
    } catch (err) {
      return Promise.resolve(this.read(undefined, restore, err));
    }
    // Any promise-like (another realm's Promise, a library's), not only this realm's: read as a record, it looked empty.
    if (typeof (loaded as PromiseLike<unknown> | undefined)?.then !== 'function') return Promise.resolve(this.read(loaded as OutboxRecord | undefined, restore));
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = (record: OutboxRecord | undefined, err?: unknown): void => {
        if (done) return;
        done = true;
        clearTimeout(this.loadTimer);
        this.read(record, restore, err);
        resolve();
      };
      // An answer after this is dropped: not read, the store is not written either, so what it holds stays for a later
      // run. After a close, none is given up on: a late answer still saves what was queued at the close with it.
      this.loadTimer = setTimeout(() => finish(undefined, new ImError(ErrorCode.TIMEOUT, `load() did not settle within ${this.loadTimeoutMs} ms`)), this.loadTimeoutMs);
      Promise.resolve(loaded).then(
        (record) => finish(record),
        (err: unknown) => finish(undefined, err),
      );
    });
  }

  private read(raw: OutboxRecord | undefined, restore: (entries: OutboundEntry[], lastCid?: number) => void, err?: unknown): void {
    if (err !== undefined) {
      this.unread = true;
      this.onError(new ImError(ErrorCode.INTERNAL, `could not read the outbox (this client saves nothing to it, so as not to overwrite what it holds): ${toImError(err).message}`, { cause: err }));
    }
    const record = checkedRecord(raw);
    if (record.uid !== undefined && record.did !== undefined) this.owner = { uid: record.uid, did: record.did };
    this.restored = new Set(record.entries.map((e) => e.cid));
    this.opened = true;
    if (this.stopped) {
      // Closed before the store answered: keep both what it held and what was queued at the close.
      if (this.atStop?.length && err === undefined) {
        const floor = cidFloor(record.entries, record.lastCid);
        renumberAbove(this.atStop, floor);
        this.save({ ...this.owner, lastCid: Math.max(floor, this.atStop.at(-1)!.cid), entries: chained([...record.entries, ...this.atStop]) });
      }
      return;
    }
    restore(record.entries, record.lastCid);
    if (this.dirty) this.schedule();
  }

  /**
   * A session opened as `uid`/`did`: returns the restored cids that were queued by someone else (to be failed,
   * never sent as this user), and saves under this owner from now on.
   */
  welcome(uid: string, did: string): number[] {
    const foreign = this.owner !== undefined && (this.owner.uid !== uid || this.owner.did !== did) ? [...this.restored] : [];
    this.owner = { uid, did };
    this.restored.clear();
    return foreign;
  }

  /** The queue changed: save it before the next turn. */
  changed(): void {
    this.dirty = true;
    this.schedule();
  }

  /** Saves now if a save is due; then saves nothing more (the client is closing: what is queued stays stored). */
  stop(): void {
    clearTimeout(this.loadTimer);
    if (!this.opened && this.dirty) this.atStop = this.entries();
    this.flush();
    this.stopped = true;
  }

  private schedule(): void {
    if (this.queued || !this.opened || this.stopped) return;
    this.queued = true;
    queueMicrotask(() => {
      this.queued = false;
      this.flush();
    });
  }

  private flush(): void {
    if (!this.dirty || !this.opened || this.stopped) return;
    this.dirty = false;
    this.save({ ...this.owner, ...this.highWater(), entries: this.entries() });
  }

  /** The last cid given out, for the record. */
  private highWater(): { lastCid?: number } {
    const last = this.lastCid();
    return last > 0 ? { lastCid: last } : {};
  }

  private save(record: OutboxRecord): void {
    if (this.unread) return;
    try {
      this.store.save(record);
    } catch (err) {
      this.onError(new ImError(ErrorCode.INTERNAL, `could not save the outbox: ${toImError(err).message}`, { cause: err }));
    }
  }
}

/** The error a restored send queued by another user or device fails with. */
export const foreignOutboxError = (): ImError => new ImError(ErrorCode.FORBIDDEN, 'queued by another user or device (outbox): not sent');
