/** Words for the numbers the pages show. */

/** A lifetime in words: whole days from two days up, else whole hours, else minutes ("7 days", "24 hours"). */
export function duration(ms: number): string {
  const [unit, size] =
    ms >= 2 * 86_400_000 && ms % 86_400_000 === 0
      ? ['day', 86_400_000]
      : ms % 3_600_000 === 0
        ? ['hour', 3_600_000]
        : ['minute', 60_000];
  const n = Math.round(ms / size);
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** How long ago an instant was, in words: "just now", "4 min ago", else the time of day ("at 09:12"). */
export function ago(iso: string, now = Date.now()): string {
  const minutes = Math.floor((now - Date.parse(iso)) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  return `at ${new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })}`;
}
