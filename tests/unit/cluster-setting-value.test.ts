import { describe, expect, it } from 'vitest';
import { clusterSettingValue } from '../../protocol/control.js';

describe('cluster settings', () => {
  it('cluster settings – a value is an integer at or above its setting\'s least one; unknown names have none', () => {
    expect(clusterSettingValue('large-group', '100')).toBe(100);
    expect(clusterSettingValue('large-group', '0')).toBeUndefined();
    expect(clusterSettingValue('recall-window', '0')).toBe(0);
    expect(clusterSettingValue('edit-window', '900')).toBe(900);
    for (const bad of ['', '-1', '1.5', '1e3', ' 5', '0x10', '9999999999999999']) expect(clusterSettingValue('recall-window', bad)).toBeUndefined();
    expect(clusterSettingValue('recall-window', undefined)).toBeUndefined();
    expect(clusterSettingValue('shards.chatter', '64')).toBeUndefined();
  });
});
