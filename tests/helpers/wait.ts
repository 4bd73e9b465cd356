import { ImError } from '../../protocol/errors.js';

/** Polls `ok` every `everyMs` (50) until it holds; fails naming `what` once `ms` have passed without it. */
export async function waitUntil(ok: () => boolean | Promise<boolean>, what: string, ms = 8000, everyMs = 50): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** What `p` settles as: 'resolved', or the code of the ImError it rejects with (any other error as text). */
export function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof ImError ? e.code : String(e)),
  );
}
