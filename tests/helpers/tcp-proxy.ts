import net from 'node:net';

/** A loopback TCP proxy to `target` whose client sides can be cut while the target's sides stay open. */
export interface TcpProxy {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string;
  /** Destroys every client-side socket; the sockets to the target stay open and unread from. */
  cut(): void;
  close(): void;
}

export async function tcpProxy(target: URL): Promise<TcpProxy> {
  const pairs: { client: net.Socket; upstream: net.Socket }[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    pairs.push({ client, upstream });
    client.on('data', (b) => upstream.write(b));
    upstream.on('data', (b) => {
      if (!client.destroyed) client.write(b);
    });
    client.on('error', () => {});
    upstream.on('error', () => {});
    upstream.on('close', () => client.destroy());
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
    close() {
      for (const p of pairs) p.upstream.destroy();
      server.close();
    },
  };
}
