import type { NatsConnection, Subscription } from 'nats';
import { decodeSettingsChanged } from '../protocol/control.js';
import { toImError } from '../protocol/errors.js';
import { clusterSettingsSubject } from '../protocol/subjects.js';
import type { ClusterSettingsStore } from '../storage/cluster-settings-store.js';
import { CoalescedRunner } from './coalesced-runner.js';
import type { Logger } from './logger.js';

/** How often a node re-reads the settings anyway: the last resort for a `settings-changed` notice it missed. */
export const SETTINGS_RELOAD_MS = 60_000;

/** Hears one changed setting: its name, the new value and the one the node ran with until now. */
export type SettingsListener = (name: string, value: string, previous: string) => void;

/**
 * The settings every node of the cluster shares (`large-group`, `max-token-lifetime`), as Postgres records them.
 * The first node records its flags' values; every later node runs with the recorded ones, whatever its own flags
 * say, so nodes never disagree. `imctl settings set` changes one and publishes a notice: each node re-reads them
 * at once (and after a NATS reconnect, and every minute) and tells its listeners what changed.
 */
export class ClusterSettings {
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly reloader = new CoalescedRunner(
    () => this.reloadOnce(),
    () => this.closed,
  );
  private readonly listeners: SettingsListener[] = [];

  private constructor(
    private readonly store: ClusterSettingsStore,
    private readonly names: readonly string[],
    private values: Map<string, string>,
    private readonly log: Logger,
  ) {}

  /** Records `mine` where nothing is recorded yet and returns the cluster's values; a flag that differs is warned about, then overruled. */
  static async agree(store: ClusterSettingsStore, mine: Record<string, string>, log: Logger): Promise<ClusterSettings> {
    const recorded = await store.agree(mine);
    for (const [name, value] of Object.entries(mine)) {
      const theirs = recorded.get(name);
      if (theirs !== undefined && theirs !== value) {
        log.warn({ setting: name, flag: value, cluster: theirs }, `--${name} is ${value} on this node but ${theirs} in this cluster (imctl settings set changed it): using ${theirs}`);
      }
    }
    return new ClusterSettings(store, Object.keys(mine), recorded, log);
  }

  /** The cluster's value of `name` (undefined for a name this node did not bring). */
  get(name: string): string | undefined {
    return this.values.get(name);
  }

  /** Every value this node runs with, by name (reported in its heartbeat, so `imctl` can tell who applied a change). */
  all(): Record<string, string> {
    return Object.fromEntries(this.values);
  }

  /** Calls `listener` for each setting whose value changes from now on. */
  onChange(listener: SettingsListener): void {
    this.listeners.push(listener);
  }

  /** Starts following changes: the notice and a slow poll (the node also calls `reload` after a NATS reconnect). */
  watch(nc: NatsConnection): void {
    this.sub = nc.subscribe(clusterSettingsSubject(), {
      callback: (err, msg) => {
        if (!err && decodeSettingsChanged(msg.data).ok) void this.reload();
      },
    });
    const poll = (): void => {
      this.timer = setTimeout(() => void this.reload().finally(() => !this.closed && poll()), SETTINGS_RELOAD_MS);
    };
    poll();
  }

  /** Re-reads the recorded values and tells the listeners of each change; coalesces concurrent calls. */
  reload(): Promise<void> {
    return this.reloader.run();
  }

  private async reloadOnce(): Promise<void> {
    try {
      const all = await this.store.list();
      for (const s of all) if (this.names.includes(s.name)) this.set(s.name, s.value);
    } catch (err) {
      this.log.warn({ err: toImError(err).message }, 'could not re-read the cluster settings');
    }
  }

  /** The one place a value changes. */
  private set(name: string, value: string): void {
    const previous = this.values.get(name);
    if (previous === undefined || previous === value || this.closed) return;
    this.values.set(name, value);
    this.log.info({ setting: name, value, previous }, 'cluster setting changed');
    for (const l of this.listeners) {
      try {
        l(name, value, previous);
      } catch (err) {
        this.log.error({ setting: name, err: (err as Error).message }, 'a cluster-setting listener failed');
      }
    }
  }

  /** Stops following changes. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.sub?.unsubscribe();
  }
}
