import { EventEmitter } from 'node:events';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';

/**
 * postgres.js holds back small writes (a StartupMessage, a short query) for one setImmediate. When the socket
 * closed while such a write was pending, the driver cancelled the immediate but kept its handle, so it never
 * scheduled a flush again: every later connection attempt of that pool slot sat silent until connect_timeout.
 * scripts/patch-deps.mjs repairs it (run by setup after every install); these tests fail without the patch.
 *
 * The driver's `socket` option hands it an in-process socket, so the order of events is exact: the socket is
 * closed in an immediate queued before the driver queues its flush.
 */
class ScriptedSocket extends EventEmitter {
  readyState = 'open';
  readonly written: Buffer[] = [];
  setKeepAlive(): void {}
  write(b: Buffer | string, cb?: () => void): boolean {
    this.written.push(Buffer.from(b));
    cb?.();
    return true;
  }
  end(): void {
    this.readyState = 'closed';
  }
  destroy(): void {
    this.readyState = 'closed';
  }
}

/** Opens a one-connection pool whose sockets are scripted; `closeEarly` names the attempts closed before their first flush. */
async function attempts(closeEarly: Set<number>, waitMs: number): Promise<ScriptedSocket[]> {
  const sockets: ScriptedSocket[] = [];
  const options = {
    host: '127.0.0.1',
    port: 1,
    user: 'u',
    database: 'd',
    max: 1,
    connect_timeout: 30,
    backoff: 0.01,
    onnotice: () => {},
    socket: () => {
      const s = new ScriptedSocket();
      sockets.push(s);
      if (closeEarly.has(sockets.length)) setImmediate(() => s.emit('close', false));
      return s;
    },
  };
  const sql = postgres(options as unknown as postgres.Options<Record<string, never>>);
  void sql`select 1`.catch(() => undefined);
  await new Promise((r) => setTimeout(r, waitMs));
  await sql.end({ timeout: 0 }).catch(() => undefined);
  return sockets;
}

/** The protocol version 3.0 StartupMessage header: length, then 0x00030000. */
const isStartup = (b: Buffer): boolean => b.length >= 8 && b.readInt32BE(4) === 196608;

describe('postgres.js – pending writes across a closed socket', () => {
  it('postgres.js – a pool slot whose socket closed with a write pending sends its next StartupMessage at once', async () => {
    const [first, second] = await attempts(new Set([1]), 300);
    expect(first!.written).toEqual([]);
    expect(second, 'the driver reconnects after the close').toBeDefined();
    // Exactly one StartupMessage, and nothing left over from the closed socket in front of it.
    expect(second!.written.length).toBe(1);
    expect(isStartup(second!.written[0]!)).toBe(true);
  });

  it('postgres.js – a socket that stays open gets its StartupMessage (the scripted socket works)', async () => {
    const [only] = await attempts(new Set(), 100);
    expect(only!.written.length).toBe(1);
    expect(isStartup(only!.written[0]!)).toBe(true);
  });
});
