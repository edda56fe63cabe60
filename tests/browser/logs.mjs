// Logs the browser tests generate.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/** Writes a Sysmon NXLog-style JSON-lines log of about `bytes`, a hit every 5000 lines. */
export async function writeLog(path, bytes) {
  const ws = createWriteStream(path);
  let written = 0;
  let lines = 0;
  let hits = 0;
  while (written < bytes) {
    const hit = lines % 5000 === 0;
    if (hit) hits++;
    const line = JSON.stringify({
      EventTime: '2024-02-01 10:00:00', Hostname: `WKS-${lines % 50}.corp.example`, EventID: hit ? 1 : (lines % 3 ? 1 : 3),
      SourceName: 'Microsoft-Windows-Sysmon', Channel: 'Microsoft-Windows-Sysmon/Operational', RecordNumber: lines + 1,
      UtcTime: `2024-02-01 10:${String(Math.floor(lines / 60000) % 60).padStart(2, '0')}:${String(Math.floor(lines / 1000) % 60).padStart(2, '0')}.000`,
      ProcessGuid: `{E2A3D6B1-11D7-5F25-0000-${String(lines).padStart(12, '0')}}`, ProcessId: String(lines % 65536),
      Image: hit ? 'C:\\Windows\\System32\\schtasks.exe' : 'C:\\Windows\\System32\\svchost.exe',
      CommandLine: hit ? `schtasks /create /s SRV-${lines % 7} /tn t${lines % 3} /tr c:\\x.exe /sc once /st 00:00` : 'C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule',
      User: 'CORP\\svc', ParentImage: 'C:\\Windows\\System32\\services.exe', ParentCommandLine: 'C:\\Windows\\system32\\services.exe',
      Hashes: 'SHA256=A9A4FD9C1BB7C5CF8F77F761CAE60F4AC4AFB8DAEEBB46B3AD6983D5E599CDC1', IntegrityLevel: 'System',
      Message: 'Process Create: '.padEnd(400, '.'),
    }) + '\n';
    if (!ws.write(line)) await once(ws, 'drain');
    written += line.length;
    lines++;
  }
  ws.end();
  await once(ws, 'finish');
  return { lines, hits };
}

/**
 * JSON lines whose records straddle any cut: objects cut short by the next
 * line's object, pretty-printed objects, garbage, invalid UTF-8, several
 * objects on a line, a string cut by a newline, a nested member opening in
 * the first column; and hits among them (tests/split.rs's hostile input).
 */
export function hostileJsonLines() {
  const sysmon = (cmd) => JSON.stringify({
    EventID: 1, Channel: 'Microsoft-Windows-Sysmon/Operational', Computer: 'ws1.corp', Image: 'C:\\Windows\\System32\\schtasks.exe',
    ProcessGuid: '{1}', CommandLine: cmd, UtcTime: '2024-01-01 00:00:00.000', User: 'CORP\\bob', ParentImage: 'C:\\x\\cmd.exe',
  });
  const parts = [];
  for (let i = 0; i < 40; i++) {
    parts.push(Buffer.from(`${sysmon(`schtasks /create /s host${i % 3} /tn t /tr x`)}\n`));
    const extra = [
      '{"EventID":1,"Image":"C:\\\\a.exe",\n',
      '{\n  "EventID": 4688,\n  "Channel": "Security",\n  "NewProcessName": "C:\\\\w\\\\schtasks.exe",\n  "CommandLine": "schtasks /create /s fs02 /tn a /tr b"\n}\n',
      'not json\n{"EventID": tru}\n',
      '[{"EventID":4624},{"EventID":4625}],\n',
      '{"EventID":"4688","CommandLine":"abc\n',
      '{"a":\n{"b":1}}\n',
    ][i % 8];
    if (extra) parts.push(Buffer.from(extra));
    if (i % 8 === 2) parts.push(Buffer.from([0x7b, 0x22, 0x78, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d, 0x0a])); // {"x":"<0xff>"}
  }
  return Buffer.concat(parts);
}

/**
 * Sysmon JSON lines that give `rows` distinct flagship rows: 2,000 hosts,
 * each running `rows / 2000` different schtasks command lines, one in fifty
 * naming one of 20 remote hosts (edges for the graph), over a day.
 */
export async function writeManyRows(path, rows) {
  const ws = createWriteStream(path);
  const perHost = Math.ceil(rows / 2000);
  for (let i = 0; i < rows; i++) {
    const host = i % 2000;
    const k = Math.floor(i / 2000);
    const remote = i % 50 === 0 ? ` /s SRV-${(i / 50) % 20}` : '';
    const s = i % 86400;
    const line = JSON.stringify({
      EventID: 1, Channel: 'Microsoft-Windows-Sysmon/Operational', Hostname: `WKS-${String(host).padStart(4, '0')}.corp.example`,
      UtcTime: `2024-02-01 ${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}.000`,
      ProcessGuid: `{E2A3D6B1-11D7-5F25-0000-${String(i).padStart(12, '0')}}`, ProcessId: String(i % 65536),
      Image: 'C:\\Windows\\System32\\schtasks.exe', CommandLine: `schtasks /create${remote} /tn job-${k} /tr c:\\tools\\t${k}.exe /sc once /st 00:00`,
      User: `CORP\\user${host % 300}`, ParentImage: 'C:\\Windows\\System32\\cmd.exe', ParentCommandLine: 'cmd.exe',
    }) + '\n';
    if (!ws.write(line)) await once(ws, 'drain');
  }
  ws.end();
  await once(ws, 'finish');
  return { perHost };
}
