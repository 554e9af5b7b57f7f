"""The command line for API keys, against the configured database.

`python -m core.apikeys create NAME [--role viewer|editor|admin]` prints a new key's id and
secret (once); `python -m core.apikeys revoke KEY_ID`; `python -m core.apikeys list`.
Whoever runs these holds the database itself, so the keys they make have no owner and may be
admin keys (the default).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from core import errors, service
from core.config import get_settings
from core.db import open_database
from core.vocabulary import Role


def main(argv: list[str] | None = None) -> int:
    """`create NAME`, `revoke KEY_ID` or `list`, against the configured database."""
    parser = argparse.ArgumentParser(prog="python -m core.apikeys",
                                     description="Manage the REST API's keys.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print its id and secret once")
    create.add_argument("name", help="who or what uses the key")
    create.add_argument("--role", choices=[r.value for r in Role], default=Role.ADMIN.value,
                        help="what the key may do (default: admin)")
    create.add_argument("--shell", action="store_true",
                        help="print KEY_ID=... and SECRET=... lines for `eval`")
    commands.add_parser("list", help="list keys with their last use")
    revoke = commands.add_parser("revoke", help="revoke a key and its tokens")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)

    db = open_database(get_settings(), seed=False)
    try:
        with db.session() as session:
            if args.command == "create":
                key = service.create_api_key(session=session, name=args.name, role=args.role)
                if args.shell:
                    print(f"KEY_ID={shlex.quote(key.key_id)}\nSECRET={shlex.quote(key.secret)}")
                else:
                    print(f"key id: {key.key_id}\nrole: {key.role}\nsecret: {key.secret}\n"
                          "The secret is shown only now; store it somewhere safe.")
            elif args.command == "revoke":
                revoked = service.revoke_api_key(session=session, key_id=args.key_id)
                print(f"revoked {revoked.key_id} ({revoked.name})")
            else:
                for k in service.list_api_keys(session=session):
                    state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
                    used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never"
                    owner = k.owner or "no owner"
                    print(f"{k.key_id}  {k.name!r}  {k.role}  {owner}  {state}  "
                          f"last used {used}")
    except errors.ExtractsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
