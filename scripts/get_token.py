"""Print an access token from the running system (`make run`), for curl and other REST clients.

    uv run --frozen python scripts/get_token.py 001090001234            # a demo citizen (personal id)
    uv run --frozen python scripts/get_token.py hoa.tiepnhan --officer  # a demo officer (username)
    uv run --frozen python scripts/get_token.py --client provincial-system --secret provincial-system-secret

People log in the way an app does (authorization code + PKCE through the login page); partners use client
credentials. Every demo account's password is ``demo1234``.
"""

import argparse
import asyncio
import sys

import httpx

from motcua_common.oidc_client import LoginError, client_credentials, login


async def main(args: argparse.Namespace) -> int:
    async with httpx.AsyncClient(base_url=args.gateway, timeout=15) as api:
        try:
            if args.client:
                tokens = await client_credentials(api, args.client, args.secret or f"{args.client}-secret", args.scope)
            else:
                account = "officer" if args.officer else "citizen"
                tokens = await login(api, args.username, args.password, account=account)
        except (LoginError, httpx.HTTPError) as exc:
            print(f"cannot get a token: {exc}", file=sys.stderr)
            return 1
    print(tokens.access_token)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("username", nargs="?", help="personal id (citizen) or username (officer)")
    parser.add_argument("--officer", action="store_true", help="log in as an officer")
    parser.add_argument("--password", default="demo1234")
    parser.add_argument("--client", help="a partner's client id (client credentials)")
    parser.add_argument("--secret", help="the partner's client secret (default <client>-secret)")
    parser.add_argument("--scope", default="")
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parsed = parser.parse_args()
    if not parsed.client and not parsed.username:
        parser.error("give a username (or --client)")
    sys.exit(asyncio.run(main(parsed)))
