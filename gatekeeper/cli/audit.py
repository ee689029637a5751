"""``audit``: the tamper-evident log's ``verify``, ``accept-state`` and ``head``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from gatekeeper.cli.args import Commands, add_json, command, command_group
from gatekeeper.cli.opening import open_site
from gatekeeper.cli.output import PROG, confirm, note
from gatekeeper.cli.render import local_time, print_json
from gatekeeper.config import Settings
from gatekeeper.errors import GatekeeperError, UsageError

#: ``audit verify``'s exit status for each outcome besides 0 (verified) and 2 (usage): see
#: :func:`cmd_audit_verify`.
AUDIT_EXIT = {"broken": 1, "corrupt": 1, "unchecked": 3, "rolled_back": 4, "diverged": 5}


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Check the database file (SQLite's integrity check), then walk the audit hash chain,
    compare it with the heads kept in each ``--anchor`` file and the live state with it. Read-
    only throughout. Exit status (:data:`AUDIT_EXIT`): 0 verified (a signed head with the key,
    or an unsigned chain), 1 broken or corrupt, 3 a signed head verified without the key (its
    signature not checked), 4 rolled back (the chain ends before a kept head), 5 diverged (a
    kept head's row hashes otherwise), 2 usage errors (an unreadable anchor file among them).

    A corrupt file is reported without walking the chain: what it says means nothing until the
    file is restored from a backup."""
    from gatekeeper.anchor import read_kept_heads
    from gatekeeper.site import DIVERGED, ROLLED_BACK

    kept = [head for path in args.anchor or () for head in read_kept_heads(path)]
    with open_site(settings, args, read_only=True) as site:
        problems = site.audit.integrity_problems()
        report = None if problems else site.audit.verify(anchor=kept)
    if report is None:
        status = "corrupt"
    elif report.unchecked:
        status = "unchecked"
    elif report.ok:
        status = "ok"
    else:
        reasons = {ROLLED_BACK: "rolled_back", DIVERGED: "diverged"}
        status = reasons.get(report.first_break.reason, "broken")
    if args.json:
        print_json(
            {
                "ok": status == "ok",
                "status": status,
                "integrity": problems or "ok",
                "rows_checked": report and report.rows_checked,
                "head_seq": report and report.head_seq,
                "signed": report and report.signed,
                "signature_checked": report and report.signature_checked,
                "kept_heads": len(kept),
                "first_break": None if report is None or report.ok else str(report.first_break),
            }
        )
        return AUDIT_EXIT.get(status, 0)
    if report is None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise GatekeeperError(
            f"database file is corrupt (SQLite integrity check): {problems[0]}{more}; "
            "restore it from a backup"
        )
    if status != "ok":
        note(f"{PROG}: {report.summary()}")
        return AUDIT_EXIT[status]
    print(report.summary())
    return 0


def cmd_audit_accept_state(args: argparse.Namespace, settings: Settings) -> int:
    """Re-sign a live state changed outside Gatekeeper, after saying what differs."""
    with open_site(settings, args) as site:
        problem = site.audit.state_problem()
        if problem is None:
            print("the live state is the one the audit log records: nothing to accept")
            return 0
        if not args.yes and not sys.stdin.isatty():
            raise UsageError("not accepting the state without confirmation: use --yes")
        if not args.yes and not confirm(f"{problem}. Accept the state as it is now?"):
            print("nothing accepted")
            return 1
        changed = site.audit.accept_state()
    print(f"accepted the changed {', '.join(changed)}: recorded in the audit log")
    return 0


def cmd_audit_head(args: argparse.Namespace, settings: Settings) -> int:
    """Print the chain head (seq, hash, the newest row's time, signature) to keep elsewhere;
    ``--json`` prints it as one line of an anchor file. With the key, a head whose signature
    does not match is refused (exit 1): it is not worth keeping."""
    with open_site(settings, args, read_only=True) as site:
        head = site.audit.head()
        problem = site.audit.head_problem(head)
    if problem is not None:
        raise GatekeeperError(f"{problem}; run 'gatekeeper audit verify'")
    if args.json:
        print(json.dumps(head.record(), separators=(",", ":")))
        return 0
    when = "-" if head.time is None else local_time(datetime.fromisoformat(head.time))
    print(f"seq        {head.seq}")
    print(f"hash       {head.hash}")
    print(f"time       {when}")
    print(f"signature  {head.signature or '- (not signed: the site has no audit key)'}")
    return 0


def register(commands: Commands) -> None:
    """Add ``audit`` and its commands."""
    audit_commands = command_group(
        commands, "audit", "the tamper-evident audit log", needs="verify, head or accept-state"
    )
    audit_verify = command(
        audit_commands,
        "verify",
        cmd_audit_verify,
        "walk the audit hash chain",
        "Walk the audit hash chain, check the head signature (with the audit key) "
        "and the live state, and compare the chain with the heads kept in each --anchor file.",
        epilog="exit status: 0 verified; 1 broken (or a corrupt file); 2 usage error; 3 the "
        "head is signed but no audit key was given, so the signature was not checked; 4 rolled "
        "back: the chain ends before a kept head; 5 diverged: a kept head's row hashes "
        "otherwise",
    )
    audit_verify.add_argument(
        "--anchor",
        metavar="FILE",
        type=Path,
        action="append",
        help="heads kept outside the database ([audit_anchor] file, or 'audit head --json' "
        "lines); repeat for several",
    )
    add_json(audit_verify)
    accept = command(
        audit_commands,
        "accept-state",
        cmd_audit_accept_state,
        "re-sign a live state changed outside Gatekeeper",
        "Record the live state (threshold, people, active flags, gallery, "
        "schedules, access) as it is now, after it was changed outside Gatekeeper: until then "
        "nobody is granted. Chained as a 'state_accept' admin event; on a keyed site it needs "
        "the audit key. Restore the database from a backup instead when the change was not "
        "yours.",
    )
    accept.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    audit_head = command(
        audit_commands,
        "head",
        cmd_audit_head,
        "print the signed chain head, to keep elsewhere",
        "Print the audit chain head (seq, hash, the newest row's time, signature) "
        "for keeping outside the database; --json prints one line of an anchor file "
        "('gatekeeper audit head --json >> /mnt/elsewhere/heads.jsonl').",
    )
    add_json(audit_head)
