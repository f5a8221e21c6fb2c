#!/usr/bin/env python3
"""Scores Parley's PII detector against a labelled corpus.

Runs `PARLEY pii detect` (or any command given with --command), writes every corpus line as
`{"text": ...}` JSONL to its stdin and reads one JSON line per input from its stdout:
`{"entities": [{"type": ..., "value": ...}], "pseudonymized": "..."}`.

Entities are matched per line as a multiset of (type, value); values are compared with runs of
whitespace collapsed, and person names without a leading honorific or a trailing possessive
("Dr. Patel" = "Patel", "Anna's" = "Anna"), since labellers differ on those. Prints a per-type
table of TP/FP/FN, recall and precision, then the first misses and false positives, then the
leaks: labelled values still present in `pseudonymized`. Exits 1 if overall recall or precision is below the thresholds,
if any leak was found, or if the detector misbehaved (crashed, wrong number of lines).

    python3 eval/pii_eval.py --parley .build/release/parley
    python3 eval/pii_eval.py --command "/tmp/piimain/pii pii detect" --per-type
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from collections import Counter

KINDS = ["email", "phone", "card", "iban", "ip", "person"]
HONORIFIC = re.compile(r"^(?:mr|mrs|ms|miss|mx|dr|prof)\.?\s+", re.IGNORECASE)


def normalize(kind, value):
    if not isinstance(value, str):
        return value
    value = " ".join(value.split())
    if kind == "person":
        value = HONORIFIC.sub("", value)
        value = re.sub(r"['’]s$", "", value)
    return value


def load_corpus(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                sys.exit(f"{path}:{number}: not JSON: {error}")
            if not isinstance(row.get("text"), str) or not isinstance(row.get("entities", []), list):
                sys.exit(f"{path}:{number}: needs a string `text` and a list `entities`")
            for entity in row.get("entities", []):
                if entity.get("type") not in KINDS or not isinstance(entity.get("value"), str):
                    sys.exit(f"{path}:{number}: bad entity {entity!r}")
            rows.append(row)
    return rows


def run_detector(command, rows, timeout):
    payload = "".join(json.dumps({"text": row["text"]}, ensure_ascii=False) + "\n" for row in rows)
    try:
        completed = subprocess.run(command, input=payload, capture_output=True, text=True, encoding="utf-8", timeout=timeout)
    except FileNotFoundError:
        sys.exit(f"cannot run {shlex.join(command)}: not found")
    except subprocess.TimeoutExpired:
        sys.exit(f"{shlex.join(command)} did not finish within {timeout}s")
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        sys.exit(f"{shlex.join(command)} exited with {completed.returncode}")
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if len(lines) != len(rows):
        sys.stderr.write(completed.stderr)
        sys.exit(f"expected {len(rows)} output lines, got {len(lines)}")
    outputs = []
    for number, line in enumerate(lines, 1):
        try:
            output = json.loads(line)
        except json.JSONDecodeError as error:
            sys.exit(f"output line {number} is not JSON: {error}: {line[:200]}")
        if not isinstance(output.get("entities"), list) or not isinstance(output.get("pseudonymized"), str):
            sys.exit(f"output line {number} needs `entities` (list) and `pseudonymized` (string): {line[:200]}")
        outputs.append(output)
    return outputs


def ratio(numerator, denominator):
    return numerator / denominator if denominator else 1.0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--parley", help="the parley binary; runs `PARLEY pii detect`")
    target.add_argument("--command", help="a full command line that speaks the same protocol")
    parser.add_argument("--corpus", default=os.path.join(here, "pii", "corpus.jsonl"))
    parser.add_argument("--min-recall", type=float, default=0.9)
    parser.add_argument("--min-precision", type=float, default=0.9)
    parser.add_argument("--per-type", action="store_true", help="apply the thresholds to every type, not only overall")
    parser.add_argument("--show", type=int, default=20, help="how many misses and false positives to print")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()

    command = [args.parley, "pii", "detect"] if args.parley else shlex.split(args.command)
    rows = load_corpus(args.corpus)
    outputs = run_detector(command, rows, args.timeout)

    tp, fp, fn = Counter(), Counter(), Counter()
    misses, false_positives, leaks = [], [], []
    for number, (row, output) in enumerate(zip(rows, outputs), 1):
        expected = Counter((e["type"], normalize(e["type"], e["value"])) for e in row.get("entities", []))
        got = Counter((e.get("type"), normalize(e.get("type"), e.get("value"))) for e in output["entities"] if isinstance(e, dict))
        for key in expected | got:
            kind = key[0]
            hit = min(expected[key], got[key])
            tp[kind] += hit
            fn[kind] += expected[key] - hit
            fp[kind] += got[key] - hit
            if expected[key] > hit:
                misses.append((number, key, row["text"], output["entities"]))
            if got[key] > hit:
                false_positives.append((number, key, row["text"]))
        for kind, value in {(e["type"], e["value"]) for e in row.get("entities", [])}:
            if value and value in output["pseudonymized"]:
                leaks.append((number, kind, value, output["pseudonymized"]))

    kinds = KINDS + sorted(k for k in set(tp) | set(fp) | set(fn) if k not in KINDS)
    print(f"{len(rows)} lines, {sum(1 for r in rows if not r.get('entities'))} without PII\n")
    print(f"{'type':<8} {'TP':>5} {'FP':>5} {'FN':>5} {'recall':>8} {'precision':>10}")
    failing = []
    for kind in kinds:
        recall, precision = ratio(tp[kind], tp[kind] + fn[kind]), ratio(tp[kind], tp[kind] + fp[kind])
        print(f"{kind:<8} {tp[kind]:>5} {fp[kind]:>5} {fn[kind]:>5} {recall:>8.3f} {precision:>10.3f}")
        if args.per_type and (recall < args.min_recall or precision < args.min_precision):
            failing.append(kind)
    total_tp, total_fp, total_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    recall, precision = ratio(total_tp, total_tp + total_fn), ratio(total_tp, total_tp + total_fp)
    print(f"{'overall':<8} {total_tp:>5} {total_fp:>5} {total_fn:>5} {recall:>8.3f} {precision:>10.3f}")

    if misses:
        print(f"\nmisses ({len(misses)}, first {min(len(misses), args.show)}):")
        for number, (kind, value), text, got in misses[: args.show]:
            found = ", ".join(f"{e.get('type')}:{e.get('value')!r}" for e in got if isinstance(e, dict)) or "nothing"
            print(f"  line {number}: {kind} {value!r} in {text!r} (found {found})")
    if false_positives:
        print(f"\nfalse positives ({len(false_positives)}, first {min(len(false_positives), args.show)}):")
        for number, (kind, value), text in false_positives[: args.show]:
            print(f"  line {number}: {kind} {value!r} in {text!r}")
    if leaks:
        print(f"\nleaks ({len(leaks)}, first {min(len(leaks), args.show)}):")
        for number, kind, value, text in leaks[: args.show]:
            print(f"  line {number}: {kind} {value!r} still in {text!r}")

    problems = []
    if recall < args.min_recall:
        problems.append(f"recall {recall:.3f} < {args.min_recall}")
    if precision < args.min_precision:
        problems.append(f"precision {precision:.3f} < {args.min_precision}")
    if failing:
        problems.append("below the thresholds: " + ", ".join(failing))
    if leaks:
        problems.append(f"{len(leaks)} leaked values")
    print()
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print(f"OK: recall {recall:.3f}, precision {precision:.3f}, no leaks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
