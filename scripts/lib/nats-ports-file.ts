import { readFile, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

// A TCP connect to the client port succeeds on any listener: Debian's nats-server package starts a system
// service on 127.0.0.1:4222, so our nats-server exited with "address in use" while the nodes quietly connected
// to the system one. nats-server's `--ports_file_dir` makes it write `<executable>_<pid>.ports` once its
// listeners are up, so a ports file with our child's pid proves the listener is ours.

/** The ports file of the nats-server with this pid in `dir`, if it wrote one. */
function portsFileName(files: string[], pid: number): string | undefined {
  return files.find((f) => f.endsWith(`_${pid}.ports`));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes ports files of nats-servers that are gone. A SIGKILLed server leaves its file behind, and a new
 * server given the same pid would otherwise look started before it listens.
 */
export async function removeStalePortsFiles(dir: string): Promise<void> {
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(/_(\d+)\.ports$/.exec(f)?.[1] ?? NaN);
    if (Number.isInteger(pid) && !alive(pid)) await rm(path.join(dir, f), { force: true });
  }
}

/** The client URLs from the ports file of the nats-server with this pid, or undefined while it has none. */
export async function readOwnClientUrls(dir: string, pid: number): Promise<string[] | undefined> {
  const file = portsFileName(await readdir(dir).catch(() => [] as string[]), pid);
  if (file === undefined) return undefined;
  try {
    const ports = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as { nats?: string[] };
    return ports.nats ?? [];
  } catch {
    return undefined; // caught mid-write: read again on the next poll
  }
}

/** Says what listens on 127.0.0.1:port, for an "address in use" failure: another nats-server (by its INFO) or something else. */
export async function describePortHolder(port: number, host = '127.0.0.1'): Promise<string> {
  const hint = `(\`ss -ltnp 'sport = :${port}'\` shows its process)`;
  const firstLine = await new Promise<string | undefined>((resolve) => {
    let buf = '';
    const s = net.connect({ port, host });
    const done = (v: string | undefined): void => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(1000, () => done(buf));
    s.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      if (buf.includes('\n')) done(buf.split('\n')[0]);
    });
    s.on('error', () => done(undefined));
    s.on('close', () => done(buf));
  });
  if (firstLine === undefined) return 'a process that has let it go since';
  if (!firstLine.startsWith('INFO ')) return `a process that is not a nats-server ${hint}`;
  let info: { server_name?: string; version?: string } = {};
  try {
    info = JSON.parse(firstLine.slice(5)) as typeof info;
  } catch {
    // an INFO line we cannot read still says it is a nats-server
  }
  return (
    `another nats-server (server_name "${info.server_name ?? '?'}", version ${info.version ?? '?'}) ${hint}; ` +
    `Debian's nats-server package runs one as a system service: stop it with \`sudo systemctl disable --now nats-server\`, or use another port`
  );
}
