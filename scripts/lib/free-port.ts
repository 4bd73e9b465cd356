import net from 'node:net';

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

/** A free loopback TCP port outside the kernel's ephemeral range, checked by binding it; never one this process gave out before. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < PORT_ATTEMPTS; i++) {
    const port = PORT_RANGE.low + Math.floor(Math.random() * (PORT_RANGE.high - PORT_RANGE.low + 1));
    if (handedOut.has(port) || !(await bindable(port, host))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${PORT_RANGE.low}-${PORT_RANGE.high} after ${PORT_ATTEMPTS} attempts`);
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
