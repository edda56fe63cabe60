//! Each source's mapping to CIM, on security_content's example events (the
//! seed's own data-source definitions) and on fixtures built from real layouts,
//! through every container shape of spec §3.

mod common;

use common::{assert_reconciles, detect, detect_bytes};
use schtasks_detect::{Mode, Options, Report};
use std::io::Write;

const SYSMON_XML: &str = include_str!("fixtures/sysmon_eventid_1.example_log.xml");
const SEC4688_XML: &str = include_str!("fixtures/windows_event_log_security_4688.example_log.xml");
const CS_JSON: &str = include_str!("fixtures/crowdstrike_processrollup2.example_log.json");
const CS_FIXTURE: &str = include_str!("fixtures/crowdstrike_remote_schtasks.ndjson");

#[test]
fn fixtures_are_the_shared_example_logs() {
    let Some(data) = common::shared_data() else {
        eprintln!("SKIPPED: ../shared/data is absent");
        return;
    };
    let dir = data.join("security_content/data_sources");
    for (name, ours) in [
        ("sysmon_eventid_1.example_log.xml", SYSMON_XML),
        (
            "windows_event_log_security_4688.example_log.xml",
            SEC4688_XML,
        ),
        ("crowdstrike_processrollup2.example_log.json", CS_JSON),
    ] {
        assert_eq!(
            std::fs::read_to_string(dir.join(name)).unwrap(),
            ours,
            "{name}"
        );
    }
}

/// All events, matched or not, by running with a filter-free match-everything rule.
fn only_event(r: &Report) -> &schtasks_detect::report::Match {
    assert_eq!(r.matches.len(), 1, "{:?}", r.stats.files);
    &r.matches[0]
}

/// The example events do not run schtasks; make them, keeping every other field.
fn as_remote_schtasks(xml: &str, image_field: &str) -> String {
    let cmd_start =
        xml.find("<Data Name='CommandLine'>").unwrap() + "<Data Name='CommandLine'>".len();
    let cmd_end = cmd_start + xml[cmd_start..].find("</Data>").unwrap();
    let mut out = format!(
        "{}schtasks /create /s FS02 /tn t /tr c:\\x.exe /sc once{}",
        &xml[..cmd_start],
        &xml[cmd_end..]
    );
    let tag = format!("<Data Name='{image_field}'>");
    let i = out.find(&tag).unwrap() + tag.len();
    let j = i + out[i..].find("</Data>").unwrap();
    out.replace_range(i..j, "C:\\Windows\\System32\\schtasks.exe");
    out
}

/// Every CIM field of the one process creation in `bytes`, null ones absent,
/// through a rule that matches any process creation.
fn cim_fields(name: &str, bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    let yaml = "name: Any\nid: any\ntype: Hunting\nsearch: '| tstats `security_content_summariesonly` count from datamodel=Endpoint.Processes where Processes.vendor_product=* by Processes.dest | `drop_dm_object_name(Processes)` | `any_filter`'\ndata_source:\n- Sysmon EventID 1\n";
    let rule = schtasks_detect::ruleset::rule_from_yaml(yaml).unwrap();
    let mut d = schtasks_detect::Detector::with_rule(rule, Options::default()).unwrap();
    d.begin_file(name);
    d.push(bytes);
    let r = d.finish();
    assert_eq!(r.matches.len(), 1, "{:?}", r.stats.files);
    let v = serde_json::to_value(&r.matches[0].event).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "command_line")
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

fn expect(got: &std::collections::BTreeMap<String, String>, want: &[(&str, &str)]) {
    let want: std::collections::BTreeMap<String, String> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in &want {
        assert_eq!(got.get(k), Some(v), "field {k}");
    }
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(extra.is_empty(), "fields that should be null: {extra:?}");
}

/// CIM-PROCESSES.md §3, the Sysmon column, field by field.
#[test]
fn sysmon_example_gives_every_cim_field_of_the_spec() {
    let got = cim_fields("sysmon.xml", SYSMON_XML.as_bytes());
    let parent = got["parent_process"].clone();
    assert!(parent.starts_with("\"powershell.exe\" -noninteractive -encodedcommand WwBDAG8A"));
    assert_eq!(parent.chars().count(), 769);
    expect(
        &got,
        &[
            ("dest", "win-dc-6764986.attackrange.local"),
            ("host", "win-dc-6764986"),
            ("user", "Administrator"),
            ("user_id", "S-1-5-18"),
            (
                "process",
                "\"C:\\Windows\\system32\\cmd.exe\" /c \"reg save HKLM\\sam %%temp%%\\sam &amp; reg save HKLM\\system %%temp%%\\system &amp; reg save HKLM\\security %%temp%%\\security\" ",
            ),
            ("process_name", "cmd.exe"),
            ("process_exec", "cmd.exe"),
            ("process_path", "C:\\Windows\\System32\\cmd.exe"),
            ("process_id", "2296"),
            ("process_guid", "{96128EA2-F212-5F7E-E400-000000007F01}"),
            (
                "process_hash",
                "MD5=F4F684066175B77E0C3A000549D2922C,SHA256=935C1861DF1F4018D698E8B65ABFA02D7E9037D8F68CA3C2065B6CA165D44AD2,IMPHASH=3062ED732D4B25D1C64F084DAC97D37A",
            ),
            ("process_integrity_level", "high"),
            (
                "process_current_directory",
                "C:\\Users\\ADMINI~1\\AppData\\Local\\Temp\\",
            ),
            ("original_file_name", "Cmd.Exe"),
            ("parent_process", &parent),
            ("parent_process_name", "powershell.exe"),
            ("parent_process_exec", "powershell.exe"),
            (
                "parent_process_path",
                "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            ),
            ("parent_process_id", "4624"),
            (
                "parent_process_guid",
                "{96128EA2-F211-5F7E-DF00-000000007F01}",
            ),
            ("action", "allowed"),
            ("vendor_product", "Microsoft Sysmon"),
        ],
    );
}

/// CIM-PROCESSES.md §3, the 4688 column.
#[test]
fn security_4688_example_gives_every_cim_field_of_the_spec() {
    let got = cim_fields("4688.xml", SEC4688_XML.as_bytes());
    expect(
        &got,
        &[
            ("dest", "ar-win-1"),
            ("host", "ar-win-1"),
            ("user", "AR-WIN-1$"),
            (
                "process",
                "\"C:\\Program Files\\SplunkUniversalForwarder\\bin\\splunk-powershell.exe\" --ps2",
            ),
            ("process_name", "splunk-powershell.exe"),
            ("process_exec", "splunk-powershell.exe"),
            (
                "process_path",
                "C:\\Program Files\\SplunkUniversalForwarder\\bin\\splunk-powershell.exe",
            ),
            ("process_id", "0xf84"),
            ("original_file_name", "unknown"),
            (
                "parent_process",
                "C:\\Program Files\\SplunkUniversalForwarder\\bin\\splunkd.exe",
            ),
            ("parent_process_name", "splunkd.exe"),
            (
                "parent_process_path",
                "C:\\Program Files\\SplunkUniversalForwarder\\bin\\splunkd.exe",
            ),
            ("parent_process_id", "0xb2c"),
            ("action", "allowed"),
            ("vendor_product", "Microsoft Windows"),
        ],
    );
}

/// CIM-PROCESSES.md §3, the CrowdStrike column (with our stated deviation for `process`).
#[test]
fn crowdstrike_example_gives_every_cim_field_of_the_spec() {
    let got = cim_fields("cs.json", CS_JSON.as_bytes());
    expect(
        &got,
        &[
            ("dest", "unknown"),
            ("user", "S-1-5-21-586445407-708991241-1829972403-500"),
            ("user_id", "S-1-5-21-586445407-708991241-1829972403-500"),
            (
                "process",
                "\"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe\" ",
            ),
            ("process_name", "powershell.exe"),
            ("process_exec", "powershell.exe"),
            (
                "process_path",
                "\\Device\\HarddiskVolume1\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            ),
            ("process_id", "5642133882"),
            (
                "process_hash",
                "ba4038fd20e474c047be8aad5bfacdb1bfc1ddbe12f803f473b7918d8d819436",
            ),
            ("process_integrity_level", "high"),
            ("original_file_name", "unknown"),
            ("parent_process", "unknown"),
            ("parent_process_name", "explorer.exe"),
            ("parent_process_exec", "explorer.exe"),
            ("parent_process_id", "5459598860"),
            ("action", "allowed"),
            ("vendor_product", "CrowdStrike FDR"),
        ],
    );
}

#[test]
fn sysmon_remote_schtasks_is_the_flagship_row() {
    let xml = as_remote_schtasks(SYSMON_XML, "Image");
    let r = detect("sysmon.xml", xml.as_bytes());
    assert_reconciles(&r);
    assert_eq!(r.stats.process_creation.sysmon, 1);
    let m = only_event(&r);
    assert_eq!(m.event.field("process_name"), Some("schtasks.exe"));
    // UtcTime (…46.615), not TimeCreated (…46.617).
    assert_eq!(m.time, "2020-10-08T11:03:46.615Z");
    assert_eq!(m.location.record, Some(4522));
    assert_eq!(r.rows[0].text("firstTime"), "2020-10-08T11:03:46");
    assert_eq!(m.remote_target, "FS02");
}

#[test]
fn sysmon_example_unmodified_does_not_match() {
    let r = detect("sysmon.xml", SYSMON_XML.as_bytes());
    assert_eq!((r.stats.process_creation.sysmon, r.matches.len()), (1, 0));
}

#[test]
fn security_4688_remote_schtasks_with_the_user_and_process_rules() {
    let xml = as_remote_schtasks(SEC4688_XML, "NewProcessName");
    let r = detect("4688.xml", xml.as_bytes());
    let m = only_event(&r);
    let e = &m.event;
    // The first token has no '\': the Windows add-on puts NewProcessName in its place.
    assert_eq!(
        e.field("process"),
        Some("C:\\Windows\\System32\\schtasks.exe /create /s FS02 /tn t /tr c:\\x.exe /sc once")
    );
    assert_eq!(
        e.command_line,
        "schtasks /create /s FS02 /tn t /tr c:\\x.exe /sc once"
    );
    assert_eq!(m.time, "2024-04-23T08:48:30.449Z");
    // A TargetUserName other than "-" wins.
    let named = xml.replace(
        "<Data Name='TargetUserName'>-</Data>",
        "<Data Name='TargetUserName'>alice</Data>",
    );
    assert_eq!(
        only_event(&detect("4688.xml", named.as_bytes()))
            .event
            .field("user"),
        Some("alice")
    );
}

#[test]
fn security_4688_example_unmodified() {
    let r = detect("4688.xml", SEC4688_XML.as_bytes());
    assert_eq!(
        (r.stats.process_creation.security_4688, r.matches.len()),
        (1, 0)
    );
}

#[test]
fn crowdstrike_remote_schtasks() {
    // Make it schtasks without touching the other fields.
    let mut v: serde_json::Value = serde_json::from_str(CS_JSON).unwrap();
    v["CommandLine"] =
        "\"C:\\Windows\\System32\\schtasks.exe\" /create /s 10.0.0.5 /tn x /tr y".into();
    v["ImageFileName"] = "\\Device\\HarddiskVolume1\\Windows\\System32\\schtasks.exe".into();
    let r = detect("cs.json", v.to_string().as_bytes());
    let m = only_event(&r);
    assert_eq!(m.event.field("process_name"), Some("schtasks.exe"));
    assert_eq!(m.time, "2024-04-22T16:59:33.418Z");
    assert_eq!(m.remote_target, "10.0.0.5");
    let plain = detect("cs.json", CS_JSON.as_bytes());
    assert_eq!(
        (
            plain.stats.process_creation.crowdstrike,
            plain.matches.len()
        ),
        (1, 0)
    );
}

#[test]
fn crowdstrike_aid_is_named_by_a_later_record() {
    let r = detect("fdr.ndjson", CS_FIXTURE.as_bytes());
    assert_reconciles(&r);
    assert_eq!(r.stats.process_creation.crowdstrike, 2);
    assert_eq!(r.stats.other, 1);
    assert_eq!(
        r.rows.len(),
        2,
        "remote and local (/sc) rows in parity mode"
    );
    for row in &r.rows {
        assert_eq!(row.text("dest"), "WKS-ANALYST07");
    }
    let remote = r
        .rows
        .iter()
        .find(|x| x.text("remote_target") == "FS02")
        .unwrap();
    // CIM-PROCESSES.md §2: the Falcon add-on's user is the SID, never
    // UserName (`jdoe` here); this record has no UserSid.
    assert_eq!(remote.text("user"), "unknown");
    assert_eq!(remote.text("process_name"), "schtasks.exe");
    assert_eq!(r.risk_events[0].risk_object, "WKS-ANALYST07");
    assert_eq!(r.risk_events[0].normalized_risk_object, "wks-analyst07");
    let m = r
        .matches
        .iter()
        .find(|m| m.remote_target == "FS02")
        .unwrap();
    assert_eq!(m.event.field("dest"), Some("WKS-ANALYST07"));

    let precise = detect_bytes(
        "fdr.ndjson",
        CS_FIXTURE.as_bytes(),
        7,
        Options {
            mode: Mode::Precise,
            ..Options::default()
        },
    );
    assert_eq!(precise.rows.len(), 1);
    assert_eq!(precise.stats.comparison.parity_only.len(), 1);
}

/// The same 4688 event in every container of spec §3 gives the same row.
#[test]
fn every_container_shape_gives_the_same_row() {
    let xml = as_remote_schtasks(SEC4688_XML, "NewProcessName");
    let reference = detect("ref.xml", xml.as_bytes());
    let want = &reference.rows[0];

    let fields = [
        ("SubjectUserName", "AR-WIN-1$"),
        ("TargetUserName", "-"),
        ("NewProcessName", "C:\\Windows\\System32\\schtasks.exe"),
        (
            "ParentProcessName",
            "C:\\Program Files\\SplunkUniversalForwarder\\bin\\splunkd.exe",
        ),
        (
            "CommandLine",
            "schtasks /create /s FS02 /tn t /tr c:\\x.exe /sc once",
        ),
        ("NewProcessId", "0xf84"),
        ("ProcessId", "0xb2c"),
    ];
    let data: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).into()))
        .collect();
    let time = "2024-04-23T08:48:30.449376800Z";
    let mut flat = data.clone();
    flat.insert("EventID".into(), 4688.into());
    flat.insert("Channel".into(), "Security".into());
    flat.insert("Hostname".into(), "ar-win-1".into());
    flat.insert("TimeCreated".into(), time.into());
    let evtx_json = serde_json::json!({"Event": {"System": {"EventID": 4688, "Channel": "Security", "Computer": "ar-win-1",
        "TimeCreated": {"#attributes": {"SystemTime": time}}}, "EventData": data}});
    let winlog = serde_json::json!({"@timestamp": time, "winlog": {"event_id": "4688", "channel": "Security",
        "computer_name": "ar-win-1", "event_data": data}});
    let splunk = serde_json::json!({"preview": false, "result": {"_raw": xml, "host": "x"}});
    let viewer = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Events>\n{}\n</Events>\n",
        xml.replace("><", ">\n  <")
    );
    let mut csv = String::from("EventCode,ComputerName,_time,");
    csv.push_str(&fields.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(","));
    csv.push_str("\r\n4688,ar-win-1,2024-04-23 08:48:30,");
    csv.push_str(
        &fields
            .iter()
            .map(|(_, v)| format!("\"{v}\""))
            .collect::<Vec<_>>()
            .join(","),
    );
    csv.push_str("\r\n");
    let raw_csv = format!(
        "_time,host,_raw\n2024-04-23,ar-win-1,\"{}\"\n",
        xml.replace('"', "\"\"")
    );
    let pretty = format!(
        "{}\n{}\n",
        serde_json::to_string_pretty(&flat).unwrap(),
        serde_json::to_string_pretty(&flat).unwrap()
    );
    let array = format!("[{}]", serde_json::to_string(&flat).unwrap());
    let mut utf16 = vec![0xfe, 0xff];
    utf16.extend(xml.encode_utf16().flat_map(|u| u.to_be_bytes()));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(serde_json::to_string(&evtx_json).unwrap().as_bytes())
        .unwrap();
    let gz = gz.finish().unwrap();

    let cases: Vec<(&str, Vec<u8>, usize)> = vec![
        ("flat json", serde_json::to_vec(&flat).unwrap(), 1),
        (
            "Event.System json",
            serde_json::to_vec(&evtx_json).unwrap(),
            1,
        ),
        ("winlogbeat", serde_json::to_vec(&winlog).unwrap(), 1),
        ("splunk _raw", serde_json::to_vec(&splunk).unwrap(), 1),
        ("event viewer export", viewer.into_bytes(), 1),
        ("csv columns", csv.into_bytes(), 1),
        ("csv raw xml", raw_csv.into_bytes(), 1),
        ("pretty json", pretty.into_bytes(), 2),
        ("json array", array.into_bytes(), 1),
        ("utf-16be xml", utf16, 1),
        ("gzip json", gz, 1),
    ];
    for (what, bytes, count) in cases {
        for piece in [3, 4096] {
            let r = detect_bytes(what, &bytes, piece, Options::default());
            assert_reconciles(&r);
            assert_eq!(r.stats.errors, 0, "{what}: {:?}", r.stats.files[0].errors);
            assert_eq!(r.rows.len(), 1, "{what}");
            let row = &r.rows[0];
            for col in [
                "process_name",
                "process",
                "parent_process_name",
                "dest",
                "user",
                "remote_target",
            ] {
                assert_eq!(row.text(col), want.text(col), "{what}: {col}");
            }
            assert_eq!(row.text("count"), count.to_string(), "{what}");
            assert_eq!(row.text("firstTime"), "2024-04-23T08:48:30", "{what}");
        }
    }
}
