// What a vat node's pod says about it: ready or not, and why it failed, in a user's words.
import type { V1Pod } from '@kubernetes/client-node';

export const podReady = (pod: V1Pod | undefined): boolean =>
  pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/**
 * Why the pod's vat container is failing, or undefined while it is not. The container's
 * termination message is its last log lines (FallbackToLogsOnError): the node's pino JSON; the
 * last error line's msg (and err.message) is what the user needs.
 */
export function nodeFailure(pod: V1Pod | undefined): string | undefined {
  for (const init of pod?.status?.initContainerStatuses ?? []) {
    const t = init.state?.terminated ?? init.lastState?.terminated;
    if (!init.ready && t && t.exitCode !== 0) {
      const why = lastErrorLine(t.message ?? '');
      return `init container ${init.name} exited with code ${t.exitCode}${why ? `: ${why}` : ''}`;
    }
  }
  const status = pod?.status?.containerStatuses?.find((c) => c.name === 'vat');
  if (!status) return undefined;
  const waiting = status.state?.waiting;
  const terminated = status.state?.terminated ?? status.lastState?.terminated;
  if (
    waiting?.reason === 'ErrImageNeverPull' ||
    waiting?.reason === 'ImagePullBackOff' ||
    waiting?.reason === 'ErrImagePull'
  ) {
    return `image ${status.image} cannot be pulled (${waiting.reason}): ${waiting.message ?? ''}`.trim();
  }
  if (waiting?.reason === 'CreateContainerConfigError') return waiting.message ?? waiting.reason;
  if (status.ready || !terminated || terminated.exitCode === 0) return undefined;
  if (status.state?.running && (status.restartCount ?? 0) === 0) return undefined;
  const why = lastErrorLine(terminated.message ?? '');
  return `vat node exited with code ${terminated.exitCode}${why ? `: ${why}` : ''}`;
}

export function lastErrorLine(text: string): string | undefined {
  const lines = text.split('\n').filter((l) => l.trim());
  // A plain Node crash (before any logger): its "SomeError: ..." line, not the version footer.
  const thrown = lines.filter((l) => /^\w*Error\b/.test(l.trim())).at(-1);
  if (thrown && !lines.some((l) => l.startsWith('{'))) return thrown.trim().slice(0, 500);
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    try {
      const rec = JSON.parse(line) as {
        level?: number | string;
        msg?: string;
        err?: { message?: string };
      };
      const level =
        typeof rec.level === 'number'
          ? rec.level
          : ({ error: 50, fatal: 60 }[rec.level ?? ''] ?? 0);
      if (level >= 50) {
        const err = rec.err?.message;
        return [rec.msg, err && err !== rec.msg ? err : undefined].filter(Boolean).join(': ');
      }
    } catch {
      // Not JSON (a crash before the logger started): the last plain line says most.
      if (i === lines.length - 1) return line.slice(0, 500);
    }
  }
  return undefined;
}
