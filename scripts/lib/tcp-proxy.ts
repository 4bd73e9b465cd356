import net from 'node:net';

/** A loopback TCP proxy to `target` whose client sides can be cut while the target's sides stay open. */
export interface TcpProxy {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string;
  /** Destroys every client-side socket; the sockets to the target stay open and unread from. */
  cut(): void;
  /** Holds back what the target sends to connections opened from now on, for `ms` (a slow link or startup); 0: none. */
  delayNew(ms: number): void;
  /** From now on passes nothing either way and closes nothing: a link gone silent (a partition, a frozen peer). */
  freeze(): void;
  /** Ends a freeze: every connection open through it is dropped (what it held back is lost), new ones pass again. */
  thaw(): void;
  close(): void;
}

export async function tcpProxy(target: URL): Promise<TcpProxy> {
  const pairs: { client: net.Socket; upstream: net.Socket }[] = [];
  let delayMs = 0;
  let frozen = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    pairs.push({ client, upstream });
    const delay = delayMs;
    client.on('data', (b) => {
      if (!frozen) upstream.write(b);
    });
    upstream.on('data', (b) => {
      const pass = () => {
        if (!client.destroyed && !frozen) client.write(b);
      };
      if (delay > 0) setTimeout(pass, delay);
      else pass();
    });
    client.on('error', () => {});
    upstream.on('error', () => {});
    // A silent link carries no FIN or RST either.
    upstream.on('close', () => {
      if (!frozen) client.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url(url: string) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut() {
      for (const p of pairs) p.client.destroy();
    },
    delayNew(ms: number) {
      delayMs = ms;
    },
    freeze() {
      frozen = true;
    },
    thaw() {
      frozen = false;
      for (const p of pairs.splice(0)) p.upstream.destroy(), p.client.destroy();
    },
    close() {
      for (const p of pairs) p.upstream.destroy(), p.client.destroy();
      server.close();
    },
  };
}
