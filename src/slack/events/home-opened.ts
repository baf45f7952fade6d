import type { App } from '@slack/bolt';
import type { ServiceContext } from '../../services/context.ts';

/** What the listener needs of the home refresher (workers/home-refresher.ts). */
export interface HomeOpenings {
  opened(slackUserId: string): Promise<void>;
}

/** Someone opened the App Home (Bolt has acked the event already): remember them and publish their home. */
export function registerHomeOpened(app: App, ctx: ServiceContext, homes: HomeOpenings): void {
  app.event('app_home_opened', async ({ event }) => {
    if (event.tab !== 'home') return;
    try {
      await homes.opened(event.user);
    } catch (err) {
      ctx.log.error({ err, event: 'home.open_failed', slackUserId: event.user }, 'an App Home could not be published');
    }
  });
}
