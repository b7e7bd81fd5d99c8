// The node's public identity from its HTTP endpoint (/identity): VatID and announced addresses.
// Nothing secret is served there; the sturdyref travels only through the pod's own Secret.
import { PORTS } from './names.ts';

export async function fetchIdentity(
  podIP: string,
  timeoutMs = 2000,
): Promise<{ vatId: string; addresses: string[] } | undefined> {
  try {
    const res = await fetch(`http://${podIP}:${PORTS.http}/identity`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return undefined;
    return parseIdentity(await res.json());
  } catch {
    return undefined;
  }
}

export function parseIdentity(body: unknown): { vatId: string; addresses: string[] } | undefined {
  const b = body as {
    vatId?: unknown;
    peerId?: unknown;
    addresses?: unknown;
    multiaddrs?: unknown;
  };
  const vatId =
    typeof b?.vatId === 'string' ? b.vatId : typeof b?.peerId === 'string' ? b.peerId : undefined;
  if (!vatId) return undefined;
  const list = Array.isArray(b.addresses)
    ? b.addresses
    : Array.isArray(b.multiaddrs)
      ? b.multiaddrs
      : [];
  return { vatId, addresses: list.filter((a): a is string => typeof a === 'string') };
}
