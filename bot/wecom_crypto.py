"""WeCom callback crypto and safe XML parsing.

Written on `cryptography` instead of using wechatpy's WeChatCrypto: wechatpy (1.8.18) strips as many
bytes as the last byte says without checking them (a padding byte of 0 ends in a struct.error, 40 in a
"wrong CorpID"), compares signatures with `!=`, and reports a malformed envelope as TypeError/KeyError/
ExpatError. Here every failure is one of three exceptions the view maps to 403 or 400.

Scheme (PROTOCOLS.md): msg_signature = sha1 of the sorted [token, timestamp, nonce, encrypt];
AES-256-CBC with key = base64(EncodingAESKey + "="), IV = key[:16], PKCS#7 padding to 32-byte blocks;
plaintext = 16 random bytes | 4-byte big-endian length | message | receiveid (the CorpID).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
from typing import Any
from xml.parsers import expat

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeCom pads to 32 bytes, not AES's 16: a 16-byte unpadder rejects valid messages


class CallbackError(Exception):
    """A callback request that cannot be accepted."""


class SignatureError(CallbackError):
    """Missing or wrong signature, a stale timestamp, or a message for another CorpID (403)."""


class MalformedError(CallbackError):
    """The envelope or the encrypted payload is not what WeCom sends (400)."""


class UnsafeXmlError(MalformedError):
    """XML with a DOCTYPE or entity declarations (400)."""


class WeComCrypto:
    """Signs, verifies, encrypts and decrypts WeCom callback payloads for one receiver (CorpID)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            key = b""
        if len(key) != 32:
            raise ValueError("EncodingAESKey must be 43 base64 characters (32 bytes)")
        self.token = token
        self.receive_id = receive_id
        self._key = key
        self._cipher = Cipher(algorithms.AES(key), modes.CBC(key[:16]))

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        parts = sorted([self.token, timestamp, nonce, encrypt])
        return hashlib.sha1("".join(parts).encode()).hexdigest()

    def verify(self, signature: str | None, timestamp: str, nonce: str, encrypt: str) -> None:
        if not signature:
            raise SignatureError("missing msg_signature")
        expected = self.signature(timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected, signature.lower()):
            raise SignatureError("signature mismatch")

    def decrypt(self, encrypt: str) -> bytes:
        """The message inside `encrypt`; checks padding, length and the receiveid."""
        try:
            data = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedError("Encrypt is not base64") from None
        if not data or len(data) % 16:
            raise MalformedError("Encrypt is not a whole number of AES blocks")
        decryptor = self._cipher.decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        plain = _unpad(plain)
        if len(plain) < 20:
            raise MalformedError("decrypted payload too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise MalformedError("decrypted length field past the end")
        message, receive_id = plain[20:20 + length], plain[20 + length:]
        if not hmac.compare_digest(receive_id, self.receive_id.encode()):
            raise SignatureError("message is for another receiver (CorpID)")
        return message

    def encrypt(self, message: bytes, random16: bytes | None = None) -> str:
        """Encrypt as WeCom does (tests, the benchmark, and encrypted replies)."""
        rand = random16 if random16 is not None else os.urandom(16)
        plain = rand + struct.pack(">I", len(message)) + message + self.receive_id.encode()
        pad = BLOCK - len(plain) % BLOCK
        encryptor = self._cipher.encryptor()
        return base64.b64encode(encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()).decode()

    def check_url(self, signature: str | None, timestamp: str, nonce: str, echostr: str) -> str:
        """URL verification: verify and return the decrypted echostr."""
        self.verify(signature, timestamp, nonce, echostr)
        try:
            return self.decrypt(echostr).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("echostr is not UTF-8") from None

    def open_envelope(self, body: bytes, signature: str | None, timestamp: str, nonce: str) -> dict[str, Any]:
        """Verify and decrypt a POSTed `<xml><Encrypt>…</Encrypt></xml>`; returns the inner XML's fields.

        The envelope is read before its signature can be checked (the signature covers Encrypt), so
        that read refuses anything but the three tags WeCom sends, at the first other tag: no
        unauthenticated work grows with the body beyond one linear scan.
        """
        envelope = parse_xml(body, ENVELOPE_TAGS)
        encrypt = envelope.get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise MalformedError("envelope has no Encrypt element")
        self.verify(signature, timestamp, nonce, encrypt)
        return parse_xml(self.decrypt(encrypt))

    def seal(self, xml: str, timestamp: str, nonce: str, agent_id: int | str = "") -> bytes:
        """The POST body WeCom would send for `xml` (tests and the benchmark): envelope + signature."""
        encrypt = self.encrypt(xml.encode("utf-8"))
        body = (f"<xml><ToUserName><![CDATA[{self.receive_id}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[{agent_id}]]></AgentID></xml>")
        return body.encode("utf-8")

    def sign_body(self, body: bytes, timestamp: str, nonce: str) -> str:
        return self.signature(timestamp, nonce, parse_xml(body)["Encrypt"])


def _unpad(plain: bytes) -> bytes:
    pad = plain[-1]
    if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise MalformedError("bad PKCS#7 padding")
    return plain[:-pad]


# ------------------------------------------------------------------------------------------------ XML

# The only thing allowed before the root element: an XML declaration and whitespace. A DOCTYPE (and
# so any entity declaration) can only appear there, so this refuses them before the parser runs.
_PROLOG = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]{0,200}\?>\s*)?<[A-Za-z_]")
MAX_DEPTH = 8
# The callback envelope: `<xml>` holding exactly these, each at most once.
ENVELOPE_TAGS = frozenset({"ToUserName", "Encrypt", "AgentID"})


def parse_xml(data: bytes, only: frozenset[str] | None = None) -> dict[str, Any]:
    """Parse WeCom's flat XML into {tag: text | nested dict}; refuses DOCTYPE/ENTITY and oddities.
    With `only`, the root's children must be among those tags, each once (the envelope)."""
    if not _PROLOG.match(data):
        if re.search(rb"<!(?:DOCTYPE|ENTITY)", data, re.IGNORECASE):
            raise UnsafeXmlError("XML with a DOCTYPE or entity declaration")
        raise MalformedError("not a WeCom XML document")
    return _XmlReader(only).parse(data)


class _XmlReader:
    """A small expat reader: elements become dict keys; repeated tags become lists.

    Belt and braces: even past the prolog check, any DOCTYPE, entity declaration or external entity
    reference stops the parse (as defusedxml does) — no entity is ever expanded.
    """

    def __init__(self, only: frozenset[str] | None = None) -> None:
        self.stack: list[tuple[str, dict[str, Any], list[str]]] = []
        self.root: dict[str, Any] | None = None
        self.only = only

    def parse(self, data: bytes) -> dict[str, Any]:
        parser = expat.ParserCreate()
        parser.StartDoctypeDeclHandler = self._refuse
        parser.EntityDeclHandler = self._refuse
        parser.UnparsedEntityDeclHandler = self._refuse
        parser.ExternalEntityRefHandler = self._refuse_external
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        try:
            parser.Parse(data, True)
        except expat.ExpatError as exc:
            raise MalformedError(f"XML: {exc}") from None
        except (ValueError, LookupError) as exc:  # pyexpat: multi-byte encodings (GBK, Shift_JIS)
            raise MalformedError(f"XML: {exc}") from None
        if self.root is None:
            raise MalformedError("empty XML document")
        return self.root

    def _refuse(self, *_args: object) -> None:
        raise UnsafeXmlError("XML with a DOCTYPE or entity declaration")

    def _refuse_external(self, *_args: object) -> int:
        raise UnsafeXmlError("XML with an external entity reference")

    def _start(self, name: str, _attrs: dict[str, str]) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise MalformedError("XML nested too deeply")
        if self.only is not None and len(self.stack) == 1:
            if name not in self.only:
                raise MalformedError(f"unexpected element {name[:40]!r} in the envelope")
            if name in self.stack[0][1]:
                raise MalformedError(f"element {name!r} repeated in the envelope")
        if self.only is not None and len(self.stack) > 1:
            raise MalformedError("nested element in the envelope")
        self.stack.append((name, {}, []))

    def _text(self, text: str) -> None:
        if self.stack:
            self.stack[-1][2].append(text)

    def _end(self, name: str) -> None:
        _name, children, texts = self.stack.pop()
        value: Any = children if children else "".join(texts)
        if not self.stack:
            self.root = children
            return
        parent = self.stack[-1][1]
        if name not in parent:
            parent[name] = value
        elif isinstance(parent[name], list):
            parent[name].append(value)  # in place: rebuilding the list made repeated tags quadratic
        else:
            parent[name] = [parent[name], value]
