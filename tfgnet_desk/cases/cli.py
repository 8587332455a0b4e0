"""``tfgnet-desk case ...``: the case store from the command line.

Sub-commands: ``new``, ``list``, ``show``, ``rename``, ``close``, ``reopen``, ``import-evidence``, ``pick``,
``note``, ``verify``, ``export``, ``import``, ``report``, ``verify-run``. A case is named by its id, its
uid (or a prefix of 4+ characters) or its reference. Exit status: 0 done, 1 a verification failed,
2 an error (message on stderr). Heavy modules (Qt for reports, torch for verify-run) load only when used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "case",
        help="manage cases: evidence, runs, audit, bundles, reports",
        description="Manage cases: evidence, runs, picks, the audit log, bundles and PDF reports. "
        "A case is named by its id, uid prefix or reference.",
    )
    p.add_argument("--home", type=Path, default=None, help="data folder holding cases.db (default: settings)")
    p.add_argument("--models", type=Path, default=None, help="model folder root (default: settings)")
    p.add_argument("--actor", default=None, help="name recorded in the audit log (default: the OS user)")
    sub = p.add_subparsers(dest="case_command", metavar="ACTION", required=True)

    s = sub.add_parser("new", help="open a new case")
    s.add_argument("title")
    s.add_argument("--reference", default="", help="the case reference number")
    s.add_argument("--analyst", default="", help="the case's analyst (default: the name in the settings)")
    s.add_argument("--notes", default="")
    s.set_defaults(func=_new)

    s = sub.add_parser("list", help="list cases, newest first")
    s.add_argument("--status", choices=("open", "closed"))
    s.add_argument("--search", help="text to find in titles, references, notes, prompts, file names")
    s.set_defaults(func=_list)

    s = sub.add_parser("show", help="a case with its evidence, runs and candidates")
    s.add_argument("case")
    s.add_argument("--audit", action="store_true", help="also print the audit trail")
    s.set_defaults(func=_show)

    s = sub.add_parser("rename", help="change a case's title")
    s.add_argument("case")
    s.add_argument("title")
    s.set_defaults(func=lambda a: _update(a, title=a.title))
    for name, status in (("close", "closed"), ("reopen", "open")):
        s = sub.add_parser(name, help=f"mark a case {status}")
        s.add_argument("case")
        s.set_defaults(func=lambda a, st=status: _update(a, status=st))

    s = sub.add_parser("import-evidence", help="hash and copy image files into a case (read-only copies)")
    s.add_argument("case")
    s.add_argument("files", nargs="+", type=Path)
    s.add_argument("--box", help="face box x0,y0,x1,y1 (pixels), for a single file")
    s.add_argument("--note", default="")
    s.add_argument(
        "--kind",
        choices=("crop", "reference"),
        default="crop",
        help="'crop': an image to generate from (default; candidates are scored vs the evidence); "
        "'reference': a photo of a known person that candidates are also scored against",
    )
    s.set_defaults(func=_import_evidence)

    s = sub.add_parser("pick", help="mark a candidate (by id) as picked; --undo to unmark")
    s.add_argument("candidate", type=int)
    s.add_argument("--undo", action="store_true")
    s.set_defaults(func=_pick)

    s = sub.add_parser("note", help="set the note on a candidate (by id)")
    s.add_argument("candidate", type=int)
    s.add_argument("text")
    s.set_defaults(func=_note)

    s = sub.add_parser("verify", help="check the audit chain and every stored file against its hash")
    s.add_argument("case", nargs="?", help="one case (default: the whole store)")
    s.add_argument(
        "--head",
        metavar="SEQ:HASH",
        default=None,
        help="an audit head written down earlier (report footer, `case export`): fail unless the case's "
        "chain still holds that entry with that hash (detects a cut log; needs CASE)",
    )
    s.set_defaults(func=_verify)

    s = sub.add_parser("export", help="write a case bundle (zip with manifest and hashes)")
    s.add_argument("case")
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=_export)

    s = sub.add_parser("import", help="import a case bundle")
    s.add_argument("bundle", type=Path)
    s.set_defaults(func=_import)

    s = sub.add_parser("report", help="write the case report as PDF")
    s.add_argument("case")
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=_report)

    s = sub.add_parser(
        "verify-run",
        help="repeat a recorded run and compare its output hashes (identity scores are shown beside them)",
    )
    s.add_argument("run", help="run id or uid prefix")
    s.add_argument("--model", type=Path, default=None, help="model folder (default: the run's profile)")
    s.add_argument("--device", default=None, help="device to repeat on (default: the recorded one)")
    s.set_defaults(func=_verify_run)
    return p


# Helpers ------------------------------------------------------------------------------------------------
def _store(args: argparse.Namespace):
    from tfgnet_desk.cases.store import CaseStore
    from tfgnet_desk.settings import Settings

    settings = Settings.load(args.home) if args.home else Settings.load()
    if args.models:
        settings = settings.with_(models_dir=args.models)
    return CaseStore(settings, actor=args.actor)


def _run(args: argparse.Namespace, body) -> int:
    """Open the store, run ``body(store)``, turn known errors into a message and exit status 2."""
    from tfgnet_desk.cases.bundle import BundleError
    from tfgnet_desk.cases.evidence import EvidenceError
    from tfgnet_desk.cases.rows import NotFound
    from tfgnet_desk.cases.schema import SchemaError

    try:
        with _store(args) as store:
            return int(body(store) or 0)
    except (NotFound, EvidenceError, BundleError, SchemaError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _case_line(c: dict[str, Any]) -> str:
    ref = f" [{c['reference']}]" if c["reference"] else ""
    return f"{c['id']:>4}  {c['uid'][:8]}  {c['status']:<6}  {c['updated_at'][:19]}  {c['title']}{ref}"


def _scores(scores: dict[str, Any]) -> str:
    """``vs evidence 0.412 (dlib-resnet), vs reference photo ...``; old runs' 'restored' scores are
    labelled "vs restored face (old runs)"."""
    from tfgnet_desk.score_labels import ordered_scores, score_backend, score_label, score_value

    parts = []
    for name, s in ordered_scores(scores):
        value = score_value(s, "calibrated")
        value = score_value(s, "raw") if value is None else value
        if value is not None:
            parts.append(f"{score_label(name)} {value:.3f} ({score_backend(s) or '?'})")
    return ", ".join(parts) or "no scores"


def _restored_line(run: dict[str, Any]) -> str | None:
    """The run's restored face (model output) and its score vs evidence, from the provenance (new runs)."""
    from tfgnet_desk.score_labels import RESTORED_FACE

    recorded = (run.get("provenance") or {}).get("restored_scores")
    if not isinstance(recorded, list):
        return None
    faces = [_scores(s) if isinstance(s, dict) else "no scores" for s in recorded]
    if len(faces) > 1:  # one restored face per evidence image
        faces = [f"face {i}: {f}" for i, f in enumerate(faces)]
    return f"  {RESTORED_FACE}: " + "; ".join(faces)


# Commands -----------------------------------------------------------------------------------------------
def _new(args) -> int:
    def body(store) -> None:
        analyst = args.analyst or getattr(store.settings, "analyst", "")
        cid = store.create_case(args.title, reference=args.reference, analyst=analyst, notes=args.notes)
        print(_case_line(store.get_case(cid)))

    return _run(args, body)


def _list(args) -> int:
    def body(store) -> None:
        for c in store.list_cases(status=args.status, search=args.search):
            print(_case_line(c))

    return _run(args, body)


def _update(args, **fields) -> int:
    def body(store) -> None:
        print(_case_line(store.update_case(store.find_case(args.case), **fields)))

    return _run(args, body)


def _show(args) -> int:
    def body(store) -> None:
        from tfgnet_desk.cases.rows import run_status_text
        from tfgnet_desk.score_labels import candidate_label

        cid = store.find_case(args.case)
        c = store.get_case(cid)
        print(
            f"case {c['id']}  uid {c['uid']}  {c['status']}\n  title: {c['title']}\n"
            f"  reference: {c['reference']}\n  analyst: {c['analyst']}\n"
            f"  created {c['created_at']}  updated {c['updated_at']}"
        )
        if c["notes"]:
            print(f"  notes: {c['notes']}")
        evidence = store.evidence.of_case(cid)
        for e in evidence:
            box = e["face_box"] or "none"
            print(
                f"evidence {e['id']} ({e['kind']}): {e['original_name']}  {e['width']}x{e['height']}  "
                f"sha256 {e['sha256']}  face box {box}"
                + (
                    f"  REMOVED {e['excluded_at']} ({e.get('excluded_reason') or 'no reason'})"
                    if e.get("excluded_at")
                    else ""
                )
            )
        names = {e["id"]: e["original_name"] for e in evidence}
        for r in store.runs.of_case(cid):
            cands = store.candidates.of_run(r["id"])
            ref = (
                f"evidence {r['reference_id']} ({names.get(r['reference_id'], '?')})"
                if r["reference_id"] is not None
                else "none"
            )
            print(
                f"run {r['id']} ({r['uid'][:8]}) {run_status_text(r, len(cands))} {r['started_at'][:19]}"
                f"  prompt: {r['prompt']!r}\n"
                f"  reference photo {ref}  evidence {r['evidence_ids']}\n"
                f"  parameters {r['parameters']}  profile {r['profile']}  device {r['device']}  model "
                f"{r['model_hash'][:16]}"
            )
            if r["error"]:
                print(f"  error: {r['error']}")
            restored = _restored_line(r)
            if restored:
                print(restored)
            for k in cands:
                pick = "  PICKED" if k["picked"] else ""
                note = f"  note: {k['note']!r}" if k["note"] else ""
                label = candidate_label(k["idx"])
                print(
                    f"  candidate {k['id']} {label} seed {k['seed']}  {_scores(k['scores'])}  "
                    f"sha256 {k['sha256'][:16]}{pick}{note}"
                )
        if args.audit:
            for e in store.audit_trail(cid):
                print(f"audit {e.seq:>4} {e.at[:19]} {e.actor:<10} {e.action:<16} {e.object}  {e.hash[:16]}")
        seq, head = store.audit_head(cid)
        print(f"audit head: entry {seq}, hash {head}")

    return _run(args, body)


def _import_evidence(args) -> int:
    box = tuple(int(v) for v in args.box.split(",")) if args.box else None
    if box is not None and len(args.files) != 1:
        print("error: --box applies to a single file", file=sys.stderr)
        return 2

    from tfgnet_desk.cases.evidence import EvidenceError

    def body(store) -> int:
        cid = store.find_case(args.case)
        failed = 0
        for f in args.files:  # each file on its own: a bad one is reported, the rest still import
            try:
                eid = store.evidence.import_file(cid, f, face_box=box, note=args.note, kind=args.kind)
            except (EvidenceError, ValueError, OSError) as exc:
                failed += 1
                print(f"error: {f}: {exc}", file=sys.stderr)
                continue
            e = store.evidence.get(eid)
            print(
                f"evidence {e['id']} ({e['kind']}): {f.name}  sha256 {e['sha256']}  "
                f"{e['width']}x{e['height']}"
            )
        if failed:
            print(f"{failed} of {len(args.files)} files not imported", file=sys.stderr)
        return 2 if failed else 0

    return _run(args, body)


def _pick(args) -> int:
    def body(store) -> None:
        k = store.candidates.set_pick(args.candidate, not args.undo)
        print(f"candidate {k['id']} {'picked' if k['picked'] else 'not picked'}")

    return _run(args, body)


def _note(args) -> int:
    def body(store) -> None:
        k = store.candidates.annotate(args.candidate, args.text)
        print(f"candidate {k['id']} note: {k['note']!r}")

    return _run(args, body)


def _verify(args) -> int:
    def body(store) -> int:
        from tfgnet_desk.cases.verify import parse_anchor

        cid = store.find_case(args.case) if args.case else None
        anchor = parse_anchor(args.head) if args.head else None
        if anchor is not None and cid is None:
            raise ValueError("--head needs the case it anchors")
        rep = store.verify(cid, anchor)
        for p in rep.problems:
            print(f"PROBLEM: {p}")
        for n in rep.notes:
            print(f"note: {n}")
        print(rep.summary())
        if cid is not None:
            seq, head = store.audit_head(cid)
            print(f"audit head: entry {seq}, hash {head}")
        return 0 if rep.ok else 1

    return _run(args, body)


def _export(args) -> int:
    def body(store) -> None:
        cid = store.find_case(args.case)
        out = store.export_case(cid, args.out)
        seq, head = store.audit_head(cid)
        print(f"wrote {out}")
        print(f"audit head {seq}:{head} (write it down: `case verify CASE --head {seq}:{head[:16]}`)")

    return _run(args, body)


def _import(args) -> int:
    def body(store) -> None:
        cid = store.import_case(args.bundle)
        print(_case_line(store.get_case(cid)))

    return _run(args, body)


def _report(args) -> int:
    def body(store) -> None:
        from tfgnet_desk.report import write_case_report

        out = write_case_report(store, store.find_case(args.case), args.out)
        print(f"wrote {out}")

    return _run(args, body)


def _verify_run(args) -> int:
    def body(store) -> int:
        from tfgnet_desk.cases.reproduce import verify_run

        check = verify_run(store, store.runs.find(args.run), model_folder=args.model, device=args.device)
        print("\n".join(check.lines()))
        return 0 if check.ok else 1

    return _run(args, body)
