/**
 * What queued callers hear: each group's own announcement files, else the built-in prompts
 * (prompts/huntgroup/queue-first.wav, queue-second.wav). All are read at start, so a missing
 * or broken file stops the node with its path in the message.
 */
import { join, resolve } from 'node:path';
import { defaultPromptsDir, loadPromptSet, readPrompt } from '../../core/prompts.js';
import type { HuntGroupConfig } from './types.js';

export type Announcer = (group: HuntGroupConfig, which: 'first' | 'second') => Int16Array;

export function loadAnnouncements(groups: readonly HuntGroupConfig[], dir: string = join(defaultPromptsDir(), 'huntgroup')): Announcer {
  const builtIn = loadPromptSet(dir, ['queue-first', 'queue-second'] as const, 'hunt group prompt', 'run scripts/prompts.sh huntgroup');
  const own = new Map<string, { first?: Int16Array; second?: Int16Array }>();
  groups.forEach((g, i) => {
    const q = g.queue;
    const at = `huntGroups[${i}].queue`;
    own.set(g.extension, {
      first: q.announcement ? readPrompt(resolve(q.announcement), `${at}.announcement`, 'give an 8 kHz mono WAV file') : undefined,
      second: q.secondAnnouncement ? readPrompt(resolve(q.secondAnnouncement), `${at}.secondAnnouncement`, 'give an 8 kHz mono WAV file') : undefined,
    });
  });
  return (group, which) => own.get(group.extension)?.[which] ?? builtIn[which === 'first' ? 'queue-first' : 'queue-second'];
}
