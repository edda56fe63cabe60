// The built-in sample: real-looking events of each source, in three files.
// Field layouts follow real Sysmon (NXLog JSON), Security 4688 (Splunk XML)
// and CrowdStrike FDR records; the hosts and users are made up.

const sysmon = (time, record, cmd, parentImage, parentCmd, image = 'C:\\Windows\\System32\\schtasks.exe') => ({
  EventTime: time.slice(0, 19), Hostname: 'WKS-FIN-014.corp.example', EventID: 1, SourceName: 'Microsoft-Windows-Sysmon',
  Channel: 'Microsoft-Windows-Sysmon/Operational', RecordNumber: record, Category: 'Process Create (rule: ProcessCreate)',
  UtcTime: time, ProcessGuid: `{7A1E2B3C-11D7-5F25-0000-0010${String(record).padStart(8, '0')}}`, ProcessId: String(4000 + record % 997),
  Image: image, FileVersion: '10.0.19041.1 (WinBuild.160101.0800)', Description: 'Task Scheduler Configuration Tool',
  Product: 'Microsoft® Windows® Operating System', Company: 'Microsoft Corporation', OriginalFileName: image.endsWith('schtasks.exe') ? 'schtasks.exe' : 'Cmd.Exe',
  CommandLine: cmd, CurrentDirectory: 'C:\\Users\\m.jansen\\', User: 'CORP\\m.jansen', IntegrityLevel: 'High',
  ParentProcessId: '6120', ParentImage: parentImage, ParentCommandLine: parentCmd,
});

const events = [
  sysmon('2024-03-05 09:14:07.311', 88121,
    'schtasks /create /s FS-02.corp.example /ru SYSTEM /tn "\\Microsoft\\Windows\\Maintenance\\Sync" /tr "C:\\ProgramData\\sync.exe" /sc once /st 09:20',
    'C:\\Windows\\System32\\cmd.exe', 'cmd.exe /c schtasks /create /s FS-02.corp.example /ru SYSTEM /tn "\\Microsoft\\Windows\\Maintenance\\Sync" /tr "C:\\ProgramData\\sync.exe" /sc once /st 09:20'),
  sysmon('2024-03-05 09:14:06.902', 88120,
    'cmd.exe /c schtasks /create /s FS-02.corp.example /ru SYSTEM /tn "\\Microsoft\\Windows\\Maintenance\\Sync" /tr "C:\\ProgramData\\sync.exe" /sc once /st 09:20',
    'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe', 'powershell.exe -nop -w hidden', 'C:\\Windows\\System32\\cmd.exe'),
  sysmon('2024-03-05 11:02:44.120', 88407,
    'schtasks.exe /create /sc daily /tn "Backup nightly" /tr "C:\\Tools\\backup.cmd" /st 23:00',
    'C:\\Windows\\explorer.exe', 'C:\\Windows\\Explorer.EXE'),
  sysmon('2024-03-05 11:05:01.500', 88433,
    'schtasks /query /s FS-02.corp.example /fo LIST',
    'C:\\Windows\\System32\\cmd.exe', 'cmd.exe'),
];

const xml4688 = (time, record, cmd) =>
  `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-A5BA-3E3B0328C30D}'/><EventID>4688</EventID><Version>2</Version><Level>0</Level><Task>13312</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='${time}'/><EventRecordID>${record}</EventRecordID><Correlation/><Execution ProcessID='4' ThreadID='276'/><Channel>Security</Channel><Computer>SRV-APP-03.corp.example</Computer><Security/></System><EventData><Data Name='SubjectUserSid'>S-1-5-21-3786818125-2382361537-3207726629-1104</Data><Data Name='SubjectUserName'>svc_deploy</Data><Data Name='SubjectDomainName'>CORP</Data><Data Name='SubjectLogonId'>0x14f392e</Data><Data Name='NewProcessId'>0x22d8</Data><Data Name='NewProcessName'>C:\\Windows\\System32\\schtasks.exe</Data><Data Name='TokenElevationType'>%%1937</Data><Data Name='ProcessId'>0x1cc</Data><Data Name='CommandLine'>${cmd}</Data><Data Name='TargetUserSid'>S-1-0-0</Data><Data Name='TargetUserName'>-</Data><Data Name='TargetDomainName'>-</Data><Data Name='TargetLogonId'>0x0</Data><Data Name='ParentProcessName'>C:\\Windows\\System32\\cmd.exe</Data><Data Name='MandatoryLabel'>S-1-16-12288</Data></EventData></Event>`;

const falcon = (ts, fields) => JSON.stringify({
  event_simpleName: 'ProcessRollup2', event_platform: 'Win', name: 'ProcessRollup2V19', timestamp: String(ts),
  aid: '5a1f0c22e8d94b6c9a3e2b7d4f1e0a99', cid: '124cb22314bf4f519be84bce582e7a6b', aip: '198.51.100.23',
  ProcessStartTime: (ts / 1000).toFixed(3), RawProcessId: '7316', TargetProcessId: '5642139910', ParentProcessId: '5642139001',
  SHA256HashData: 'a9a4fd9c1bb7c5cf8f77f761cae60f4ac4afb8daeebb46b3ad6983d5e599cdc1', UserSid: 'S-1-5-21-586445407-708991241-1829972403-1107',
  IntegrityLevel: '12288', SessionId: '2', ...fields,
});

export function sampleFiles() {
  return [
    new File([events.map((e) => JSON.stringify(e)).join('\n') + '\n'], 'sample-sysmon.json', { type: 'application/json' }),
    new File([
      xml4688('2024-03-06T15:40:12.117Z', 552101, 'schtasks  /create /s 10.20.0.15 /tn Updater /tr C:\\Windows\\Temp\\u.exe /sc onstart /ru system') + '\n' +
      xml4688('2024-03-06T15:41:02.004Z', 552140, 'schtasks /delete /s 10.20.0.15 /tn Updater /f') + '\n',
    ], 'sample-security-4688.xml', { type: 'application/xml' }),
    new File([
      falcon(1709823600123, { CommandLine: 'schtasks.exe -create -s DC-01 -tn GoogleUpdateTaskMachineUA -tr "C:\\Users\\Public\\gup.exe" -sc minute -mo 30', ImageFileName: '\\Device\\HarddiskVolume3\\Windows\\System32\\schtasks.exe', ParentBaseFileName: 'rundll32.exe', UserName: 'a.novak' }) + '\n' +
      JSON.stringify({ event_simpleName: 'AgentOnline', aid: '5a1f0c22e8d94b6c9a3e2b7d4f1e0a99', ComputerName: 'WKS-ENG-207', timestamp: '1709823000000', event_platform: 'Win' }) + '\n',
    ], 'sample-falcon.json', { type: 'application/json' }),
  ];
}
