/**
 * The prompts the demo configuration names (`prompts/connect-hold.wav` for `*48`), shipped with the
 * program in `gateway/assets/prompts/` and copied into the data directory, where every configured
 * prompt path resolves. A file already there is left alone: an administrator may have replaced it.
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ASSETS = fileURLToPath(new URL('../../assets/prompts/', import.meta.url));

/** File names in the assets folder, copied to `<dataDir>/prompts/`. */
export const DEMO_PROMPTS = ['connect-hold.wav'] as const;

export async function installDemoPrompts(dataDir: string): Promise<string[]> {
  const dir = join(dataDir, 'prompts');
  await mkdir(dir, { recursive: true });
  const copied: string[] = [];
  for (const name of DEMO_PROMPTS) {
    const to = join(dir, name);
    const exists = await stat(to).then(
      () => true,
      () => false,
    );
    if (exists) continue;
    await copyFile(join(ASSETS, name), to);
    copied.push(name);
  }
  return copied;
}
