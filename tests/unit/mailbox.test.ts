import { describe, expect, it } from 'vitest';
import { Mailbox, MailboxJob } from '../../runtime/mailbox.js';

/** A job that records its run and outcome in `log`. */
class Probe extends MailboxJob {
  constructor(
    private readonly name: string,
    private readonly log: string[],
    private readonly work: () => unknown = () => name,
  ) {
    super();
  }

  run(): unknown {
    this.log.push(`run ${this.name}`);
    return this.work();
  }

  done(value: unknown): void {
    this.log.push(`done ${this.name}=${String(value)}`);
  }

  failed(err: unknown): void {
    this.log.push(`failed ${this.name}: ${(err as Error).message}`);
  }
}

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('mailbox', () => {
  it('mailbox – synchronous jobs run at once, in order, each outcome given before the next runs', () => {
    const log: string[] = [];
    const m = new Mailbox();
    m.push(new Probe('a', log));
    m.push(new Probe('b', log));
    expect(log).toEqual(['run a', 'done a=a', 'run b', 'done b=b']);
    expect(m.size).toBe(0);
  });

  it('mailbox – a job returning a promise holds later jobs until it settles, including a rejection', async () => {
    const log: string[] = [];
    const m = new Mailbox();
    let release!: () => void;
    m.push(new Probe('slow', log, () => new Promise<string>((r) => (release = () => r('late')))));
    m.push(new Probe('next', log));
    m.push(new Probe('bad', log, () => Promise.reject(new Error('no'))));
    m.push(new Probe('last', log));
    expect(log).toEqual(['run slow']);
    expect(m.size).toBe(4);
    const idle = m.idle();
    release();
    await idle;
    expect(log).toEqual(['run slow', 'done slow=late', 'run next', 'done next=next', 'run bad', 'failed bad: no', 'run last', 'done last=last']);
    expect(m.size).toBe(0);
  });

  it('mailbox – a throwing job fails alone; the next one still runs', () => {
    const log: string[] = [];
    const m = new Mailbox();
    m.push(
      new Probe('boom', log, () => {
        throw new Error('thrown');
      }),
    );
    m.push(new Probe('after', log));
    expect(log).toEqual(['run boom', 'failed boom: thrown', 'run after', 'done after=after']);
  });

  it('mailbox – rejectPending refuses what waits, not what runs, and the mailbox takes new jobs after', async () => {
    const log: string[] = [];
    const m = new Mailbox();
    let release!: () => void;
    m.push(new Probe('running', log, () => new Promise<void>((r) => (release = r))));
    m.push(new Probe('w1', log));
    m.push(new Probe('w2', log));
    m.rejectPending(new Error('gone'));
    expect(log).toEqual(['run running', 'failed w1: gone', 'failed w2: gone']);
    expect(m.size).toBe(1);
    release();
    await tick();
    m.push(new Probe('fresh', log));
    expect(log.slice(3)).toEqual(['done running=undefined', 'run fresh', 'done fresh=fresh']);
    expect(m.size).toBe(0);
  });

  it('mailbox – a job queued by a running job waits its turn; post resolves with the value', async () => {
    const log: string[] = [];
    const m = new Mailbox();
    m.push(
      new Probe('outer', log, () => {
        m.push(new Probe('inner', log));
        return 'o';
      }),
    );
    expect(log).toEqual(['run outer', 'done outer=o', 'run inner', 'done inner=inner']);
    await expect(m.post(() => 42)).resolves.toBe(42);
    await expect(m.post(async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await expect(m.idle()).resolves.toBeUndefined();
  });
});
