import { describe, expect, it } from 'vitest';
import { listPage, listRowBytes, PAGED_LIST_TTL_MS, PagedLists } from '../../actors/list-pages.js';
import type { ConvSummary, ConvsFrame } from '../../protocol/frames.js';
import { ListPages } from '../../protocol/sdk/list-pages.js';

const row = (conv: string, meta?: string): ConvSummary => ({ conv, kind: 'group', lastSeq: 1, readSeq: 0, unread: 1, ...(meta === undefined ? {} : { meta }) });

describe('list pages (connector)', () => {
  it('list pages – a list that fits goes whole, in its own order, with nothing more', () => {
    const rows = [row('b'), row('a'), row('c')];
    expect(listPage(rows)).toEqual({ list: rows });
  });

  it('list pages – a long list goes in conversation id order, each page within the budget, every row once', () => {
    const rows = Array.from({ length: 50 }, (_, i) => row(`g${String((i * 37) % 50).padStart(2, '0')}`, 'x'.repeat(1000)));
    const budget = 6 * listRowBytes(rows[0]!);
    const seen: string[] = [];
    let page = listPage(rows, undefined, budget);
    for (let n = 0; ; n++) {
      expect(page.list.length).toBe(page.more === undefined ? 50 - seen.length : 6);
      seen.push(...page.list.map((r) => r.conv));
      if (page.more === undefined) break;
      expect(page.more).toBe(page.list.at(-1)!.conv);
      page = listPage(rows, page.more, budget);
      expect(n).toBeLessThan(20);
    }
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => `g${String(i).padStart(2, '0')}`));
  });

  it('list pages – a row larger than the budget still goes, alone', () => {
    const big = row('a', 'x'.repeat(5000));
    expect(listPage([big, row('b')], undefined, 1000)).toEqual({ list: [big], more: 'a' });
    expect(listPage([big, row('b')], 'a', 1000)).toEqual({ list: [row('b')] });
  });

  it('list pages – rows are counted in UTF-8 bytes, meta, title and pins included', () => {
    const plain = listRowBytes(row('a'));
    expect(listRowBytes({ ...row('a'), title: '群'.repeat(100) })).toBeGreaterThanOrEqual(plain + 300);
    expect(listRowBytes({ ...row('a'), pins: [{ seq: 1, at: 1, by: 'u'.repeat(100) }] })).toBeGreaterThan(plain + 100);
  });
});

describe('paged lists (connector)', () => {
  const rows = ['d', 'a', 'c', 'b', 'e'].map((c) => row(c, 'x'.repeat(1000)));
  const budget = 2 * listRowBytes(rows[0]!);

  it('paged lists – every page comes from the list read for the first, and a short list is held for nobody', () => {
    const held = new PagedLists();
    const first = held.first('phone', rows, budget, 0);
    expect(first).toMatchObject({ more: 'b' });
    // The list changed since: the pages still come from the first read.
    expect(held.next('phone', 'b', budget, 1000)).toEqual({ list: [rows[2], rows[0]], more: 'd' });
    expect(held.next('phone', 'd', budget, 2000)).toEqual({ list: [rows[4]] });
    // Done: nothing held any more.
    expect(held.next('phone', 'd', budget, 2000)).toBeUndefined();
    expect(held.first('tablet', rows.slice(0, 2), budget, 0)).toEqual({ list: rows.slice(0, 2) });
    expect(held.next('tablet', 'a', budget, 0)).toBeUndefined();
  });

  it('paged lists – a list held too long, or whose device left, is read again', () => {
    const held = new PagedLists();
    held.first('phone', rows, budget, 0);
    expect(held.next('phone', 'b', budget, PAGED_LIST_TTL_MS + 1)).toBeUndefined();
    held.first('phone', rows, budget, 0);
    held.forget('phone');
    expect(held.next('phone', 'b', budget, 1)).toBeUndefined();
  });
});

describe('list pages (SDK)', () => {
  const frame = (list: string[], extra: Partial<ConvsFrame> = {}): ConvsFrame => ({ type: 'convs', list: list.map((c) => row(c)), ...extra });

  it('list pages – frames that go on from one another make one list, given once the last comes', () => {
    const p = new ListPages();
    expect(p.take(frame(['a', 'b'], { more: true }))).toBeUndefined();
    expect(p.take(frame(['c'], { after: 'b', more: true }))).toBeUndefined();
    expect(p.take(frame(['d'], { after: 'c' }))?.rows.map((r) => r.conv)).toEqual(['a', 'b', 'c', 'd']);
    expect(p.take(frame(['x']))?.rows.map((r) => r.conv)).toEqual(['x']);
  });

  it('list pages – a list started over drops the unfinished one, and a frame going on from nothing held is dropped', () => {
    const p = new ListPages();
    p.take(frame(['a', 'b'], { more: true }));
    expect(p.take(frame(['a'], { more: true }))).toBeUndefined();
    expect(p.take(frame(['b'], { after: 'a' }))?.rows.map((r) => r.conv)).toEqual(['a', 'b']);
    expect(p.take(frame(['z'], { after: 'y' }))).toBeUndefined();
    p.take(frame(['a'], { more: true }));
    p.clear();
    expect(p.take(frame(['b'], { after: 'a' }))).toBeUndefined();
  });

  it('list pages – a list in pages is as old as its first page', () => {
    const p = new ListPages();
    expect(p.take(frame(['a'], { more: true }), 1000)).toBeUndefined();
    expect(p.take(frame(['b'], { after: 'a' }), 25_000)).toEqual({ rows: [row('a'), row('b')], since: 1000 });
    expect(p.take(frame(['c']), 30_000)?.since).toBe(30_000);
  });

  it('list pages – answers to different requests are put together apart', () => {
    const p = new ListPages();
    p.take(frame(['a'], { more: true }));
    p.take(frame(['k'], { rid: 3, more: true }));
    expect(p.take(frame(['l'], { rid: 3, after: 'k' }))?.rows.map((r) => r.conv)).toEqual(['k', 'l']);
    expect(p.take(frame(['b'], { after: 'a' }))?.rows.map((r) => r.conv)).toEqual(['a', 'b']);
    p.take(frame(['k'], { rid: 4, more: true }));
    p.drop(4);
    expect(p.take(frame(['l'], { rid: 4, after: 'k' }))).toBeUndefined();
  });
});
