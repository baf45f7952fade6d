/**
 * Answers that only inform (what `/breakglass status` lists) run a few at a time after their
 * acks: under a burst of commands, every ack goes out first, within Slack's 3 seconds, and the
 * answers follow through response_url (valid for 30 minutes). Decisions never wait here.
 */
export class AfterAck {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly width: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.width) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await work();
    } finally {
      // The slot passes straight to the next in line, so nobody can jump the queue.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
