import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** manifest.yml at the root of the package. */
export const MANIFEST_PATH = fileURLToPath(new URL('../../../manifest.yml', import.meta.url));

/**
 * The bot scopes manifest.yml asks for. The image ships manifest.yml; this copy answers when the
 * file cannot be read (an installation without it), and a test keeps it equal to the file.
 */
export const MANIFEST_BOT_SCOPES: readonly string[] = ['commands', 'chat:write', 'im:write', 'users:read', 'users:read.email', 'usergroups:read'];

/** The manifest's `oauth_config.scopes.bot`. */
export function parseManifestScopes(text: string): string[] {
  const doc = parse(text) as { oauth_config?: { scopes?: { bot?: unknown } } } | null;
  const bot = doc?.oauth_config?.scopes?.bot;
  if (!Array.isArray(bot) || !bot.every((s): s is string => typeof s === 'string')) {
    throw new Error('manifest.yml has no oauth_config.scopes.bot list');
  }
  return bot;
}

/** The scopes from manifest.yml when it is there, otherwise the built-in copy; `source` says which. */
export function manifestScopes(path = MANIFEST_PATH): { scopes: string[]; source: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { scopes: [...MANIFEST_BOT_SCOPES], source: 'the manifest built into breakglass' };
  }
  return { scopes: parseManifestScopes(text), source: path };
}
