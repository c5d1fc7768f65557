"""Which peer a run's requests go to behind the proxy: its key says, by its first character.

Peers behind nginx each get a slot `i/n` (BACKPROP_ROUTE, the order of deploy/nginx-peers.conf).
The first character of a session id or room code picks the slot: its place in the key's
alphabet, modulo n. A peer making a run draws that character from its own slot's characters, so
the proxy sends every later request and socket of the run straight to the peer that trains it:
no Redis round trip for a command. The proxy's map (`nginx_map`) is generated from the same
alphabets, so the two never disagree. A peer that is down: the proxy tries the next one (a
`backup`), which takes the run over and serves it; requests keep landing on it or are forwarded
once (app/live/cluster.py) until the run's own peer is back and takes it again.
"""

from __future__ import annotations

import re
import secrets
import string

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # room codes: no 0/O, 1/I/L to confuse
CODE_LENGTH = 6
SESSION_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
SESSION_ID_LENGTH = 22  # 128 random bits as URL-safe base64 (secrets.token_urlsafe(16))


def parse_slot(text: str | None) -> tuple[int, int] | None:
    """`"i/n"` as (i, n), 0 <= i < n; None when unset; ValueError when malformed."""
    if not text:
        return None
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if match is None:
        raise ValueError(f"route: {text!r}; expected i/n, e.g. 0/2")
    i, n = int(match[1]), int(match[2])
    if not 0 <= i < n:
        raise ValueError(f"route: {text!r}; i must be from 0 to n - 1")
    return i, n


def slot_of(key: str, alphabet: str, n: int) -> int:
    """The slot (0..n-1) a key routes to: its first character's place in `alphabet`, mod n."""
    return alphabet.index(key[0]) % n


def firsts(alphabet: str, slot: tuple[int, int]) -> str:
    """The first characters of keys that route to `slot`."""
    i, n = slot
    return alphabet[i::n]


def session_id(slot: tuple[int, int] | None) -> str:
    """A fresh session id (128 random bits, URL-safe); behind the proxy, one routed to `slot`.

    With n slots the first character carries log2(64 / n) random bits instead of 6: the id's
    other 21 characters carry 126.
    """
    token = secrets.token_urlsafe(16)
    if slot is None:
        return token
    return secrets.choice(firsts(SESSION_ALPHABET, slot)) + token[1:]


def room_code(slot: tuple[int, int] | None) -> str:
    """A fresh room code; behind the proxy, one routed to `slot` (its first letter)."""
    first = firsts(ALPHABET, slot) if slot is not None else ALPHABET
    rest = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH - 1))
    return secrets.choice(first) + rest


def _class(chars: str) -> str:
    """A regex character class of exactly `chars` (`-` last, so it is no range)."""
    plain = "".join(c for c in chars if c != "-")
    return "[" + re.sub(r"([\\\]^])", r"\\\1", plain) + ("-" if "-" in chars else "") + "]"


def nginx_map(n: int, upstream: str = "peer") -> str:
    """The nginx `map` from a request's URI to the upstream of its run's slot (`{upstream}{i}`);
    everything else (pages, creation, static files) to `studio`, any peer."""
    lines = ["map $uri $route_peer {", "    default studio;"]
    for i in range(n):
        rooms = _class(firsts(ALPHABET, (i, n)))
        sessions = _class(firsts(SESSION_ALPHABET, (i, n)))
        # Room codes as people type them: any case (normalised by the peer); a session id exact.
        lines.append(f'    "~*^/(?:api/rooms|ws/rooms|room|present)/{rooms}" {upstream}{i};')
        lines.append(f'    "~^/(?:api/sessions|ws/sessions)/{sessions}" {upstream}{i};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    """`python -m app.live.route N`: print the map for N peers (deploy/nginx-peers.conf)."""
    import sys

    print(nginx_map(int(sys.argv[1]) if len(sys.argv) > 1 else 2), end="")


if __name__ == "__main__":
    main()
