"""Runs checkov on the transformed template and compares its findings with the baseline.

    checkov_baseline.py CHECKOV TRANSFORMED.json BASELINE.txt [--write]

CHECKOV is the checkov executable (./.venv-checkov/bin/checkov), TRANSFORMED.json the SAM
translator's output (bin/template.cfn.json, what CloudFormation deploys), BASELINE.txt the
committed list of findings that do not apply (infra/testenv/checkov-baseline.txt): one line per
finding, `CHECK_ID RESOURCE REASON`, where RESOURCE is checkov's `Type.LogicalId` and REASON says
why the check does not apply. Lines starting with # are comments.

Fails (exit 1) on a finding the baseline does not list (a new finding: fix it, or add a line
with its reason) and on a baseline line that no longer fires (remove it: the baseline lists
only what fires), and on a baseline line without a reason. Prints checkov's counts (passed,
failed, resources) either way. --write prints the findings as baseline lines (reasons to fill
in) instead of comparing.
"""

import json
import subprocess
import sys


def run_checkov(checkov, template):
    out = subprocess.run(
        [checkov, "--file", template, "--framework", "cloudformation", "--output", "json",
         "--compact", "--quiet", "--skip-download"],
        capture_output=True, text=True, check=False)
    try:
        report = json.loads(out.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"checkov gave no JSON report (exit {out.returncode})")
    if isinstance(report, list):  # one report per framework
        report = report[0]
    summary = report["summary"]
    if summary.get("parsing_errors"):
        raise SystemExit(f"checkov could not parse {template}: {summary['parsing_errors']} parsing errors")
    failed = {(c["check_id"], c["resource"]): c["check_name"] for c in report["results"]["failed_checks"]}
    return summary, failed


def read_baseline(path):
    entries, bad = {}, []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3 or not parts[2].strip():
                bad.append(f"{path}:{n}: want `CHECK_ID RESOURCE REASON`, got: {line}")
                continue
            key = (parts[0], parts[1])
            if key in entries:
                bad.append(f"{path}:{n}: {parts[0]} {parts[1]} is listed twice")
            entries[key] = parts[2]
    return entries, bad


def main(argv):
    if len(argv) not in (4, 5) or (len(argv) == 5 and argv[4] != "--write"):
        raise SystemExit(__doc__)
    checkov, template, baseline = argv[1:4]
    summary, failed = run_checkov(checkov, template)
    print(f"checkov {summary.get('checkov_version', '?')} on {template}: {summary['passed']} passed, "
          f"{summary['failed']} failed, {summary['resource_count']} resources")
    if len(argv) == 5:
        for (cid, res), name in sorted(failed.items()):
            print(f"{cid} {res} TODO why it does not apply ({name})")
        return 0
    entries, problems = read_baseline(baseline)
    new = sorted(set(failed) - set(entries))
    gone = sorted(set(entries) - set(failed))
    for cid, res in new:
        problems.append(f"new finding {cid} on {res}: {failed[(cid, res)]}; fix the template, or add "
                        f"`{cid} {res} <why it does not apply>` to {baseline}")
    for cid, res in gone:
        problems.append(f"baseline entry {cid} {res} no longer fires; remove it from {baseline}")
    if problems:
        print("\n".join(problems))
        print(f"checkov baseline: {len(new)} new, {len(gone)} stale, {len(failed) - len(new)} baselined: FAIL")
        return 1
    print(f"checkov baseline: every one of the {len(failed)} findings is in {baseline} with its reason")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
