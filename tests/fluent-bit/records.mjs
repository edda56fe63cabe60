// Records for the Fluent Bit tests, as JSON lines.

/** A Security 4688 process creation; a remote schtasks /create matches the flagship. */
export const processCreation = (commandLine, extra = {}) => ({
  EventID: 4688, Channel: 'Security', Computer: 'ws1', NewProcessName: 'C:\\Windows\\System32\\schtasks.exe',
  SubjectUserName: 'bob', TargetUserName: '-', CommandLine: commandLine, ...extra,
});

/** `value` inside `depth` levels of objects. */
export function nested(depth, value = 'x') {
  let v = value;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}
