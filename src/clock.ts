import type { Clock } from './services/ports.ts';

/** The system clock: what the bot runs on. */
export const systemClock: Clock = {
  now: () => new Date().toISOString(),
  ms: () => Date.now(),
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  },
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};
