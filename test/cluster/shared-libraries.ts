// The shared libraries a dynamically linked binary loads, as ldd resolves them: what an image
// built without a registry must carry beside the binary (make-images.ts for the test cluster,
// test/container/base-image.ts for the Docker base image).
import { execFileSync } from 'node:child_process';

export function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}
