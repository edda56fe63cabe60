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

/**
 * Records that test a pipeline's limits, as lines, with the remote target of
 * each that matches the flagship (in order): a malformed line, a 64 KiB event,
 * a 5 MB matching event, the deepest nesting Fluent Bit passes on (it drops a
 * record nested more than 62 levels itself), an empty line, a non-matching
 * process creation.
 */
export function hostileLines(tag = '') {
  const hit = (target, extra = {}, tail = '') => JSON.stringify(processCreation(`schtasks /create /s ${target}${tag} /tn t${tail}`, extra));
  const lines = [
    hit('SMALL'),
    '{"EventID": 1, "Image": ',
    hit('K64', {}, ` /tr "${'A'.repeat(64 * 1024)}"`),
    hit('BIG5', {}, ` /tr "${'B'.repeat(5 << 20)}"`),
    hit('DEEP', { Nested: nested(62) }),
    '',
    JSON.stringify(processCreation('schtasks /query /fo LIST')),
    hit('LAST'),
  ];
  return { lines, targets: ['SMALL', 'K64', 'BIG5', 'DEEP', 'LAST'].map((t) => `${t}${tag}`) };
}
