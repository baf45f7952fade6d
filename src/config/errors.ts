/** A configuration problem a person can fix; start-up prints it and stops. */
export class ConfigError extends Error {
  constructor(readonly problems: string[], heading = 'breakglass cannot start') {
    super(`${heading}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}
