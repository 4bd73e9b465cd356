import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Below Linux's ephemeral range (32768–60999 by default): a port the kernel hands out is also what it gives the
 * next outgoing connection, so between the check here and a server's listen, one of the suite's thousands of
 * client sockets could take it. Ports here are never handed out that way; only another caller picking the same
 * one at random could clash.
 */
const PORT_RANGE = { low: 20_000, high: 32_767 } as const;
const PORT_ATTEMPTS = 50;

/**
 * Ports this process handed out already. A caller often picks several before anything listens on them (a test
 * cluster picks its gateway ports, then starts nats-server and Postgres on ports of their own): without this, a
 * later pick could be one an earlier caller was about to listen on, and one of the two fails with "in use".
 */
const handedOut = new Set<number>();

/**
 * The same, across processes: vitest's workers, a bench and a chaos run each pick ports at random, and two of them
 * picking one port between its check and its listen failed a suite's start. A pick is a file created exclusively
 * here; it is removed when this process exits.
 */
export const RESERVATIONS_DIR = path.join(os.tmpdir(), 'natsim-ports');
/** Long past any pick's listen (a spawned node listens within seconds); older files are left by killed processes. */
const RESERVATION_TTL_MS = 10 * 60_000;
const reservedFiles: string[] = [];
let reservationsReady = false;

/** A free loopback TCP port outside the kernel's ephemeral range, checked by binding it; never one this or another live caller gave out recently. */
export async function freePort(host = '127.0.0.1', pick: () => number = randomPort): Promise<number> {
  for (let i = 0; i < PORT_ATTEMPTS; i++) {
    const port = pick();
    if (handedOut.has(port) || !reserve(port)) continue;
    handedOut.add(port);
    if (await bindable(port, host)) return port;
  }
  throw new Error(`no free port in ${PORT_RANGE.low}-${PORT_RANGE.high} after ${PORT_ATTEMPTS} attempts`);
}

function randomPort(): number {
  return PORT_RANGE.low + Math.floor(Math.random() * (PORT_RANGE.high - PORT_RANGE.low + 1));
}

/** Claims `port` for this process unless another claimed it within the TTL. */
function reserve(port: number): boolean {
  const file = path.join(RESERVATIONS_DIR, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      if (!reservationsReady) {
        fs.mkdirSync(RESERVATIONS_DIR, { recursive: true });
        process.once('exit', releaseAll);
        reservationsReady = true;
      }
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      reservedFiles.push(file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!stale(file)) return false;
      fs.rmSync(file, { force: true });
    }
  }
  return false;
}

function stale(file: string): boolean {
  try {
    return Date.now() - fs.statSync(file).mtimeMs > RESERVATION_TTL_MS;
  } catch {
    return true; // removed meanwhile
  }
}

function releaseAll(): void {
  for (const file of reservedFiles) fs.rmSync(file, { force: true });
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Resolves once something accepts TCP connections on host:port, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
