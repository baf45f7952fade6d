// The bench's reference: a bare Bolt app started the way the bot is (`node <file>`, configured by
// environment, HTTP receiver on PORT), with /healthz and a /breakglass command that only acks.
import bolt from '@slack/bolt';

const { App, LogLevel } = bolt;
const app = new App({
  token: process.env.SLACK_BOT_TOKEN,
  signingSecret: process.env.SLACK_SIGNING_SECRET ?? '',
  logLevel: LogLevel.ERROR,
  clientOptions: process.env.SLACK_API_URL ? { slackApiUrl: process.env.SLACK_API_URL } : {},
  customRoutes: [
    {
      path: '/healthz',
      method: ['GET'],
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      },
    },
  ],
});
app.command('/breakglass', async ({ ack }) => {
  await ack();
});
await app.start(Number(process.env.PORT ?? 3000));
process.on('SIGTERM', () => {
  void app.stop().finally(() => process.exit(0));
});
