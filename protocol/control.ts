import { decode, encode } from './codec.js';
import { ErrorCode, ImError, type Result } from './errors.js';

/**
 * Control-plane messages between the coordinator / admin CLI and node processes, on `im.node.<id>.ctl`
 * (requests) and `im.cluster.shards` (notifications). Rare and small, so they are validated strictly.
 */
export type ControlRequest =
  /** Stop intake for a shard, finish in-flight work, deactivate its actors, then answer. */
  | { type: 'release'; kind: string; shard: number; epoch: number }
  /** Start serving a shard at this epoch now (instead of at the next shard-map poll). */
  | { type: 'acquire'; kind: string; shard: number; epoch: number }
  /** Report what this node serves. */
  | { type: 'status' };

export type ControlReply =
  | { type: 'released'; kind: string; shard: number; ok: boolean; tookMs: number }
  | { type: 'acquired'; kind: string; shard: number; ok: boolean; epoch: number }
  | { type: 'status'; nodeId: string; shards: { kind: string; shard: number; epoch: number }[]; actors: Record<string, number>; uptimeSec: number; rssBytes: number; leaseValid: boolean }
  | { type: 'error'; code: string; message: string };

/** Published after any shard-map change so nodes re-read it at once instead of at their next poll. */
export interface ShardsChanged {
  type: 'shards-changed';
  kind?: string;
  shards?: number[];
}

/**
 * Published by a node whenever it starts serving shards (at any epoch, also a re-start at the same one) and
 * again after its NATS connection came back. Anything sent to those shards meanwhile may be lost, so whoever
 * keeps soft state there (gateways: where their sessions are) states it again.
 */
export interface ShardsServed {
  type: 'shards-served';
  node: string;
  kind: string;
  shards: number[];
}

/**
 * Published after the server API revoked tokens: every gateway refuses them from then on and closes the sessions
 * it holds that used one. `did` absent: all of the user's devices. Tokens issued (`iat`) at or before `beforeMs`.
 */
export interface TokensRevoked {
  type: 'tokens-revoked';
  uid: string;
  did?: string;
  /** Milliseconds since the epoch. */
  beforeMs: number;
}

/**
 * Published when the server API signed a user out (`disconnect` without `revoke`), once the user's connector closed
 * the sessions it knew: every gateway closes with 4014 the sessions of `uid` (of `did`, when given) it holds when
 * this arrives, which reaches those the connector did not know (its shard just moved, and their gateways had not
 * attached them again yet). Each gateway cuts at its own arrival, so no two nodes' clocks are compared. Tokens stay
 * good: a session opened after the call stays (the SDK does not reconnect from 4014 by itself).
 */
export interface SessionsSignedOut {
  type: 'signed-out';
  uid: string;
  did?: string;
  reason?: string;
}

/**
 * The settings every node of a cluster shares (`imctl settings set <name> <value>`), each an integer with this
 * least value: `imctl` refuses a smaller one before recording it, and a node ignores one it is told anyway.
 */
export const CLUSTER_SETTING_MIN = { 'large-group': 1, 'max-token-lifetime': 1, 'recall-window': 0, 'edit-window': 0, 'message-retention': 0 } as const;
export type ClusterSettingName = keyof typeof CLUSTER_SETTING_MIN;

/** The value of cluster setting `name` as a number, or undefined when it is no integer at or above the setting's least value. */
export function clusterSettingValue(name: string, value: string | undefined): number | undefined {
  const min = (CLUSTER_SETTING_MIN as Record<string, number>)[name];
  if (min === undefined || value === undefined || !/^\d{1,15}$/.test(value)) return undefined;
  const n = Number(value);
  return n >= min ? n : undefined;
}

/** Published by `imctl settings set` after it changed a cluster setting: every node re-reads them at once. */
export interface SettingsChanged {
  type: 'settings-changed';
  name: string;
}

/** Encodes a control message. */
export function encodeControl(msg: ControlRequest | ControlReply | ShardsChanged | ShardsServed | TokensRevoked | SessionsSignedOut | SettingsChanged): Uint8Array {
  return encode(msg);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(message: string): { ok: false; error: ImError } {
  return { ok: false, error: new ImError(ErrorCode.BAD_FRAME, message) };
}

function unpack(bytes: Uint8Array): Result<Record<string, unknown>> {
  try {
    const v: unknown = decode(bytes);
    return isObj(v) ? { ok: true, value: v } : bad('control message is not a map');
  } catch (err) {
    return { ok: false, error: new ImError(ErrorCode.BAD_FRAME, 'control message is not msgpack', { cause: err }) };
  }
}

function shardRef(v: Record<string, unknown>): boolean {
  return typeof v['kind'] === 'string' && Number.isInteger(v['shard']) && Number.isInteger(v['epoch']);
}

/** Decodes and validates a control request; never throws. */
export function decodeControlRequest(bytes: Uint8Array): Result<ControlRequest> {
  const r = unpack(bytes);
  if (!r.ok) return r;
  const v = r.value;
  switch (v['type']) {
    case 'release':
    case 'acquire':
      if (!shardRef(v)) return bad(`${v['type']} needs kind, shard and epoch`);
      return { ok: true, value: { type: v['type'], kind: v['kind'] as string, shard: v['shard'] as number, epoch: v['epoch'] as number } };
    case 'status':
      return { ok: true, value: { type: 'status' } };
    default:
      return { ok: false, error: new ImError(ErrorCode.UNKNOWN_TYPE, `unknown control request ${String(v['type'])}`) };
  }
}

/** Decodes a control reply (trusted peers, so only the shape's tag is checked); never throws. */
export function decodeControlReply(bytes: Uint8Array): Result<ControlReply> {
  const r = unpack(bytes);
  if (!r.ok) return r;
  const t = r.value['type'];
  if (t === 'released' || t === 'acquired' || t === 'status' || t === 'error') return { ok: true, value: r.value as unknown as ControlReply };
  return bad(`unknown control reply ${String(t)}`);
}

/** Decodes a shards-changed notification; never throws. */
export function decodeShardsChanged(bytes: Uint8Array): Result<ShardsChanged> {
  const r = unpack(bytes);
  if (!r.ok) return r;
  if (r.value['type'] !== 'shards-changed') return bad('not a shards-changed notification');
  return { ok: true, value: r.value as unknown as ShardsChanged };
}

/** Decodes a settings-changed notification; never throws. */
export function decodeSettingsChanged(bytes: Uint8Array): Result<SettingsChanged> {
  const r = unpack(bytes);
  if (!r.ok) return r;
  if (r.value['type'] !== 'settings-changed' || typeof r.value['name'] !== 'string') return bad('settings-changed needs a name');
  return { ok: true, value: { type: 'settings-changed', name: r.value['name'] } };
}

/** Decodes and validates a tokens-revoked notification; never throws. */
export function decodeTokensRevoked(bytes: Uint8Array): Result<TokensRevoked> {
  const r = unpack(bytes);
  if (!r.ok) return r;
  const v = r.value;
  if (v['type'] !== 'tokens-revoked' || typeof v['uid'] !== 'string' || !(v['did'] === undefined || typeof v['did'] === 'string') || !Number.isSafeInteger(v['beforeMs'])) {
    return bad('tokens-revoked needs uid, beforeMs and maybe did');
  }
  const t: TokensRevoked = { type: 'tokens-revoked', uid: v['uid'], beforeMs: v['beforeMs'] as number };
  if (typeof v['did'] === 'string') t.did = v['did'];
  return { ok: true, value: t };
}

/** Decodes and validates a signed-out notification; never throws. */
export function decodeSessionsSignedOut(bytes: Uint8Array): Result<SessionsSignedOut> {
  const r = unpack(bytes);
  if (!r.ok) return r;
  const v = r.value;
  if (v['type'] !== 'signed-out' || typeof v['uid'] !== 'string' || !(v['did'] === undefined || typeof v['did'] === 'string') || !(v['reason'] === undefined || typeof v['reason'] === 'string')) {
    return bad('signed-out needs uid and maybe did and reason');
  }
  const t: SessionsSignedOut = { type: 'signed-out', uid: v['uid'] };
  if (typeof v['did'] === 'string') t.did = v['did'];
  if (typeof v['reason'] === 'string') t.reason = v['reason'];
  return { ok: true, value: t };
}

/** Decodes and validates a shards-served notification; never throws. */
export function decodeShardsServed(bytes: Uint8Array): Result<ShardsServed> {
  const r = unpack(bytes);
  if (!r.ok) return r;
  const v = r.value;
  if (v['type'] !== 'shards-served') return bad('not a shards-served notification');
  const shards = v['shards'];
  if (typeof v['node'] !== 'string' || typeof v['kind'] !== 'string' || !Array.isArray(shards) || !shards.every((x) => Number.isInteger(x) && (x as number) >= 0)) {
    return bad('shards-served needs node, kind and a list of shard numbers');
  }
  return { ok: true, value: { type: 'shards-served', node: v['node'], kind: v['kind'], shards: shards as number[] } };
}
