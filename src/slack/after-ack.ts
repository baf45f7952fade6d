/**
 * Answers that only inform (what `/breakglass status` lists) wait until acks stop arriving (a
 * quiet spell, at most a second) and then run a few at a time: under a burst of commands every
 * ack goes out first, within Slack's 3 seconds, and the answers follow through response_url
 * (valid for 30 minutes). Decisions never wait here.
 */
export class AfterAck {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private lastAck = 0;

  constructor(
    private readonly width: number,
    private readonly quietMs = 25,
    private readonly maxWaitMs = 1000,
  ) {}

  /** An ack went out: answers hold back a little longer. */
  acked(): void {
    this.lastAck = Date.now();
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.width) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      // Checked when the answer's turn comes, not when it was queued: answers left over from one
      // burst hold back for the next one's acks too.
      const since = Date.now();
      while (Date.now() - this.lastAck < this.quietMs && Date.now() - since < this.maxWaitMs) await new Promise((r) => setTimeout(r, this.quietMs));
      return await work();
    } finally {
      // The slot passes straight to the next in line, so nobody can jump the queue.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
