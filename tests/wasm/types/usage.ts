// Type-checked (tsc --strict --noEmit) against pkg/web's declarations: every
// shape a consumer touches is typed, none is `any`.
import init, { Detector, detect, detectBytes, rule, toCsv, restarts } from '../../../pkg/web/index.js';
import type { DetectOptions, DetectResult, Row, RiskEvent, Match, FileStats, Progress, RiskObjectSummary } from '../../../pkg/web/index.js';

export async function demo(bytes: Uint8Array): Promise<string[]> {
  await init();
  const options: DetectOptions = { mode: 'precise', tz: '+02:00', filter: 'NOT user=SYSTEM', maxMatchesPerRow: 5 };
  const d = new Detector(options);
  d.push(bytes, 'a.evtx');
  d.endFile();
  const p: Progress = d.progress();
  const r: DetectResult = d.finish();
  const row: Row | undefined = r.rows[0];
  const count: number = row ? row.count : 0;
  const risk: RiskEvent[] = r.risk_events;
  const tactics: string[] = risk.flatMap((e) => e.annotations.mitre_tactic);
  const m: Match | undefined = r.matches[0];
  const where: number | undefined = m?.line ?? m?.record;
  const files: FileStats[] = r.stats.files;
  const errs: string[] = files.flatMap((f) => f.errors.map((e) => `${e.line ?? e.offset}: ${e.message}`));
  const objects: RiskObjectSummary[] = r.risk_objects;
  const again: DetectResult = detectBytes(bytes, 'b.json', { mode: 'parity' });
  const fromEvents: DetectResult = detect([{ process_name: 'schtasks.exe', process: 'schtasks /create /s h' }]);
  const id: string = rule().id;
  const csv: string = toCsv(['process', 'count'], r.rows);
  const lost: number = restarts();
  const notes: string[] = files.flatMap((f) => (f.notes ?? []).map((n) => n.message));
  const skipped: string[] = (r.stats.skipped ?? []).map((s) => `${s.path}: ${s.reason}`);
  return [String(count), String(p.bytes), ...tactics, String(where), ...errs, String(objects.length), String(again.rows.length), String(fromEvents.stats.process_creation.cim), id, csv, String(lost), ...notes, ...skipped];
}
